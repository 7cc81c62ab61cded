"""The incident room in Chromium does what the CLI does: declare, assign roles, change the severity,
snooze, resolve, reopen, close, close as noise, mark a repeat, add and close action items, write and
publish the postmortem. Each button is clicked in the browser and its effect read back from the store
the workflow writes. A form without its CSRF token and a command the permission matrix refuses are
shown as a message on the page, and change nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import Locator, Page, expect

from sevflow.incident.commands import Declare
from sevflow.incident.models import IncidentState, Role
from sevflow.policy import Severity
from tests.browser.conftest import Stack, Tab
from tests.browser.test_dashboard import sign_in


def form(page: Page, action: str) -> Locator:
    """The incident room's form that posts to `action` (the last part of its URL)."""
    return page.locator(f"form[action$='/{action}']")


async def click(page: Page, url: str, number: int, within: Locator, button: str, done: str) -> None:
    """Press `button` of `within` and wait for the page the command answers with (its `done` message)."""
    await within.get_by_role("button", name=button, exact=True).click()
    await expect(page).to_have_url(f"{url}/incidents/{number}?done={done}")
    await expect(page.locator("#flash")).to_have_class(re.compile(r"\bok\b"))


def stored(stack: Stack, number: int) -> IncidentState:
    state = stack.store.get_incident(number)
    assert state is not None
    return state


async def test_declare_roles_severity_snooze_resolve_reopen_and_noise(stack: Stack, tab: Tab) -> None:
    await sign_in(tab, stack.url, name="alice")
    page, url = tab.page, stack.url

    await page.get_by_role("link", name="Declare an incident").click()
    await expect(page).to_have_url(f"{url}/declare")
    await page.get_by_label("Title").fill("checkout payments failing")
    await page.get_by_label("Service", exact=True).fill("checkout")
    await page.get_by_label("Severity").select_option("SEV3")
    await page.get_by_role("button", name="Declare").click()
    await expect(page).to_have_url(re.compile(r"/incidents/\d+\?done=declare$"))
    await expect(page.locator("#flash")).to_have_text("Declared.")
    match = re.search(r"/incidents/(\d+)", page.url)
    assert match is not None
    n = int(match.group(1))
    state = stored(stack, n)
    assert (state.title, state.service, state.severity, state.status) == (
        "checkout payments failing",
        "checkout",
        Severity.SEV3,
        "detected",
    )
    assert state.declared_by == "alice" and state.team == "payments"

    roles = form(page, "role")
    await roles.get_by_label("Role").select_option("lead")
    await roles.get_by_label("Person").fill("alice")
    await click(page, url, n, roles, "Assign role", "role")
    await roles.get_by_label("Role").select_option("comms")
    await roles.get_by_label("Person").fill("bob")
    await click(page, url, n, roles, "Assign role", "role")
    assert stored(stack, n).roles == {Role.LEAD: "alice", Role.COMMS: "bob"}
    holders = {str(h.role): h.person for h in stack.store.role_holders(n)}
    assert holders == {"lead": "alice", "comms": "bob"}

    # A SEV2 has an update cadence (a SEV3 has none to snooze) and needs a postmortem for a new failure.
    await form(page, "severity").get_by_label("Severity").select_option("SEV2")
    await click(page, url, n, form(page, "severity"), "Change severity", "severity")
    assert stored(stack, n).severity == Severity.SEV2
    await expect(page.locator(".incident-head .badge")).to_have_text("SEV2")

    before = datetime.now(UTC)
    await form(page, "snooze").get_by_label("Snooze the update reminder for").select_option("30m")
    await click(page, url, n, form(page, "snooze"), "Snooze", "snooze")
    snoozed = stored(stack, n).snoozed_until
    assert snoozed is not None
    assert before + timedelta(minutes=29) < snoozed < datetime.now(UTC) + timedelta(minutes=31)

    await click(page, url, n, form(page, "resolve"), "Resolve", "resolve")
    assert stored(stack, n).status == "postmortem"
    await expect(page.locator("#status")).to_have_text("postmortem")
    # Resolved: the buttons of an active incident are gone, reopening is offered.
    await expect(form(page, "resolve")).to_have_count(0)
    await expect(form(page, "snooze")).to_have_count(0)

    await form(page, "reopen").get_by_label("Why it comes back").fill("errors are back after the rollback")
    await click(page, url, n, form(page, "reopen"), "Reopen", "reopen")
    state = stored(stack, n)
    assert state.status == "acknowledged" and state.resolved_at is None
    reopened = [e for e in stack.store.timeline(n) if e.kind == "reopened"]
    assert [(e.actor, "errors are back" in e.text) for e in reopened] == [("alice", True)]

    await page.get_by_text("Close as noise (a false alarm)").click()
    await form(page, "noise").get_by_label("Why it was no incident").fill("a test card, not a customer")
    await click(page, url, n, form(page, "noise"), "Close as noise", "noise")
    assert stored(stack, n).status == "noise"
    await expect(page.locator("#status")).to_have_text("noise")
    await expect(page.locator("section.room")).to_have_count(0)
    await tab.screenshot("incident-room-noise")


