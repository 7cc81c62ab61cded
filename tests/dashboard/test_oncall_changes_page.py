"""The dashboard's on-call page lists the runtime covers and swaps, with a Remove button that posts
with the session's CSRF token, as the signed-in person, under the same permission as the CLI."""

from __future__ import annotations

from datetime import timedelta

from sevflow.oncall.changes import CoverRequest
from sevflow.store.repository import Store
from starter.oncall import OnCallService
from tests.unit.oncall.runtime_fixtures import oncall_config

from .conftest import OPERATOR, VIEWER, MakeDashboard, browse, csrf_of, sign_in


def made_by_lena(store: Store) -> int:
    service = OnCallService(oncall_config(), store)
    return service.cover(
        CoverRequest(person="zed", duration=timedelta(hours=2), reason="drill", by="lena")
    ).id


async def test_a_change_is_listed_and_removed_from_the_page(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    change_id = made_by_lena(sqlite_store)
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, OPERATOR, name="zed")
        page = await client.get("/oncall")
        assert page.status_code == 200
        assert f"#{change_id} zed covers ops-daily primary" in page.text and "drill" in page.text
        csrf = csrf_of(page.text)

        forged = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": "forged"})
        assert forged.status_code == 403
        removed = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": csrf})
        assert removed.status_code == 303, removed.text
        assert sqlite_store.oncall_change(change_id).status == "removed"
        again = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": csrf})
        assert again.status_code == 409 and "already removed" in again.text


async def test_someone_else_is_refused_on_the_page(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    change_id = made_by_lena(sqlite_store)
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, OPERATOR, name="bob")
        csrf = csrf_of((await client.get("/oncall")).text)
        refused = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": csrf})
        assert refused.status_code == 403 and "bob may not change" in refused.text
        assert sqlite_store.oncall_change(change_id).status == "active"


async def test_a_viewer_sees_no_remove_button(make_dashboard: MakeDashboard, sqlite_store: Store) -> None:
    made_by_lena(sqlite_store)
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, VIEWER, name="bob")
        page = await client.get("/oncall")
        assert "zed covers" in page.text and "/remove" not in page.text
