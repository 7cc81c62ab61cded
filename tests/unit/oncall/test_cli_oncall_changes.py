"""`sevflow oncall cover|swap|confirm|edit|remove|overrides|export` as a person runs them: a change
shows in `sevflow oncall` at once, and every mistake is one line on stderr, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from starter.cli import app
from tests.unit.oncall.runtime_fixtures import oncall_yaml_mid_shift

runner = CliRunner()


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sevflow.yaml"
    path.write_text(oncall_yaml_mid_shift())  # its two-hour covers stay in one shift at any hour
    monkeypatch.setenv("SEVFLOW_CONFIG", str(path))
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'sevflow.db'}")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["oncall", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def on_now() -> tuple[str, str]:
    code, out, _ = run("--json")
    assert code == 0, out
    data = json.loads(out)
    return data["rotations"][0]["person"], data["config_version"]


def test_a_cover_shows_at_once_and_removing_it_restores_the_schedule() -> None:
    scheduled, version = on_now()
    code, out, err = run("cover", "zed", "--for", "2h", "--by", scheduled, "--reason", "dentist")
    assert code == 0, err
    assert out.startswith("made: #1 zed covers ops-daily primary")
    assert on_now()[0] == "zed" and on_now()[1] != version
    code, out, _ = run("overrides")
    assert "#1 zed covers" in out and f"by {scheduled}: dentist" in out
    code, out, _ = run("export")
    exported = yaml.safe_load(out)["overrides"]
    assert [(e["rotation"], e["person"]) for e in exported] == [("ops-daily", "zed")]
    code, out, err = run("remove", "1", "--by", scheduled)
    assert code == 0, err
    assert on_now() == (scheduled, version)


def test_an_edit_of_an_old_version_is_refused_in_one_line() -> None:
    scheduled, _ = on_now()
    run("cover", "zed", "--for", "2h", "--by", "lena", "--reason", "x")
    later = "2099-01-01T00:00:00Z"
    code, _, err = run("edit", "1", "--to", "2030-01-01T00:00", "--version", "7", "--by", "lena")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "changed since you read it" in err
    assert scheduled  # the shift belonged to someone: lena, a lead, changed it
    code, _, err = run("edit", "1", "--to", later, "--by", "lena")
    assert code == 1 and "longer than a year" in err


@pytest.mark.parametrize(
    ("args", "words", "exit_code"),
    [
        (("cover", "ghost", "--for", "2h", "--by", "lena", "--reason", "x"), "unknown person 'ghost'", 1),
        (
            ("cover", "zed", "--for", "2h", "--by", "lena", "--reason", "x", "--rotation", "web"),
            "unknown rotation",
            1,
        ),
        (("cover", "zed", "--for", "soon", "--by", "lena", "--reason", "x"), "soon", 2),
        (("cover", "zed", "--to", "tomorrow", "--by", "lena", "--reason", "x"), "invalid --to 'tomorrow'", 2),
        (
            ("cover", "zed", "--for", "2h", "--by", "lena", "--reason", "x", "--layer", "middle"),
            "primary or backup",
            2,
        ),
        (("cover", "zed", "--for", "2h", "--by", "zed", "--reason", "x"), "only their own shifts", 1),
        (
            ("cover", "zed", "--from", "2020-01-01", "--to", "2020-01-02", "--by", "lena", "--reason", "x"),
            "wholly in the past",
            1,
        ),
        (
            (
                "swap",
                "zed",
                "--mine",
                "2030-01-01",
                "--theirs",
                "2030-01-02",
                "--by",
                "alice",
                "--reason",
                "x",
            ),
            "zed is not in the primary layer",
            1,
        ),
        (("confirm", "12", "--by", "bob"), "no on-call change #12", 1),
        (("remove", "x1", "--by", "bob"), "invalid id 'x1'", 2),
        (("cover", "zed", "--for", "2h", "--by", "", "--reason", "x"), "--by is empty", 2),
    ],
)
def test_mistakes_are_one_line(args: tuple[str, ...], words: str, exit_code: int) -> None:
    code, _, err = run(*args)
    assert code == exit_code, err
    assert words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_gap_check_names_a_runtime_change_by_its_id(env: Path) -> None:
    """A gap a runtime change leaves is `on-call change #N` (what `overrides` lists and `remove`
    takes); a gap of the file's own override keeps its place in sevflow.yaml, `overrides[0]`."""
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    env.write_text(
        oncall_yaml_mid_shift()
        + "overrides:\n"
        + f"  - {{rotation: ops-daily, person: null, from: {soon.isoformat()}, "
        + f"to: {(soon + timedelta(hours=1)).isoformat()}}}\n"
    )
    code, out, err = run("cover", "nobody", "--for", "2h", "--by", "lena", "--reason", "offsite")
    assert code == 0, err
    change_id = out.split()[1]
    assert change_id == "#1"
    code, out, _ = run("--check", "--json")
    assert code == 1
    gaps = json.loads(out)["coverage_gaps"]
    messages = sorted(g["message"] for g in gaps if g["path"] == "rotations.ops-daily")
    assert messages == [
        "on-call change #1 leaves nobody on the primary layer",
        "overrides[0] leaves nobody on the primary layer",
    ]
    code, out, _ = run("--check")
    assert "rotations.ops-daily: on-call change #1 leaves nobody on the primary layer, " in out
    assert "overrides[1]" not in out