async def test_resolve_then_close_without_a_postmortem(stack: Stack, tab: Tab) -> None:
    n = await stack.declare("search slower than usual", severity="SEV3", service="search")
    await sign_in(tab, stack.url, name="alice")
    page, url = tab.page, stack.url
    await page.goto(f"{url}/incidents/{n}")
    # Nothing to close before it is resolved: the table does not allow it, the page offers no button.
    await expect(form(page, "close")).to_have_count(0)

    await click(page, url, n, form(page, "resolve"), "Resolve", "resolve")
    assert stored(stack, n).status == "resolved"
    await click(page, url, n, form(page, "close"), "Close", "close")
    state = stored(stack, n)
    assert state.status == "closed" and state.closed_at is not None
    await expect(page.locator("#status")).to_have_text("closed")


async def test_mark_a_repeat_of_an_earlier_incident(stack: Stack, tab: Tab) -> None:
    earlier = await stack.declare(
        "search index stale (browser repeat, first)", severity="SEV3", service="search"
    )
    n = await stack.declare("search index stale (browser repeat, again)", severity="SEV3", service="search")
    await sign_in(tab, stack.url, name="alice")
    page, url = tab.page, stack.url
    await page.goto(f"{url}/incidents/{n}")

    await page.get_by_text("Mark as a repeat of an earlier incident").click()
    await form(page, "repeat-of").get_by_label("Repeat of").fill(f"INC-{earlier}")
    await click(page, url, n, form(page, "repeat-of"), "Save repeat link", "repeat-of")
    assert stored(stack, n).repeat_of == earlier
    await expect(page.locator(".incident-head").get_by_role("link", name=f"INC-{earlier}")).to_be_visible()


POSTMORTEM = """# Postmortem: checkout 5xx

## Summary
Checkout returned 5xx for 20 minutes after deploy 1234.

## Impact
About 3% of card payments failed.

## Timeline
- 10:00 deploy 1234
- 10:20 rolled back

## Contributing factors
The new connection pool had no upper bound and exhausted the database's connections.

## What went well
The alert fired within a minute.

## Runbook changes
Add the pool metrics to the checkout runbook.

## Action items
- [ ] Alert on database connection saturation @bob due:{due}
"""


