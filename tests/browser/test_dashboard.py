"""The dashboard in Chromium: sign in, find the incident, read its timeline, acknowledge it with the
button; a title with <script> is only text; the incident page fits a phone."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import Browser, expect

from tests.browser.conftest import TOKEN, Stack, Tab, open_tab


async def sign_in(tab: Tab, url: str, name: str = "alice") -> None:
    await tab.page.goto(f"{url}/")
    await expect(tab.page).to_have_url(f"{url}/login?next=%2F")
    await tab.page.get_by_label("Token").fill(TOKEN)
    await tab.page.get_by_label("Your name").fill(name)
    await tab.page.get_by_role("button", name="Sign in").click()
    await expect(tab.page).to_have_url(f"{url}/")


async def test_the_list_shows_an_incident_and_its_page_acknowledges_it(stack: Stack, tab: Tab) -> None:
    number = await stack.declare("checkout 5xx above 5%", severity="SEV1")
    await sign_in(tab, stack.url)
    page = tab.page

    row = page.locator("table.incidents tbody tr", has_text="checkout 5xx above 5%")
    await expect(row).to_have_count(1)
    await expect(row.locator(".status")).to_have_text("detected")
    await expect(page.locator(".tile.sev1 .tile-count")).to_have_text("1")
    await tab.screenshot("dashboard-list")

    await row.get_by_role("link", name=f"INC-{number}").click()
    await expect(page).to_have_url(f"{stack.url}/incidents/{number}")
    await expect(page.locator("#status")).to_have_text("detected")
    timeline = page.locator("#timeline li")
    await expect(timeline.first).to_be_visible()
    await expect(page.locator("#timeline")).to_contain_text("declared")
    events_before = await timeline.count()

    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page).to_have_url(f"{stack.url}/incidents/{number}?done=ack")
    await expect(page.locator("#flash")).to_have_text("Acknowledged.")
    await expect(page.locator("#status")).to_have_text("acknowledged")
    # The acknowledgement is on the timeline, newest first, by the signed-in name.
    await expect(timeline.first).to_contain_text("alice")
    assert await timeline.count() > events_before
    await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    await tab.screenshot("dashboard-incident-acknowledged")
    state = stack.store.get_incident(number)
    assert state is not None and state.status == "acknowledged" and state.lead == "alice"


async def test_a_script_in_a_title_is_only_text(stack: Stack, tab: Tab) -> None:
    title = '<script>window.owned = true; alert("owned")</script><img src=x onerror=alert(1)>'
    number = await stack.declare(title)
    await sign_in(tab, stack.url)
    page = tab.page

    await expect(page.locator("td.title a")).to_have_text(title)
    await page.goto(f"{stack.url}/incidents/{number}")
    await expect(page.locator("h1.incident-title")).to_have_text(title)
    assert await page.evaluate("window.owned === undefined")
    assert await page.locator("h1.incident-title script, h1.incident-title img").count() == 0
    assert tab.dialogs == []
    await tab.screenshot("dashboard-script-title")


async def test_the_incident_page_fits_a_phone(stack: Stack, browser: Browser) -> None:
    number = await stack.declare(
        "search latency above 2s for EU customers on the new cluster", severity="SEV2"
    )
    phone = await open_tab(browser, width=390, height=844)
    try:
        await sign_in(phone, stack.url, name="bob")
        for path in (
            "/",
            f"/incidents/{number}",
            "/dashboard/metrics",
            "/oncall",
            "/silences",
            "/action-items",
        ):
            await phone.page.goto(f"{stack.url}{path}")
            width = await phone.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone ({width}px)"
        await phone.page.goto(f"{stack.url}/incidents/{number}")
        await expect(phone.page.get_by_role("button", name="Acknowledge")).to_be_visible()
        await phone.screenshot("dashboard-incident-phone")
        await phone.page.goto(f"{stack.url}/")
        await phone.screenshot("dashboard-list-phone")
    finally:
        await phone.page.context.close()


async def test_a_silence_is_made_and_expired_from_its_page(stack: Stack, tab: Tab) -> None:
    await sign_in(tab, stack.url)
    page = tab.page
    await page.get_by_role("link", name="Silences").click()
    await expect(page).to_have_url(f"{stack.url}/silences")
    await page.get_by_label("Matchers, one per line").fill('alertname="DiskFull"\nenv!="staging"')
    await page.get_by_label("For (30m, 2h, 1d").fill("2h")
    await page.get_by_label("Why it is safe to page nobody").fill("resizing the volume")
    await page.get_by_role("button", name="Silence", exact=True).click()
    await expect(page.locator("#flash")).to_contain_text("made.")
    row = page.locator("#silences tbody tr", has_text="resizing the volume")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text('{alertname="DiskFull", env!="staging"}')
    await expect(row).to_contain_text("active")
    await tab.screenshot("dashboard-silences")
    [silence] = stack.store.list_silences(datetime.now(UTC))
    assert (silence.owner, silence.matchers) == ("alice", ['alertname="DiskFull"', 'env!="staging"'])

    await row.get_by_role("button", name="Expire").click()
    await expect(page.locator("#flash")).to_have_text(f"Silence {silence.id} expired: its alerts page again.")
    await expect(row).to_contain_text("expired by alice")
    await expect(row.get_by_role("button", name="Expire")).to_have_count(0)
