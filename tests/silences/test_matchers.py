"""Alertmanager's matcher syntax (sevflow/silences/matchers.py): a table of cases checked against the
real Alertmanager's parser and matcher (`amtool config routes test`, Debian's amtool 0.25), and
properties over generated matchers and labels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sevflow.silences.matchers import MatcherError, matches, matches_everything, parse_matchers, render

# (matchers, labels, matches?) as Alertmanager decides it.
TABLE: list[tuple[str, dict[str, str], bool]] = [
    ('alertname="HighLatency"', {"alertname": "HighLatency"}, True),
    ('alertname="HighLatency"', {"alertname": "HighLatency2"}, False),
    ('service=~"check.*"', {"service": "checkout"}, True),
    ('service=~"check"', {"service": "checkout"}, False),  # anchored at both ends
    ('service=~"out"', {"service": "checkout"}, False),
    ('service=~"check|pay"', {"service": "pay"}, True),
    ('env!="staging"', {"env": "prod"}, True),
    ('env!="staging"', {}, True),  # a missing label is ""
    ('env!="staging"', {"env": "staging"}, False),
    ('team=""', {}, True),
    ('team=""', {"team": "db"}, False),
    ('team!~"db|cache"', {"team": "cache"}, False),
    ('team!~"db|cache"', {"team": "dbx"}, True),
    ('{a="b",c!~"d"}', {"a": "b", "c": "e"}, True),
    ('{a="b",c!~"d"}', {"a": "b", "c": "d"}, False),
    ('{a="b", c!~"d"}', {"c": "e"}, False),
    ("a=b", {"a": "b"}, True),
    ('a="x\\"y"', {"a": 'x"y'}, True),
    ('a="new\\nline"', {"a": "new\nline"}, True),
    ('instance=~"10\\\\.0\\\\..*"', {"instance": "10.0.3.4:9100"}, True),
    ('instance=~"10\\\\.0\\\\..*"', {"instance": "10x0.3.4"}, False),
    ('job=~".*"', {}, True),
    ('job=~".+"', {}, False),
    ("le_:x=1", {"le_:x": "1"}, True),
]
# Refused by sevflow and by Alertmanager (`amtool check-config`).
INVALID = [
    'alertname="X',  # unclosed quote
    "9lives=1",  # a name starting with a digit
    'a-b="c"',  # '-' in a name
    'a=~"["',  # not a regex
    'a="b" c="d"',  # no comma
    'a=~"(?=x)"',  # a lookahead: Python has it, RE2 has not
    'a=~"(x)\\\\1"',  # a backreference
]
# Refused by sevflow, which is stricter here: Alertmanager 0.25's classic parser takes `a==b` as the
# value "=b", and forgives a trailing comma or an unclosed brace; a silence typed like that is a typo.
STRICTER = ["a==b", 'a="b",', '{a="b"']


@pytest.mark.parametrize(("text", "labels", "expected"), TABLE)
def test_the_table(text: str, labels: dict[str, str], expected: bool) -> None:
    assert matches(parse_matchers(text), labels) is expected


@pytest.mark.parametrize("text", INVALID + STRICTER)
def test_invalid_matchers_are_refused(text: str) -> None:
    with pytest.raises(MatcherError):
        parse_matchers(text)


def test_refusals_name_the_part_at_fault() -> None:
    with pytest.raises(MatcherError, match=r"after label 'a': expected one of =, !=, =~, !~"):
        parse_matchers("a<b")
    with pytest.raises(MatcherError, match=r"a=~\"\(\?=x\)\": '\(\?=' is not in Alertmanager's regex syntax"):
        parse_matchers('a=~"(?=x)"')
    with pytest.raises(MatcherError, match=r"after 'a=\"b\"': expected ','"):
        parse_matchers('a="b" c="d"')


def test_sets_that_match_every_alert() -> None:
    assert matches_everything(parse_matchers("{}"))
    assert matches_everything(parse_matchers('job=~".*", env!="x"'))
    assert not matches_everything(parse_matchers('job=~".+"'))
    assert not matches_everything(parse_matchers('alertname="X"'))


def _amtool() -> str:
    found = shutil.which("amtool")
    if found is None:
        pytest.fail(
            "amtool is not installed (apt-get install prometheus-alertmanager): the comparison needs it"
        )
    return found


def test_the_table_against_the_real_alertmanager(tmp_path: Path) -> None:
    """Each case as a route of an Alertmanager config: the real parser and matcher decide which
    receiver the labels reach; a case sevflow refuses, Alertmanager's `check-config` refuses too."""
    amtool = _amtool()
    for index, (text, labels, expected) in enumerate(TABLE):
        matchers = [text] if not text.startswith("{") else [part for part in _split(text)]
        config = {
            "route": {"receiver": "none", "routes": [{"receiver": "hit", "matchers": matchers}]},
            "receivers": [{"name": "none"}, {"name": "hit"}],
        }
        path = tmp_path / f"am{index}.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        # amtool reads the labels as matchers too: values quoted and escaped.
        args = [f"{k}={render_value(v)}" for k, v in labels.items()] or ['unrelated="1"']
        got = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert got.returncode == 0 or got.stdout.strip() in ("hit", "none"), got.stderr
        assert (got.stdout.strip() == "hit") is expected, (text, labels, got.stdout, got.stderr)
    for index, text in enumerate(INVALID):
        config = {
            "route": {"receiver": "none", "routes": [{"receiver": "hit", "matchers": [text]}]},
            "receivers": [{"name": "none"}, {"name": "hit"}],
        }
        path = tmp_path / f"bad{index}.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        got = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30)
        assert got.returncode != 0, (text, got.stdout)


