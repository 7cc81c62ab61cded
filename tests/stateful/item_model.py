"""A reference model of one action item's commands (ActionItemWorkflow's validators and the pure changes
of sevflow/action_items/models.py), and the check that a round of concurrent answers is truthful: some
order of the round's commands, one at a time, gives every answer the workflow gave and the item it
stored."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

Kind = Literal["done", "wont_fix", "snooze", "reassign", "due", "reopen"]


@dataclass(frozen=True)
class ItemCommand:
    """One command as the API takes it; `mark` is unique to it (the reason or the closing note), so
    its effect on the stored item can be told apart from every other command's."""

    kind: Kind
    by: str
    mark: str
    owner: str | None = None
    due: date | None = None

    @property
    def path(self) -> str:
        return "done" if self.kind == "wont_fix" else self.kind

    def body(self) -> dict[str, Any]:
        match self.kind:
            case "done" | "wont_fix":
                return {"by": self.by, "note": self.mark, "wont_fix": self.kind == "wont_fix"}
            case "snooze":
                return {"by": self.by, "duration": "2h"}
            case "reassign":
                return {"by": self.by, "owner": self.owner, "reason": self.mark}
            case "due":
                assert self.due is not None
                return {"by": self.by, "due": self.due.isoformat(), "reason": self.mark}
            case "reopen":
                return {"by": self.by, "reason": self.mark}

    def __str__(self) -> str:
        what = {"reassign": f" to {self.owner}", "due": f" to {self.due}"}.get(self.kind, "")
        return f"{self.kind}{what} by {self.by} ({self.mark})"


@dataclass(frozen=True)
class ItemModel:
    """What the validators look at: whether the item is open, its owner and its due date; and what the
    round's commands leave on it (the reasons of its changes, the note it was closed with)."""

    id: str
    title: str
    status: Literal["open", "done", "wont_fix"]
    owner: str
    due: date
    changes: tuple[str, ...] = ()  # the reasons of owner and due changes, in order
    closed_note: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def refusal(self, cmd: ItemCommand) -> str | None:
        """The sentence the item refuses `cmd` with, or None when it takes it."""
        if cmd.kind == "reopen":
            return f"{self.id} ({self.title}) is already open" if self.is_open else None
        if not self.is_open:
            return f"{self.id} ({self.title}) is already {self.status.replace('_', ' ')}"
        if cmd.kind == "reassign" and cmd.owner == self.owner:
            return f"{self.id} is already {self.owner}'s: name someone else"
        if cmd.kind == "due" and cmd.due == self.due:
            return f"{self.id} is already due {self.due.isoformat()}"
        return None

    def apply(self, cmd: ItemCommand) -> ItemModel:
        match cmd.kind:
            case "done" | "wont_fix":
                return replace(self, status=cmd.kind, closed_note=cmd.mark)
            case "reopen":
                return replace(self, status="open", closed_note=None)
            case "reassign":
                assert cmd.owner is not None
                return replace(self, owner=cmd.owner, changes=(*self.changes, cmd.mark))
            case "due":
                assert cmd.due is not None
                return replace(self, due=cmd.due, changes=(*self.changes, cmd.mark))
            case "snooze":
                return self


# An answer: the item as stored once the command was applied, or the sentence it was refused with.
Applied = Literal["applied"]


def orders(start: ItemModel, sent: list[ItemCommand], answers: list[Applied | str]) -> Iterator[ItemModel]:
    """The item after each order of the round's commands, one at a time, in which every command gets
    the answer it got: an applied one is taken by the item as it is at its place, a refused one is
    refused there in the same words (a refusal is said where the command was checked: when it was
    accepted, or again at its turn)."""
    for order in itertools.permutations(range(len(sent))):
        m = start
        for i in order:
            reason = m.refusal(sent[i])
            if answers[i] == "applied":
                if reason is not None:
                    break
                m = m.apply(sent[i])
            elif answers[i] != reason:
                break
        else:
            yield m
