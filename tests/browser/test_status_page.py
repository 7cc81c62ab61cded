"""The public status page in Chromium: a SEV1 with its public update, then its resolution; user text
shown as text; readable at phone width. No login: the page is opened without any token."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from sevflow.incident.commands import PublishPublicUpdate, Resolve
from sevflow.incident.decisions import RESOLVED_PUBLIC_TEXT
from tests.browser.conftest import Stack, Tab, open_tab
from tests.status_page.conftest import public_id

SCRIPT_TITLE = "<script>window.pwned = 1</script> Checkout errors"


async def test_status_page_shows_a_sev1_its_public_update_then_its_resolution(
    stack: Stack, tab: Tab, browser: Browser
) -> None:
    number = await stack.declare("pg primary failover loop (internal)", severity="SEV1")
    state = stack.store.get_incident(number)
    assert state is not None
    anchor = f"#incident-{public_id(state)}"  # a public id: never the internal number
    page = tab.page
    await page.goto(f"{stack.url}/status")
    # Declared, not yet published: nothing public (checkout does not auto-publish).
    await expect(page.locator("#overall")).to_have_text("All systems operational")
    await expect(page.locator(anchor)).to_have_count(0)
    # Nobody holds comms or lead yet: anyone may publish (open_when_vacant).
    await stack.service.command(
        number,
        PublishPublicUpdate(
            by="carol", text="Some card payments fail. We are investigating.", title=SCRIPT_TITLE
        ),
    )
    # A reload, not a second goto: the page is cacheable for 15 s and a goto may take the copy.
    response = await page.reload()
    assert response is not None and response.status == 200
    await expect(page.locator("#overall")).to_have_text("Major outage")
    incident = page.locator(anchor)
    await expect(incident.locator("h3")).to_have_text(SCRIPT_TITLE)  # shown as text, never run
    await expect(incident).to_contain_text("Some card payments fail. We are investigating.")
    await expect(incident).to_contain_text("Investigating")
    assert await page.evaluate("typeof window.pwned") == "undefined"
    content = await page.content()
    assert "failover loop" not in content and f"INC-{number}" not in content
    await tab.screenshot("status-page-sev1")

    phone = await open_tab(browser, width=375, height=812)
    try:
        await phone.page.goto(f"{stack.url}/status")
        await expect(phone.page.locator(anchor)).to_be_visible()
        # Nothing wider than the screen: no sideways scrolling on a phone.
        width = await phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        await phone.screenshot("status-page-sev1-phone")
    finally:
        await phone.page.context.close()

    await stack.service.command(number, Resolve(by="carol"))
    await page.reload()
    await expect(page.locator("#overall")).to_have_text("All systems operational")
    past = page.locator(anchor)
    await expect(past).to_have_class("incident past")
    await expect(past).to_contain_text(RESOLVED_PUBLIC_TEXT)
    await expect(past).to_contain_text("Resolved")
    await expect(page.locator("#active-title")).to_have_count(0)
    await tab.screenshot("status-page-resolved")
