"""The on-call page in Chromium: a swap asked by the person on now and confirmed by the second person
on their own page, and a cover's end and person changed from its row, on the real stack (dev server,
worker, the app under uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.store.repository import Store
from tests.browser.conftest import TOKEN, Tab, open_tab
from tests.browser.test_dashboard import sign_in
from tests.support.stack import running_stack, stack_settings
from tests.unit.oncall.runtime_fixtures import oncall_config_mid_shift


@dataclass
class OnCallStack:
    url: str
    store: Store
    rotation: Rotation


@pytest.fixture
async def oncall_stack(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[OnCallStack]:
    """The stack on a daily rotation of alice, bob and carol whose shift on now began six hours ago."""
    settings = stack_settings(tmp_path, task_queue, api_token=TOKEN, viewer_token=None)
    config = oncall_config_mid_shift()
    async with running_stack(dev_env.client, settings, config=config, served=True) as running:
        yield OnCallStack(running.url, running.store, Rotation.from_config(config, "ops-daily"))


def _local(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def test_a_swap_is_asked_and_the_second_person_confirms_it_on_their_page(
    oncall_stack: OnCallStack, tab: Tab, browser: Browser
) -> None:
    stack, rotation = oncall_stack, oncall_stack.rotation
    now = datetime.now(UTC)
    mine, theirs = (
        who_is_on(rotation, "primary", now),
        who_is_on(rotation, "primary", now + timedelta(days=1)),
    )
    assert mine is not None and theirs is not None and mine.person and theirs.person

    await sign_in(tab, stack.url, name=mine.person)
    page = tab.page
    await page.goto(f"{stack.url}/oncall")
    form = page.locator("#swap-form")
    await form.get_by_label("Swap with").fill(theirs.person)
    await form.get_by_label("Your shift").fill(_local(now + timedelta(hours=1)))
    await form.get_by_label("Their shift").fill(_local(now + timedelta(days=1, hours=1)))
    await form.get_by_label("Why the swap").fill("family dinner")
    await form.get_by_role("button", name="Ask for the swap").click()
    [swap] = stack.store.oncall_changes()
    await expect(page.locator("#flash")).to_have_text(f"Asked: #{swap.id}.")
    row = page.locator("#oncall-changes tbody tr", has_text=f"#{swap.id} swap")
    await expect(row).to_contain_text(f"waiting for {theirs.person} to confirm")
    await expect(row.get_by_role("button", name="Confirm")).to_have_count(0)
    await tab.screenshot("dashboard-oncall-swap-asked")

    second = await open_tab(browser)
    try:
        await sign_in(second, stack.url, name=theirs.person)
        await second.page.goto(f"{stack.url}/oncall")
        waiting = second.page.locator("#waiting")
        await expect(waiting).to_contain_text(f"#{swap.id} swap on ops-daily primary")
        await expect(waiting).to_contain_text("family dinner")
        await second.screenshot("dashboard-oncall-swap-waiting")
        await waiting.get_by_role("button", name=f"Confirm #{swap.id}").click()
        await expect(second.page.locator("#flash")).to_have_text(f"Confirmed: #{swap.id}.")
        await expect(second.page.locator("#waiting")).to_have_count(0)
    finally:
        await second.page.context.close()
    stored = stack.store.oncall_change(swap.id)
    assert (stored.status, stored.confirmed_by) == ("active", theirs.person)
    # The asker's page no longer shows it waiting.
    await page.goto(f"{stack.url}/oncall")
    await expect(row).not_to_contain_text("waiting for")


async def test_a_cover_is_made_and_edited_from_its_row(oncall_stack: OnCallStack, tab: Tab) -> None:
    stack, rotation = oncall_stack, oncall_stack.rotation
    on = who_is_on(rotation, "primary", datetime.now(UTC))
    assert on is not None and on.person
    await sign_in(tab, stack.url, name=on.person)
    page = tab.page
    await page.goto(f"{stack.url}/oncall")
    cover = page.locator("#cover-form")
    await cover.get_by_label("Who covers").fill("zed")
    await cover.get_by_label("For (2h, 1d)").fill("2h")
    await cover.get_by_label("Why", exact=True).fill("dentist")
    await cover.get_by_role("button", name="Make the change").click()
    [change] = stack.store.oncall_changes()
    await expect(page.locator("#flash")).to_have_text(f"Made: #{change.id}.")
    await expect(page.locator(".person-card .person").first).to_have_text("zed")

    edit = page.get_by_role("form", name=f"Edit #{change.id}")
    end = (change.ends_at + timedelta(hours=1)).replace(second=0, microsecond=0)
    await edit.get_by_label("New end (UTC)").fill(_local(end))
    await edit.get_by_label("New person").fill("lena")
    await edit.get_by_label("Why (optional)").fill("zed is ill")
    await edit.get_by_role("button", name="Change").click()
    await expect(page.locator("#flash")).to_have_text(f"Changed: #{change.id}.")
    await expect(page.locator("#oncall-changes")).to_contain_text(
        f"#{change.id} lena covers ops-daily primary"
    )
    await expect(page.locator(".person-card .person").first).to_have_text("lena")
    await tab.screenshot("dashboard-oncall-cover-edited")
    stored = stack.store.oncall_change(change.id)
    assert (stored.person, stored.ends_at, stored.reason, stored.version) == ("lena", end, "zed is ill", 2)