async def test_action_items_and_the_postmortem_from_the_page(stack: Stack, tab: Tab) -> None:
    n = await stack.declare("checkout 5xx", severity="SEV1")
    await sign_in(tab, stack.url, name="alice")
    page, url = tab.page, stack.url
    await page.goto(f"{url}/incidents/{n}")
    await click(page, url, n, form(page, "ack"), "Acknowledge", "ack")

    add = form(page, "action-add")
    for title, owner in (("Bound the checkout connection pool", "alice"), ("Alert on saturation", "bob")):
        if not await add.is_visible():
            await page.get_by_text("Add an action item").click()
        await add.get_by_label("What will be done").fill(title)
        await add.get_by_label("Owner").fill(owner)
        await add.get_by_label("Due").fill("10d")
        await click(page, url, n, add, "Add action item", "action-add")
    items = {s.item.title: s.item for s in stack.store.action_items(n)}
    assert set(items) == {"Bound the checkout connection pool", "Alert on saturation"}
    today = datetime.now(UTC).date()
    assert {(i.owner, i.due, i.status) for i in items.values()} == {
        ("alice", today + timedelta(days=10), "open"),
        ("bob", today + timedelta(days=10), "open"),
    }

    pool = items["Bound the checkout connection pool"]
    await click(
        page,
        url,
        n,
        page.locator(f"#item-{pool.id}"),
        "Done: Bound the checkout connection pool",
        "action-done",
    )
    closed = stack.store.action_item(pool.id)
    assert closed is not None and closed.item.status == "done" and closed.item.closed_at is not None
    other = stack.store.action_item(items["Alert on saturation"].id)
    assert other is not None and other.item.status == "open"
    await expect(page.locator(f"#item-{pool.id} .status")).to_have_text("done")
    await expect(page.locator(f"#item-{pool.id} form")).to_have_count(0)

    await click(page, url, n, form(page, "resolve"), "Resolve", "resolve")
    assert stored(stack, n).status == "postmortem"
    # The draft cannot be published as it is: the page lists what it is missing.
    await expect(page.locator("#postmortem-check")).to_contain_text("Before it can be published")

    editor = form(page, "postmortem")
    document = POSTMORTEM.format(due=(today + timedelta(days=20)).isoformat())
    await editor.get_by_label("Postmortem document (markdown)").fill(document)
    await click(page, url, n, editor, "Save postmortem", "postmortem")
    saved = stack.store.postmortem(n)
    assert saved is not None and saved.document == document and saved.status != "published"
    await expect(page.locator("#postmortem-check")).to_have_text("Ready to publish.")

    await click(page, url, n, form(page, "postmortem"), "Save and publish", "postmortem-publish")
    published = stack.store.postmortem(n)
    assert published is not None and published.status == "published" and published.published_by == "alice"
    assert stored(stack, n).status == "closed"
    await expect(page.locator("#status")).to_have_text("closed")
    await tab.screenshot("incident-room-postmortem-published")


async def test_a_refusal_and_a_form_without_its_csrf_token_change_nothing(stack: Stack, tab: Tab) -> None:
    detail = await stack.service.declare(
        Declare(title="api latency", service="checkout", severity=Severity.SEV2, lead="carol")
    )
    n = detail.number
    await sign_in(tab, stack.url, name="alice")
    page, url = tab.page, stack.url
    await page.goto(f"{url}/incidents/{n}")

    # Only the lead, comms or an admin may change the severity: alice is none of them.
    await form(page, "severity").get_by_label("Severity").select_option("SEV1")
    async with page.expect_response(f"{url}/incidents/{n}/severity") as answer:
        await form(page, "severity").get_by_role("button", name="Change severity").click()
    assert (await answer.value).status == 409
    await expect(page.locator("#flash")).to_have_text(
        re.compile(
            rf"^only the lead, comms or an admin can change the severity of INC-{n}; the lead is @carol$"
        )
    )
    await expect(page.locator("#flash")).to_have_attribute("role", "alert")
    assert stored(stack, n).severity == Severity.SEV2
    await tab.screenshot("incident-room-permission-refused")

    # A form whose CSRF token is gone (a forged one) is refused before anything is sent.
    await form(page, "resolve").locator("input[name=csrf]").evaluate("input => input.remove()")
    async with page.expect_response(f"{url}/incidents/{n}/resolve") as answer:
        await form(page, "resolve").get_by_role("button", name="Resolve").click()
    assert (await answer.value).status == 403
    await expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    # A post from outside the page, with the session's cookie but no token: refused alike.
    posted = await page.request.post(f"{url}/incidents/{n}/ack", form={"key": "forged-ack"})
    assert posted.status == 403 and "Form expired" in await posted.text()
    state = stored(stack, n)
    assert state.status == "detected" and state.resolved_at is None and state.acknowledged_at is None
    assert stack.store.command_key("forged-ack") is None
