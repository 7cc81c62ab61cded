"""What a paged person's text or keypress means (sevflow/paging/answers.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.paging.answers import Answer, read_keys, read_text, same_number


@pytest.mark.parametrize("body", ["1", "ack", "ACK", " Ack. ", "yes", "YES!", "1 ", "Acknowledge", "a c k"])
def test_the_ways_of_saying_acknowledge(body: str) -> None:
    assert read_text(body) == Answer("acknowledge")


@pytest.mark.parametrize("body", ["2", "esc", "ESC", " Esc!", "escalate", "2."])
def test_the_ways_of_saying_escalate(body: str) -> None:
    assert read_text(body) == Answer("escalate")


@pytest.mark.parametrize(
    ("body", "code"), [("123456", "123456"), ("123 456", "123456"), (" 012345.", "012345")]
)
def test_six_digits_are_a_contact_code(body: str, code: str) -> None:
    assert read_text(body) == Answer("code", code)


@pytest.mark.parametrize(
    "body", ["", "12", "3", "no", "ok thanks", "12345", "1234567", "ack" + " " * 40, "1 and 2"]
)
def test_anything_else_is_no_answer(body: str) -> None:
    assert read_text(body).kind == "other"


@given(st.text(max_size=60))
def test_any_text_is_read_without_failing_and_only_the_words_decide(body: str) -> None:
    answer = read_text(body)
    if answer.kind == "code":
        assert answer.code is not None and len(answer.code) == 6 and answer.code.isdigit()
    if answer.kind in ("acknowledge", "escalate"):
        assert len(body) <= 40


def test_keys() -> None:
    assert [read_keys(k) for k in ("1", "2", "3", "", "12", "*", " 1")] == [
        "acknowledge",
        "escalate",
        "other",
        "other",
        "other",
        "other",
        "acknowledge",
    ]


def test_one_number_however_it_is_written() -> None:
    assert same_number("+14155550101", "+1 (415) 555-0101")
    assert same_number("+14155550101", "14155550101")
    assert not same_number("+14155550101", "+14155550102")
    assert not same_number("", "")


@pytest.mark.parametrize(
    ("body", "kind", "number"),
    [
        ("ack INC-7", "acknowledge", 7),
        ("1 7", "acknowledge", 7),
        ("Yes inc 7.", "acknowledge", 7),
        ("acknowledge incident 12", "acknowledge", 12),
        ("ESC #7", "escalate", 7),
        ("2 INC-7", "escalate", 7),
    ],
)
def test_an_answer_may_name_its_incident(body: str, kind: str, number: int) -> None:
    assert read_text(body) == Answer(kind, incident=number)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", ["17", "1 0", "no 7", "INC-7", "ack INC-7 and 8"])
def test_a_number_without_an_answer_word_names_nothing(body: str) -> None:
    assert read_text(body).incident is None
