"""Confirmation links: signed under their own salt, naming one code by its expiry, refused once expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sevflow.paging.contact_links import ConfirmLink, confirm_token, confirm_url, read_confirm_token
from sevflow.paging.links import AckLink, InvalidLink, ack_token, read_ack_token

SECRET = "link-secret"
EXPIRES = datetime(2026, 12, 6, 3, 10, tzinfo=UTC)
LINK = ConfirmLink("alice", "email", "a1b2c3", EXPIRES)


def test_a_link_reads_back_until_it_expires() -> None:
    token = confirm_token(SECRET, LINK)
    assert read_confirm_token(SECRET, token, EXPIRES - timedelta(seconds=1)) == LINK
    assert (
        confirm_url("https://sevflow.example/", token)
        == f"https://sevflow.example/v1/contacts/confirm/{token}"
    )
    with pytest.raises(
        InvalidLink, match="expired at 2026-12-06 03:10 UTC: run `sevflow contact verify alice email`"
    ):
        read_confirm_token(SECRET, token, EXPIRES)


def test_a_forged_altered_or_foreign_link_is_refused() -> None:
    token = confirm_token(SECRET, LINK)
    before = EXPIRES - timedelta(minutes=1)
    with pytest.raises(InvalidLink, match="not valid"):
        read_confirm_token("another-secret", token, before)
    with pytest.raises(InvalidLink, match="not valid"):
        read_confirm_token(SECRET, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], before)
    # An acknowledge link signed with the same secret stands for nothing here, nor the other way round.
    ack = ack_token(SECRET, AckLink("page-1", 7, "alice", EXPIRES))
    with pytest.raises(InvalidLink, match="not valid"):
        read_confirm_token(SECRET, ack, before)
    with pytest.raises(InvalidLink, match="not valid"):
        read_ack_token(SECRET, token, before)
