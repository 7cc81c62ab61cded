"""The dashboard's access rules: roles from tokens, signed session cookies, CSRF tokens, safe redirects."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from starter.dashboard.auth import COOKIE_MAX, SESSION_SECONDS, Gate, clean_name, safe_next

NOW = 1_800_000_000.0


def gate(
    operator: str | None = "op-token", viewer: str | None = "view-token", loopback: bool = False
) -> Gate:
    return Gate(operator, viewer, loopback=loopback)


def test_tokens_grant_their_role_and_nothing_else() -> None:
    g = gate()
    assert g.role_for("op-token") == "operator"
    assert g.role_for("view-token") == "viewer"
    assert g.role_for("op-tokenx") is None
    assert g.role_for("") is None
    assert g.role_for(None) is None
    assert not g.open


def test_one_token_for_both_roles_is_an_operator() -> None:
    assert gate(operator="same", viewer="same").role_for("same") == "operator"


def test_the_dashboard_is_open_only_without_an_api_token_on_loopback() -> None:
    assert Gate(None, None, loopback=True).open
    assert Gate(None, "view-token", loopback=True).open
    assert not Gate(None, None, loopback=False).open
    assert not Gate("op-token", None, loopback=True).open
    # Open means an operator who has not signed in; closed means nobody.
    anonymous = Gate(None, None, loopback=True).anonymous(NOW)
    assert anonymous is not None and anonymous.can_act and anonymous.name is None
    assert gate().anonymous(NOW) is None


def test_a_signed_session_reads_back() -> None:
    g = gate()
    session = g.new_session("viewer", "  Ada\x00 Lovelace \n", NOW)
    read = g.read(g.sign(session), NOW + 10)
    assert read is not None
    assert (read.role, read.name, read.csrf, read.expires) == (
        "viewer",
        "Ada Lovelace",
        session.csrf,
        session.expires,
    )
    assert not read.fresh and not read.can_act
    assert session.expires == int(NOW) + SESSION_SECONDS


def test_an_expired_session_is_refused() -> None:
    g = gate()
    cookie = g.sign(g.new_session("operator", "ada", NOW))
    assert g.read(cookie, NOW + SESSION_SECONDS - 1) is not None
    assert g.read(cookie, NOW + SESSION_SECONDS) is None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _forge(cookie: str, stamp: int | None = None, **changes: object) -> str:
    """The cookie with its payload or its issue time edited and its signature kept."""
    payload, issued, mac = cookie.rsplit(".", 2)
    data = json.loads(_unb64(payload))
    data.update(changes)
    if stamp is not None:
        issued = _b64(stamp.to_bytes(4, "big"))
    return f"{_b64(json.dumps(data, separators=(',', ':')).encode())}.{issued}.{mac}"


def test_an_edited_cookie_is_refused() -> None:
    g = gate()
    cookie = g.sign(g.new_session("viewer", "eve", NOW))
    assert g.read(_forge(cookie), NOW) is not None  # the forger's re-encoding alone changes nothing
    assert g.read(_forge(cookie, n="alice"), NOW) is None
    assert g.read(_forge(cookie, r="operator"), NOW) is None
    assert g.read(_forge(cookie, stamp=int(NOW) + 10 * SESSION_SECONDS), NOW) is None


def test_a_viewers_cookie_is_never_an_operators() -> None:
    g = gate()
    read = g.read(g.sign(g.new_session("viewer", "eve", NOW)), NOW)
    assert read is not None and read.role == "viewer"
    # Each role has its own salt: even with one token for both, a viewer's cookie stays a viewer's.
    same = gate(operator="same", viewer="same")
    read = same.read(same.sign(same.new_session("viewer", "eve", NOW)), NOW)
    assert read is not None and read.role == "viewer"


def test_a_session_issued_in_the_future_is_refused() -> None:
    g = gate()
    cookie = g.sign(g.new_session("operator", "ada", NOW + 60))
    assert g.read(cookie, NOW) is None


def test_renaming_keeps_the_time_the_session_was_issued() -> None:
    g = gate()
    renamed = g.renamed(g.new_session("operator", None, NOW), "bob")
    read = g.read(g.sign(renamed), NOW + SESSION_SECONDS - 1)
    assert read is not None and read.name == "bob" and read.expires == int(NOW) + SESSION_SECONDS
    assert g.read(g.sign(renamed), NOW + SESSION_SECONDS) is None


def test_a_session_signed_under_another_token_is_refused() -> None:
    old = gate(operator="old-token")
    cookie = old.sign(old.new_session("operator", "ada", NOW))
    assert gate(operator="new-token").read(cookie, NOW) is None
    # The open dashboard's key is its own: a cookie from another process does not carry over.
    a, b = Gate(None, None, loopback=True), Gate(None, None, loopback=True)
    assert b.read(a.sign(a.new_session("operator", None, NOW)), NOW) is None


def test_a_role_without_a_token_has_no_sessions() -> None:
    with_viewer = gate()
    cookie = with_viewer.sign(with_viewer.new_session("viewer", None, NOW))
    assert gate(viewer=None).read(cookie, NOW) is None


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "",
        "abc",
        "a.b.c",
        "!!!.sig",
        "bm90IGpzb24.sig",
        "WzFd.sig",
        "e30.sig",
        "e30.a0nSAA.\u00e9",  # a non-ASCII signature answered 500 with the hand-written check
        "e30.a0nSAA.\udcff",  # a lone surrogate: not even encodable
        ".eJwLzs8tyClNSQUAEYYDtw.a0nSAA.sig",  # a compressed payload, unsigned
        "x" * (COOKIE_MAX + 1),
    ],
)
def test_garbage_cookies_are_no_session(cookie: str | None) -> None:
    assert gate().read(cookie, NOW) is None


def test_an_over_long_cookie_is_refused_even_when_signed() -> None:
    g = gate()
    cookie = g.sign(g.new_session("operator", "ada", NOW))
    assert g.read(cookie + "=" * (COOKIE_MAX - len(cookie) + 1), NOW) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=COOKIE_MAX + 10) | st.from_regex(r"[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*\.[^.]*"))
def test_any_cookie_is_a_session_or_none_never_an_error(cookie: str) -> None:
    assert gate().read(cookie, NOW) is None


def test_csrf_tokens_are_per_session_and_compared_exactly() -> None:
    g = gate()
    one, two = g.new_session("operator", "a", NOW), g.new_session("operator", "a", NOW)
    assert one.csrf != two.csrf and len(one.csrf) >= 24
    assert one.csrf_ok(one.csrf)
    assert not one.csrf_ok(two.csrf)
    assert not one.csrf_ok(None)
    assert not one.csrf_ok("")


def test_renaming_keeps_the_role_and_the_csrf_token() -> None:
    g = gate()
    session = g.new_session("operator", None, NOW)
    renamed = g.renamed(session, " bob ")
    assert (renamed.role, renamed.name, renamed.csrf, renamed.fresh) == (
        "operator",
        "bob",
        session.csrf,
        True,
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("alice", "alice"),
        ("al\u200bice\x07", "alice"),  # format and control characters
        ("x" * 500, "x" * 100),
    ],
)
def test_clean_name(given: str | None, expected: str | None) -> None:
    assert clean_name(given) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/incidents/7", "/incidents/7"),
        ("/?status=detected&open=1", "/?status=detected&open=1"),
        (None, "/"),
        ("", "/"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_safe_next_stays_on_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
