"""What a paged person's answer means: a text's words and a call's keys, read the way people type them.

A text takes `1`, `ack` or `yes` to acknowledge and `2` or `esc` to escalate now, whatever the case,
spaces or punctuation around them ("Ack.", " YES!", "1 "), and may name the incident it answers
(`ack INC-7`, `1 7`, `esc #7`) when a person has several open pages; six digits are a contact code
(`123 456` too). Anything else is no answer, and the person is told what the answers are. A call's
keypad gives `1` or `2`; any other key repeats the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

AnswerKind = Literal["acknowledge", "escalate", "code", "other"]

ACKNOWLEDGE_WORDS = frozenset({"1", "ack", "yes", "acknowledge"})
ESCALATE_WORDS = frozenset({"2", "esc", "escalate"})
_NOT_A_LETTER_OR_DIGIT = re.compile(r"[^a-z0-9]")
_CODE = re.compile(r"^\d{6}$")
# An answer word, then the incident: `ack INC-7`, `1 7`, `esc: #7`, `yes inc 7.`
_NAMED = re.compile(r"^(?P<word>[a-z0-9]+)[\s,:;.!#-]+(?:inc(?:ident)?[\s#:-]*)?(?P<number>\d{1,9})[\s.!]*$")
# What a text may say and be read: past this, it is no answer (a pasted essay is not an `ack`).
MAX_ANSWER = 40


@dataclass(frozen=True)
class Answer:
    kind: AnswerKind
    # The six digits of a contact code (kind "code").
    code: str | None = None
    # The incident an acknowledge or escalate names (`ack INC-7`); None: the newest open page.
    incident: int | None = None


def read_text(body: str) -> Answer:
    """What a text says: its letters and digits alone, lower case, decide."""
    if len(body) > MAX_ANSWER:
        return Answer("other")
    if (named := _NAMED.match(body.strip().lower())) is not None:
        number = int(named["number"])
        if named["word"] in ACKNOWLEDGE_WORDS and number > 0:
            return Answer("acknowledge", incident=number)
        if named["word"] in ESCALATE_WORDS and number > 0:
            return Answer("escalate", incident=number)
    word = _NOT_A_LETTER_OR_DIGIT.sub("", body.lower())
    if word in ACKNOWLEDGE_WORDS:
        return Answer("acknowledge")
    if word in ESCALATE_WORDS:
        return Answer("escalate")
    if _CODE.match(word):
        return Answer("code", word)
    return Answer("other")


def read_keys(digits: str) -> AnswerKind:
    """What a call's keys say: 1 acknowledges, 2 escalates, anything else asks again."""
    key = digits.strip()
    if key == "1":
        return "acknowledge"
    if key == "2":
        return "escalate"
    return "other"


def same_number(a: str, b: str) -> bool:
    """Whether two phone numbers are one, as people write them (+1 415 555-0101, +14155550101)."""
    digits_a, digits_b = re.sub(r"[^\d+]", "", a), re.sub(r"[^\d+]", "", b)
    return bool(digits_a) and digits_a.lstrip("+") == digits_b.lstrip("+")
