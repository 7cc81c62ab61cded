"""`paging.throttle` in sevflow.yaml: how many pages a minute one person gets by each method, with
defaults that stand without the section and a sentence for a value that does not parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from sevflow.config import check_config_text, parse_config
from sevflow.config.schema import PagingThrottle


def test_without_the_section_the_defaults_hold() -> None:
    assert parse_config("").paging.throttle == PagingThrottle(sms=6, voice=3, email=20, push=30)


@pytest.mark.parametrize(("written", "per_minute"), [("2/m", 2), ("2/min", 2), ("2 / minute", 2), (2, 2)])
def test_a_limit_is_written_per_minute(written: object, per_minute: int) -> None:
    config = parse_config(f"paging:\n  throttle: {{sms: {written!s}, email: 40/m}}\n")
    assert (config.paging.throttle.sms, config.paging.throttle.email) == (per_minute, 40)
    assert (config.paging.throttle.voice, config.paging.throttle.push) == (3, 30)


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("6/h", "invalid throttle '6/h': write how many a minute, like 6/m"),
        ("lots", "invalid throttle 'lots': write how many a minute, like 6/m"),
        ("0/m", "must be at least 1, not '0/m'"),
    ],
)
def test_a_limit_that_does_not_parse_is_refused_in_words(written: str, said: str) -> None:
    [problem] = check_config_text(f"paging:\n  throttle:\n    voice: {written}\n")
    assert problem.path == "paging.throttle.voice" and problem.line == 3
    assert said in problem.message


def test_only_the_methods_that_reach_a_device_are_throttled() -> None:
    [problem] = check_config_text("paging:\n  throttle: {slack_dm: 5/m}\n")
    assert problem.path.startswith("paging.throttle")


def test_the_defaults_sevflow_yaml_documents_are_the_defaults() -> None:
    shipped = (Path(__file__).resolve().parents[3] / "sevflow.yaml").read_text()
    [line] = [line for line in shipped.splitlines() if line.startswith("#   throttle:")]
    documented = parse_config(f"paging:\n{line.lstrip('#')}\n").paging.throttle
    assert documented == PagingThrottle()
