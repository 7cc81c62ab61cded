"""The page webhook's signature: what a gateway checks before it wakes anyone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sevflow.paging.signing import sign, verify

NOW = 1_800_000_000


@given(secret=st.text(min_size=1), body=st.binary(), skew=st.integers(-300, 300))
def test_a_signature_verifies_over_the_same_body_within_tolerance(
    secret: str, body: bytes, skew: int
) -> None:
    signature = sign(secret, NOW, body)
    assert signature.startswith("v1=")
    assert verify(secret, str(NOW), body, signature, now=NOW + skew)


@given(body=st.binary(min_size=1))
def test_a_changed_body_secret_or_timestamp_fails(body: bytes) -> None:
    signature = sign("s3cret", NOW, body)
    assert not verify("s3cret", str(NOW), body + b"x", signature, now=NOW)
    assert not verify("other", str(NOW), body, signature, now=NOW)
    assert not verify("s3cret", str(NOW + 1), body, signature, now=NOW)


def test_an_old_or_malformed_timestamp_fails() -> None:
    signature = sign("s3cret", NOW, b"{}")
    assert not verify("s3cret", str(NOW), b"{}", signature, now=NOW + 301)
    assert not verify("s3cret", "yesterday", b"{}", signature, now=NOW)