def render_value(value: str) -> str:
    """`value` quoted as Alertmanager writes a matcher's value."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _split(text: str) -> list[str]:
    return [render([m])[1:-1] for m in parse_matchers(text)]


NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,8}", fullmatch=True)
VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
OPS = st.sampled_from(["=", "!=", "=~", "!~"])


@given(st.lists(st.tuples(NAMES, st.sampled_from(["=", "!="]), VALUES), max_size=5))
def test_render_parses_back_to_the_same(parts: list[tuple[str, str, str]]) -> None:
    text = (
        "{"
        + ", ".join(
            f'{n}{op}"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
            for n, op, v in parts
        )
        + "}"
    )
    parsed = parse_matchers(text)
    assert [(m.name, m.op, m.value) for m in parsed] == parts
    assert parse_matchers(render(parsed)) == parsed


@given(NAMES, VALUES, st.dictionaries(NAMES, VALUES, max_size=4))
def test_equality_and_its_negation_are_opposites(name: str, value: str, labels: dict[str, str]) -> None:
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    equal = matches(parse_matchers(f"{name}={quoted}"), labels)
    assert equal is (labels.get(name, "") == value)
    assert matches(parse_matchers(f"{name}!={quoted}"), labels) is not equal


@given(NAMES, st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.dictionaries(NAMES, VALUES, max_size=4))
def test_regexes_are_anchored(name: str, word: str, labels: dict[str, str]) -> None:
    got = matches(parse_matchers(f'{name}=~"{word}"'), labels)
    assert got is (labels.get(name, "") == word)
    assert matches(parse_matchers(f'{name}!~"{word}"'), labels) is not got


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_in_words(text: str) -> None:
    try:
        parse_matchers(text)
    except MatcherError as err:
        assert str(err)


@pytest.mark.parametrize("regex", ["(x+x+)+y", "(a|a)*b", "(x*)*y", "(.*a){12}"])
def test_a_silence_regex_matches_in_linear_time(regex: str) -> None:
    """A silence is made at runtime by anyone with the API token or Slack; its regex is matched against
    every alert's labels. Python's backtracking engine takes minutes on `(x+x+)+y` against forty x's,
    freezing alert intake; RE2, Alertmanager's engine, answers in linear time."""
    import time

    (matcher,) = parse_matchers(f'alertname=~"{regex}"')
    started = time.perf_counter()
    for n in (30, 40, 10_000):
        assert not matches([matcher], {"alertname": "x" * n + "!"})
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("regex", ["a{1001}", "x{2,5000}", "a{1000}{1000}"])
def test_what_re2_refuses_is_refused(regex: str) -> None:
    """Repetitions past RE2's bound of 1000 (what Alertmanager's Go regexp refuses too)."""
    with pytest.raises(MatcherError, match="invalid regex"):
        parse_matchers(f'alertname=~"{regex}"')
