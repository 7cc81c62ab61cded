"""The incident room's "Page again" (issue 17, pinned policies): shown while nobody has acknowledged an
incident whose severity pages; pressed, the ladder starts over on today's configuration (the timeline
says so), as `sevflow repage` and Slack's `/incident repage` do; gone once someone acknowledges."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from sevflow.incident.models import EventKind
from sevflow.store.repository import Store
from tests.api.conftest import MakeApp, http
from tests.conftest import terminate_task_queue
from tests.dashboard.conftest import OPERATOR, csrf_of, sign_in
from tests.dashboard.test_room import flash
from tests.dashboard.test_room_forms import key_of


async def test_page_again_from_the_room_restarts_the_ladder_until_someone_acknowledges(
    make_app: MakeApp, worker: None, sqlite_store: Store, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    try:
        async with http(make_app(api_token=OPERATOR)) as client:
            await sign_in(client, OPERATOR, name="alice")
            page = (await client.get("/declare")).text
            declare = {
                "csrf": csrf_of(page),
                "key": key_of(page, "declare"),
                "title": "checkout 5xx",
                "service": "checkout",
                "severity": "SEV2",
            }
            declared = await client.post("/declare", data=declare)
            assert declared.status_code == 303, flash(declared.text)
            [incident] = sqlite_store.list_incidents()
            n = incident.number
            assert n is not None

            room = (await client.get(f"/incidents/{n}")).text
            assert 'id="repage"' in room
            form = {"csrf": csrf_of(room), "key": key_of(room, "repage")}
            pressed = await client.post(f"/incidents/{n}/repage", data=form)
            assert pressed.status_code == 303, flash(pressed.text)
            assert "Paging again from the first level" in flash(
                (await client.get(pressed.headers["location"])).text
            )
            stored = sqlite_store.get_incident(n)
            assert stored is not None and stored.escalation_id == f"{stored.workflow_id}/escalation-1"
            assert [e.kind for e in sqlite_store.timeline(n)].count(EventKind.REPAGED) == 1

            room = (await client.get(f"/incidents/{n}")).text
            acked = await client.post(
                f"/incidents/{n}/ack", data={"csrf": csrf_of(room), "key": key_of(room, "ack")}
            )
            assert acked.status_code == 303, flash(acked.text)
            assert 'id="repage"' not in (await client.get(f"/incidents/{n}")).text
    finally:
        await terminate_task_queue(dev_env.client, task_queue)
