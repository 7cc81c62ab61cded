"""JiraTickets, the ticket port on the real `jira` library, against the Jira emulator: idempotent
effects, and every failure sorted into rate-limited, retryable or permanent with no retries of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from temporalio.exceptions import ApplicationError

from activities.tickets import (
    DEFAULT_RETRY_AFTER,
    JiraTickets,
    NewTicket,
    PermanentTicketError,
    RateLimited,
    TicketPort,
    TicketUnavailable,
    jira_client,
    retry_after_of,
    ticket_errors,
)
from tests.emulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraEmulator
from tests.support.ports import free_port

ALICE = "712020:00000000-0000-4000-8000-00000000a11c"
ITEM = NewTicket(
    label="sevflow-action-INC-7-1a2b3c4d",
    summary="Add retries to checkout",
    description="From the postmortem of INC-7.",
    labels=["INC-7", "sevflow"],
    due=date(2026, 11, 26),
    assignee_email="alice@example.com",
)


@pytest.fixture(scope="module")
def site() -> Iterator[JiraEmulator]:
    with JiraEmulator() as emulator:
        yield emulator


@pytest.fixture
def jira(site: JiraEmulator) -> JiraEmulator:
    site.reset()
    return site


def tickets_for(jira: JiraEmulator, **kwargs: object) -> JiraTickets:
    url = jira.url
    return JiraTickets(
        lambda: jira_client(url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN, timeout=5),
        project="OPS",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def tickets(jira: JiraEmulator) -> JiraTickets:
    return tickets_for(jira)


def test_it_is_a_ticket_port(tickets: JiraTickets) -> None:
    port: TicketPort = tickets
    assert port is tickets


# ---------------------------------------------------------------------------------------- effects


def test_create_files_the_issue_with_labels_due_date_and_assignee(
    jira: JiraEmulator, tickets: JiraTickets
) -> None:
    ticket = tickets.create(ITEM)
    assert (ticket.key, ticket.status, ticket.status_category) == ("OPS-1", "To Do", "new")
    assert ticket.url == f"{jira.url}/browse/OPS-1"
    assert (ticket.assignee, ticket.due) == (ALICE, date(2026, 11, 26))
    assert ticket.labels == ["INC-7", "sevflow", "sevflow-action-INC-7-1a2b3c4d"]
    fields = jira.issue("OPS-1")["fields"]
    assert (fields["summary"], fields["description"], fields["issuetype"]["name"]) == (
        "Add retries to checkout",
        "From the postmortem of INC-7.",
        "Task",
    )


def test_creating_twice_files_one_issue(jira: JiraEmulator, tickets: JiraTickets) -> None:
    first = tickets.create(ITEM)
    second = tickets.create(ITEM.model_copy(update={"summary": "a retry with another title"}))
    assert second.key == first.key
    assert len(jira.issues()) == 1
    assert len(jira.calls("create_issue")) == 1
    # It looked for its own issue by the item's label before anything else.
    assert 'labels = "sevflow-action-INC-7-1a2b3c4d"' in jira.calls("search_jql")[0]["query"]["jql"][0]


def test_a_lost_create_response_is_retried_into_the_same_issue(
    jira: JiraEmulator, tickets: JiraTickets
) -> None:
    jira.fail_next("create_issue", status=500, after_effect=True)
    with pytest.raises(TicketUnavailable):
        tickets.create(ITEM)
    assert tickets.create(ITEM).key == "OPS-1"
    assert [i["key"] for i in jira.issues()] == ["OPS-1"]


def test_an_issue_moved_to_another_project_is_still_found(jira: JiraEmulator, tickets: JiraTickets) -> None:
    jira.add_project("SRE", "Reliability")
    other = tickets_for(jira)
    moved = other.create(ITEM.model_copy(update={"project": "SRE", "issue_type": "Bug"}))
    assert moved.key == "SRE-1"
    assert tickets.create(ITEM).key == "SRE-1"


def test_someone_jira_does_not_know_gets_an_unassigned_issue(
    jira: JiraEmulator, tickets: JiraTickets
) -> None:
    ticket = tickets.create(ITEM.model_copy(update={"assignee_email": "zoe@elsewhere.example"}))
    assert ticket.assignee is None
    assert jira.issue(ticket.key)["fields"]["assignee"] is None


def test_assignee_lookup_by_email(jira: JiraEmulator, tickets: JiraTickets) -> None:
    assert tickets.find_assignee("Alice@Example.com") == ALICE
    hidden = jira.add_user("erin@example.com", "Erin Evans", email_visible=False)
    assert tickets.find_assignee("erin@example.com") == hidden["accountId"]
    assert tickets.find_assignee("nobody@example.com") is None
    # Looked up once per address: a chase of weeks does not search Jira every day.
    calls = len(jira.calls("user_search"))
    assert tickets.find_assignee("alice@example.com") == ALICE
    assert len(jira.calls("user_search")) == calls


def test_a_summary_too_long_or_with_newlines_is_made_to_fit(jira: JiraEmulator, tickets: JiraTickets) -> None:
    ticket = tickets.create(ITEM.model_copy(update={"summary": "line one\nline two " + "x" * 300}))
    assert len(ticket.summary) == 255 and ticket.summary.startswith("line one line two x")


def test_status_category_and_transition_are_idempotent(jira: JiraEmulator, tickets: JiraTickets) -> None:
    key = tickets.create(ITEM).key
    assert tickets.status_category(key) == "new"
    assert tickets.transition(key, "done") is True
    assert tickets.status_category(key) == "done"
    transitions = len(jira.calls("do_transition"))
    assert tickets.transition(key, "done") is False
    assert len(jira.calls("do_transition")) == transitions
    # A reopened item reopens its issue.
    assert tickets.transition(key, "new") is True
    assert jira.issue(key)["fields"]["status"]["name"] == "To Do"


def test_a_person_closing_the_issue_in_jira_shows_in_its_category(
    jira: JiraEmulator, tickets: JiraTickets
) -> None:
    key = tickets.create(ITEM).key
    jira.set_status(key, "In Progress", by="alice@example.com")
    assert tickets.status_category(key) == "indeterminate"
    assert tickets.find_by_label(ITEM.label) is not None
    jira.set_status(key, "Done")
    found = tickets.find_by_label(ITEM.label)
    assert found is not None and found.status_category == "done"


def test_comment_once_per_body(jira: JiraEmulator, tickets: JiraTickets) -> None:
    key = tickets.create(ITEM).key
    assert tickets.comment(key, "Reminder: due on 2026-11-26.") is True
    assert tickets.comment(key, "Reminder: due on 2026-11-26.") is False
    assert tickets.comment(key, "Overdue by 1 business day.") is True
    assert jira.comments(key) == ["Reminder: due on 2026-11-26.", "Overdue by 1 business day."]


def test_a_comment_with_a_marker_is_posted_once_whatever_else_it_says(
    jira: JiraEmulator, tickets: JiraTickets
) -> None:
    key = tickets.create(ITEM).key
    assert tickets.comment(key, "Closed in sevflow by alice as done.\n\n[m-1]", marker="[m-1]") is True
    # A retry whose words changed (a later attempt of the same change) still finds the marker.
    assert tickets.comment(key, "Closed in sevflow as done.\n\n[m-1]", marker="[m-1]") is False
    assert tickets.comment(key, "Reopened in sevflow.\n\n[m-2]", marker="[m-2]") is True
    assert len(jira.comments(key)) == 2


def test_reopening_leaves_an_issue_that_is_open_where_it_is(jira: JiraEmulator, tickets: JiraTickets) -> None:
    key = tickets.create(ITEM).key
    jira.set_status(key, "In Progress")
    # Already not done: a reopen does not move it back to To Do.
    assert tickets.transition(key, "new") is False
    assert jira.calls("do_transition") == []
    assert jira.issue(key)["fields"]["status"]["name"] == "In Progress"


def test_no_label_no_ticket(tickets: JiraTickets) -> None:
    assert tickets.find_by_label('odd"label\\') is None


# ---------------------------------------------------------------------------------------- failures


def test_429_is_rate_limited_with_jiras_retry_after_and_no_retry_of_its_own(
    jira: JiraEmulator, tickets: JiraTickets
) -> None:
    tickets.find_by_label("warm-up")  # connects and fills the field cache
    jira.fail_next("search_jql", status=429, retry_after=7)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        tickets.create(ITEM)
    assert caught.value.retry_after == timedelta(seconds=7)
    # The library's ResilientSession would have slept and retried: one request, at once.
    assert time.monotonic() - started < 2
    assert len(jira.calls("search_jql")) == 2
    assert jira.calls("create_issue") == []


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, timedelta(seconds=30)), (502, None)])
def test_5xx_is_retryable_and_not_retried_here(
    jira: JiraEmulator, tickets: JiraTickets, status: int, retry_after: timedelta | None
) -> None:
    key = tickets.create(ITEM).key
    jira.fail_next("get_issue", status=status, retry_after=30)
    with pytest.raises(TicketUnavailable, match=f"HTTP {status}") as caught:
        tickets.status_category(key)
    assert caught.value.retry_after == retry_after
    assert sum(c["fault"] for c in jira.calls("get_issue")) == 1
    assert tickets.status_category(key) == "new"


def test_4xx_is_permanent_with_jiras_words(jira: JiraEmulator, tickets: JiraTickets) -> None:
    with pytest.raises(PermanentTicketError, match="Specify a valid project ID or key"):
        tickets.create(ITEM.model_copy(update={"project": "NOPE"}))
    with pytest.raises(PermanentTicketError, match="HTTP 404: Issue does not exist"):
        tickets.status_category("OPS-404")
    with pytest.raises(PermanentTicketError, match="HTTP 404"):
        tickets.comment("OPS-404", "hello")


def test_wrong_credentials_are_permanent_and_found_at_first_use(jira: JiraEmulator) -> None:
    url = jira.url
    tickets = JiraTickets(
        lambda: jira_client(url, email=DEFAULT_EMAIL, api_token="revoked", timeout=5), project="OPS"
    )
    with pytest.raises(PermanentTicketError, match="HTTP 401: Client must be authenticated"):
        tickets.create(ITEM)


def test_an_outage_at_start_is_retryable_and_the_client_is_built_once_jira_is_back(
    jira: JiraEmulator, tickets: JiraTickets
) -> None:
    jira.start_outage(status=503, retry_after=60)
    with pytest.raises(TicketUnavailable) as caught:
        tickets.create(ITEM)
    assert caught.value.retry_after == timedelta(seconds=60)
    jira.end_outage()
    assert tickets.create(ITEM).key == "OPS-1"


def test_connection_refused_is_retryable() -> None:
    port = free_port()  # nothing listens there
    tickets = JiraTickets(
        lambda: jira_client(f"http://127.0.0.1:{port}", email=DEFAULT_EMAIL, api_token="t", timeout=2),
        project="OPS",
    )
    with pytest.raises(TicketUnavailable, match="ConnectionError"):
        tickets.find_by_label("x")


def test_a_timeout_is_retryable(jira: JiraEmulator) -> None:
    url = jira.url
    tickets = JiraTickets(
        lambda: jira_client(url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN, timeout=0.3), project="OPS"
    )
    tickets.find_by_label("warm-up")
    jira.delay("search_jql", 1.0, times=1)
    with pytest.raises(TicketUnavailable, match="ReadTimeout"):
        tickets.find_by_label("slow")
    assert tickets.find_by_label("fast again") is None


def test_no_transition_to_the_wanted_category_is_permanent(
    jira: JiraEmulator, tickets: JiraTickets, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tickets.create(ITEM).key
    # A locked-down workflow where nothing leads to a done status from here.
    every = tickets.client.transitions
    monkeypatch.setattr(
        tickets.client, "transitions", lambda issue: [t for t in every(issue) if t["name"] != "Done"]
    )
    with pytest.raises(PermanentTicketError, match="no transition leads to a done status"):
        tickets.transition(key, "done")
    assert jira.calls("do_transition") == []


# ---------------------------------------------------------------------------------------- to Temporal


def test_ticket_errors_become_application_errors_temporal_retries_correctly() -> None:
    with pytest.raises(ApplicationError) as caught, ticket_errors():
        raise RateLimited(timedelta(seconds=7))
    assert (caught.value.type, caught.value.non_retryable, caught.value.next_retry_delay) == (
        "RateLimited",
        False,
        timedelta(seconds=7),
    )
    with pytest.raises(ApplicationError) as caught, ticket_errors():
        raise TicketUnavailable("Jira search: HTTP 503", timedelta(seconds=30))
    assert (caught.value.type, caught.value.non_retryable, caught.value.next_retry_delay) == (
        "TicketUnavailable",
        False,
        timedelta(seconds=30),
    )
    with pytest.raises(ApplicationError) as caught, ticket_errors():
        raise PermanentTicketError("Jira create issue: HTTP 400: Specify a valid project ID or key")
    assert (caught.value.type, caught.value.non_retryable) == ("PermanentTicketError", True)
    assert "Specify a valid project ID or key" in str(caught.value)


def test_retry_after_as_an_http_date_and_the_default() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    delay = retry_after_of(response, None)
    assert delay is not None and timedelta(seconds=85) <= delay <= timedelta(seconds=90)
    response.headers["Retry-After"] = "soon"
    assert retry_after_of(response, DEFAULT_RETRY_AFTER) == DEFAULT_RETRY_AFTER
    assert retry_after_of(None, None) is None


def test_a_client_needs_credentials() -> None:
    with pytest.raises(ValueError, match="email and an API token"):
        jira_client("http://127.0.0.1:1")
