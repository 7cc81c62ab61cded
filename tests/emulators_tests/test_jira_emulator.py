"""The Jira Cloud emulator, driven by the real `jira` library (and by raw HTTP where the library hides
the wire): what the library calls, Atlassian's status codes and error bodies, faults and the log."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jira import JIRA, JIRAError

from tests.emulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraEmulator, adf_to_text, text_to_adf

ALICE = "712020:00000000-0000-4000-8000-00000000a11c"


@pytest.fixture(scope="module")
def site() -> Iterator[JiraEmulator]:
    with JiraEmulator() as emulator:
        yield emulator


@pytest.fixture
def jira(site: JiraEmulator) -> JiraEmulator:
    site.reset()
    return site


@pytest.fixture
def client(jira: JiraEmulator) -> Iterator[JIRA]:
    # Closed after the test: an open session's pooled socket would be collected, with a
    # ResourceWarning, during whichever test runs then.
    opened = jira.client()
    yield opened
    opened.close()


def raw(
    jira: JiraEmulator,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: str | None = "basic",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One HTTP request without the library: (status, decoded body or text, headers)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(jira.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth == "basic":
        token = base64.b64encode(f"{DEFAULT_EMAIL}:{DEFAULT_API_TOKEN}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    elif auth is not None:
        request.add_header("Authorization", auth)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, payload, answer_headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        status, payload, answer_headers = err.code, err.read(), dict(err.headers)
    try:
        decoded: Any = json.loads(payload) if payload else None
    except ValueError:
        decoded = payload.decode()
    return status, decoded, answer_headers


def new_issue(client: JIRA, summary: str = "Add retries", **fields: Any) -> Any:
    return client.create_issue(
        fields={"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": summary, **fields}
    )


def error(call: Any, *args: Any, **kwargs: Any) -> JIRAError:
    with pytest.raises(JIRAError) as caught:
        call(*args, **kwargs)
    return caught.value


# ---------------------------------------------------------------------------------------- server and auth


def test_binds_loopback_on_a_free_port_and_stops() -> None:
    with JiraEmulator() as one, JiraEmulator() as two:
        assert one.url.startswith("http://127.0.0.1:")
        assert one.port != two.port
        url = one.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/rest/api/2/serverInfo", timeout=1)


def test_the_library_connects_as_to_jira_cloud(jira: JiraEmulator, client: JIRA) -> None:
    info = client.server_info()
    assert info["deploymentType"] == "Cloud"
    assert info["versionNumbers"] == [1001, 0, 0]
    assert client._is_cloud  # so it uses search/jql and user/search?query=
    assert client.myself()["emailAddress"] == DEFAULT_EMAIL
    # Construction asked for serverInfo with the credentials, nothing else.
    assert [(c["operation"], c["auth"]) for c in jira.calls()] == [
        ("server_info", f"basic:{DEFAULT_EMAIL}"),
        ("server_info", f"basic:{DEFAULT_EMAIL}"),
        ("myself", f"basic:{DEFAULT_EMAIL}"),
    ]


def test_server_info_is_anonymous_but_nothing_else_is(jira: JiraEmulator) -> None:
    status, body, _ = raw(jira, "GET", "/rest/api/2/serverInfo", auth=None)
    assert status == 200 and body["baseUrl"] == jira.url
    status, body, headers = raw(jira, "GET", "/rest/api/2/myself", auth=None)
    assert status == 401
    assert body == {"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}
    assert headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_credentials_are_refused_everywhere(jira: JiraEmulator) -> None:
    err = error(JIRA, server=jira.url, basic_auth=(DEFAULT_EMAIL, "wrong"), max_retries=0)
    assert err.status_code == 401
    wrong = "Basic " + base64.b64encode(b"mallory@example.com:" + DEFAULT_API_TOKEN.encode()).decode()
    assert raw(jira, "GET", "/rest/api/2/serverInfo", auth=wrong)[0] == 401
    assert raw(jira, "GET", "/rest/api/2/serverInfo", auth="Bearer nope")[0] == 401
    assert jira.calls()[-1]["auth"] == "bearer"


def test_bearer_tokens_act_as_the_bot() -> None:
    with JiraEmulator(bearer_tokens=["pat-123"]) as jira:
        client = JIRA(server=jira.url, token_auth="pat-123", max_retries=0)
        assert client.myself()["emailAddress"] == DEFAULT_EMAIL


def test_unknown_paths_and_methods(jira: JiraEmulator) -> None:
    status, body, _ = raw(jira, "GET", "/rest/api/2/nope")
    assert status == 404 and body["errorMessages"] == ["No REST endpoint at /rest/api/2/nope"]
    assert raw(jira, "PATCH", "/rest/api/2/issue/OPS-1")[0] == 405
    assert raw(jira, "GET", "/rest/agile/1.0/board")[0] == 404


def test_fields_projects_and_issue_types(client: JIRA) -> None:
    fields = {f["id"]: f for f in client.fields()}
    assert fields["duedate"]["clauseNames"] == ["due", "duedate"]
    assert fields["statusCategory"]["name"] == "Status Category"
    assert not fields["summary"]["custom"]
    project = client.project("OPS")
    assert (project.key, project.name, [t.name for t in project.issueTypes]) == (
        "OPS",
        "Operations",
        ["Task", "Bug", "Story"],
    )
    assert [t.name for t in client.issue_types()] == ["Task", "Bug", "Story"]
    assert error(client.project, "NOPE").status_code == 404


# ---------------------------------------------------------------------------------------- issues


def test_create_answers_201_with_id_key_and_self(jira: JiraEmulator) -> None:
    body = {"fields": {"project": {"key": "OPS"}, "issuetype": {"id": "10002"}, "summary": "Broken"}}
    status, created, _ = raw(jira, "POST", "/rest/api/2/issue", body)
    assert status == 201
    assert created == {"id": "10001", "key": "OPS-1", "self": f"{jira.url}/rest/api/2/issue/10001"}
    status, second, _ = raw(jira, "POST", "/rest/api/2/issue", body)
    assert second["key"] == "OPS-2"


def test_a_created_issue_reads_back_with_jiras_field_shapes(jira: JiraEmulator, client: JIRA) -> None:
    issue = new_issue(
        client,
        description="Retry 5xx with backoff.\n\nSee INC-7.",
        labels=["INC-7", "sevflow"],
        duedate="2026-12-01",
        assignee={"accountId": ALICE},
        priority={"name": "High"},
    )
    fields = issue.fields
    assert issue.key == "OPS-1"
    assert (fields.summary, fields.description) == ("Add retries", "Retry 5xx with backoff.\n\nSee INC-7.")
    assert (fields.labels, fields.duedate, fields.priority.name) == (
        ["INC-7", "sevflow"],
        "2026-12-01",
        "High",
    )
    assert (fields.issuetype.name, fields.project.key) == ("Task", "OPS")
    assert (fields.status.name, fields.status.statusCategory.key) == ("To Do", "new")
    assert fields.assignee.displayName == "Alice Archer"
    assert fields.reporter.emailAddress == DEFAULT_EMAIL
    assert fields.resolution is None
    assert issue.raw["self"] == f"{jira.url}/rest/api/2/issue/10001"
    assert len(fields.created) == len("2026-11-12T10:00:00.000+0000") and fields.created.endswith("+0000")
    # Only the fields asked for.
    slim = client.issue("OPS-1", fields="status,labels")
    assert set(slim.raw["fields"]) == {"status", "labels"}


def test_create_refuses_with_every_field_error_at_once(jira: JiraEmulator) -> None:
    status, body, _ = raw(jira, "POST", "/rest/api/2/issue", {"fields": {}})
    assert status == 400
    assert body == {
        "errorMessages": [],
        "errors": {
            "project": "project is required",
            "issuetype": "Specify an issue type",
            "summary": "You must specify a summary of the issue.",
        },
    }
    bad = {
        "project": {"key": "NOPE"},
        "issuetype": {"name": "Epic"},
        "summary": "line\nbreak",
        "labels": ["two words"],
        "duedate": "next friday",
        "assignee": {"name": "alice"},
        "components": [{"name": "api"}],
    }
    status, body, _ = raw(jira, "POST", "/rest/api/2/issue", {"fields": bad})
    assert status == 400
    assert body["errors"] == {
        "project": "Specify a valid project ID or key",
        "issuetype": "Specify a valid issue type",
        "summary": "The summary is invalid because it contains newline characters.",
        "labels": "The label 'two words' contains spaces which is invalid.",
        "duedate": "Error parsing date string: next friday",
        "assignee": "'name' is not supported for users in GDPR strict mode: use accountId.",
        "components": "Field 'components' cannot be set. It is not on the appropriate screen, or unknown.",
    }
    assert jira.issues() == []


def test_the_library_raises_jiras_message(client: JIRA) -> None:
    err = error(new_issue, client, assignee={"accountId": "712020:nobody"})
    assert err.status_code == 400
    assert err.text == "Specified user does not exist or you do not have required permissions"


def test_version_3_speaks_atlassian_document_format(jira: JiraEmulator) -> None:
    fields = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "ADF"}
    status, body, _ = raw(jira, "POST", "/rest/api/3/issue", {"fields": {**fields, "description": "plain"}})
    assert (status, body["errors"]) == (
        400,
        {"description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"},
    )
    doc = text_to_adf("first line\n\nthird line")
    status, created, _ = raw(jira, "POST", "/rest/api/3/issue", {"fields": {**fields, "description": doc}})
    assert status == 201
    _, v3, _ = raw(jira, "GET", f"/rest/api/3/issue/{created['key']}")
    _, v2, _ = raw(jira, "GET", f"/rest/api/2/issue/{created['key']}")
    assert v3["fields"]["description"] == doc
    assert v2["fields"]["description"] == "first line\n\nthird line"
    status, body, _ = raw(jira, "POST", "/rest/api/2/issue", {"fields": {**fields, "description": doc}})
    assert (status, body["errors"]) == (400, {"description": "Operation value must be a string"})


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_adf_round_trips_plain_text(text: str) -> None:
    assert adf_to_text(text_to_adf(text) or {}) == text


def test_unknown_issues_are_404_with_jiras_message(jira: JiraEmulator, client: JIRA) -> None:
    err = error(client.issue, "OPS-99")
    assert err.status_code == 404
    assert err.text == "Issue does not exist or you do not have permission to see it."
    for method, path in [
        ("PUT", "/issue/OPS-99"),
        ("GET", "/issue/OPS-99/transitions"),
        ("POST", "/issue/OPS-99/comment"),
    ]:
        status, body, _ = raw(jira, method, f"/rest/api/2{path}", {})
        assert (status, body["errorMessages"]) == (
            404,
            ["Issue does not exist or you do not have permission to see it."],
        )


def test_keys_and_ids_both_find_an_issue_case_insensitively(client: JIRA) -> None:
    issue = new_issue(client)
    assert client.issue("ops-1").id == issue.id
    assert client.issue(issue.id).key == "OPS-1"


def test_edit_sets_fields_and_applies_update_operations(jira: JiraEmulator, client: JIRA) -> None:
    issue = new_issue(client, labels=["a", "b"])
    issue.update(fields={"summary": "Add retries with backoff", "duedate": "2026-12-24"})
    assert (issue.fields.summary, issue.fields.duedate) == ("Add retries with backoff", "2026-12-24")
    update = {"labels": [{"add": "c"}, {"remove": "a"}], "comment": [{"add": {"body": "moved"}}]}
    status, _, _ = raw(jira, "PUT", "/rest/api/2/issue/OPS-1", {"update": update})
    assert status == 204
    assert jira.issue("OPS-1")["fields"]["labels"] == ["b", "c"]
    assert jira.comments("OPS-1") == ["moved"]


def test_a_refused_edit_changes_nothing(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client, labels=["a"])
    body = {"fields": {"summary": "New title", "status": {"name": "Done"}}}
    status, answer, _ = raw(jira, "PUT", "/rest/api/2/issue/OPS-1", body)
    assert status == 400 and set(answer["errors"]) == {"status"}
    assert jira.issue("OPS-1")["fields"]["summary"] == "Add retries"


def test_assign_and_delete(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client)
    client.assign_issue("OPS-1", "alice@example.com")  # the library looks the person up by email first
    assert jira.issue("OPS-1")["fields"]["assignee"]["accountId"] == ALICE
    assert [c["operation"] for c in jira.calls()][-2:] == ["user_search", "assign_issue"]
    client.issue("OPS-1").delete()
    assert jira.issues() == []


# ---------------------------------------------------------------------------------------- workflow


def test_transitions_move_the_issue_and_set_the_resolution(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client)
    names = {t["name"]: t["to"]["statusCategory"]["key"] for t in client.transitions("OPS-1")}
    assert names == {"In Progress": "indeterminate", "Done": "done"}
    client.transition_issue("OPS-1", "Done", comment="fixed in 4813")
    done = client.issue("OPS-1")
    assert (done.fields.status.name, done.fields.status.statusCategory.key) == ("Done", "done")
    assert done.fields.resolution.name == "Done" and done.fields.resolutiondate is not None
    assert jira.comments("OPS-1") == ["fixed in 4813"]
    assert {t["name"] for t in client.transitions("OPS-1")} == {"To Do", "In Progress"}
    # Reopening clears the resolution, as Jira's simplified workflow does.
    client.transition_issue("OPS-1", "11")
    assert client.issue("OPS-1").fields.resolution is None
    assert [t["id"] for t in client.transitions("OPS-1", id="31")] == ["31"]


def test_every_status_change_keeps_the_webhook_jira_would_send(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client)
    client.transition_issue("OPS-1", "Done")  # the client's own change: Jira tells webhooks of it too
    client.add_comment("OPS-1", "not a status change")
    person = jira.set_status("OPS-1", "In Progress", by="alice@example.com")
    hooks = jira.webhooks("OPS-1")
    assert [h["webhookEvent"] for h in hooks] == ["jira:issue_updated"] * 2
    assert hooks[1] == person
    changes = [h["changelog"]["items"][0] for h in hooks]
    assert [(c["fieldId"], c["fromString"], c["toString"]) for c in changes] == [
        ("status", "To Do", "Done"),
        ("status", "Done", "In Progress"),
    ]
    assert [h["issue"]["fields"]["status"]["statusCategory"]["key"] for h in hooks] == [
        "done",
        "indeterminate",
    ]
    assert hooks[0]["user"]["emailAddress"] == DEFAULT_EMAIL
    assert hooks[1]["user"]["displayName"] == "Alice Archer"
    assert jira.webhooks("OPS-2") == []


def test_a_transition_not_available_is_400(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client)
    status, body, _ = raw(jira, "POST", "/rest/api/2/issue/OPS-1/transitions", {"transition": {"id": "11"}})
    assert (status, body["errorMessages"]) == (400, ["Transition id '11' is not valid for this issue."])
    status, body, _ = raw(jira, "POST", "/rest/api/2/issue/OPS-1/transitions", {})
    assert (status, body["errorMessages"]) == (400, ["Missing 'transition' identifier"])


def test_a_person_moving_the_issue_gives_the_webhook_payload(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client, labels=["INC-7"])
    payload = jira.set_status("OPS-1", "Done", by="alice@example.com")
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["user"]["accountId"] == ALICE
    assert payload["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert payload["changelog"]["items"] == [
        {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": "10000",
            "fromString": "To Do",
            "to": "10001",
            "toString": "Done",
        }
    ]
    assert client.issue("OPS-1").fields.status.name == "Done"


def test_comments_add_list_and_refuse_empty(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client)
    comment = client.add_comment("OPS-1", "Reminder: due tomorrow")
    assert comment.author.emailAddress == DEFAULT_EMAIL
    client.add_comment("OPS-1", "second")
    assert [c.body for c in client.comments("OPS-1")] == ["Reminder: due tomorrow", "second"]
    status, body, _ = raw(jira, "POST", "/rest/api/2/issue/OPS-1/comment", {"body": "  "})
    assert (status, body["errors"]) == (400, {"comment": "Comment body can not be empty!"})
    status, body, _ = raw(jira, "GET", "/rest/api/3/issue/OPS-1/comment?startAt=1&maxResults=1")
    assert (body["total"], len(body["comments"])) == (2, 1)
    assert body["comments"][0]["body"] == text_to_adf("second")


# ---------------------------------------------------------------------------------------- search


def test_search_by_label_the_way_sevflow_looks_for_its_own_issue(client: JIRA) -> None:
    new_issue(client, "one", labels=["INC-7", "sevflow-action-INC-7-aaaa"])
    new_issue(client, "two", labels=["INC-7", "sevflow-action-INC-7-bbbb"])
    found = client.search_issues(
        'labels = "sevflow-action-INC-7-bbbb" ORDER BY created ASC', fields=["status"]
    )
    assert [i.key for i in found] == ["OPS-2"]
    assert found[0].fields.status.statusCategory.key == "new"
    both = client.search_issues("project = OPS AND labels = INC-7 ORDER BY key ASC", fields=["summary"])
    assert [i.fields.summary for i in both] == ["one", "two"]


def test_search_jql_pages_with_next_page_token(jira: JiraEmulator, client: JIRA) -> None:
    for n in range(5):
        new_issue(client, f"issue {n}")
    seen, token = [], None
    while True:
        query = (
            "/rest/api/2/search/jql?jql=project%3DOPS%20ORDER%20BY%20key%20ASC&maxResults=2&fields=summary"
        )
        status, page, _ = raw(jira, "GET", query + (f"&nextPageToken={token}" if token else ""))
        assert status == 200
        seen += [i["key"] for i in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert seen == ["OPS-1", "OPS-2", "OPS-3", "OPS-4", "OPS-5"]
    # Without fields, Cloud's enhanced search returns ids only.
    _, page, _ = raw(jira, "POST", "/rest/api/3/search/jql", {"jql": "project = OPS", "maxResults": 1})
    assert set(page["issues"][0]) == {"expand", "id", "self", "key"}
    # The library fetches every page when maxResults is 0.
    assert len(client.search_issues("project = OPS", maxResults=0, fields=["summary"])) == 5


def test_the_older_search_pages_with_start_at(jira: JiraEmulator, client: JIRA) -> None:
    for n in range(3):
        new_issue(client, f"issue {n}")
    status, page, _ = raw(
        jira,
        "POST",
        "/rest/api/2/search",
        {"jql": "project = OPS ORDER BY key", "startAt": 1, "maxResults": 1},
    )
    assert status == 200
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 1, 3)
    assert [i["key"] for i in page["issues"]] == ["OPS-2"]
    assert "comment" not in page["issues"][0]["fields"]  # *navigable by default


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("", "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."),
        (
            "ORDER BY created",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
        ("colour = red", "Field 'colour' does not exist or you do not have permission to view it."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("status = Blocked", "The value 'Blocked' does not exist for the field 'status'."),
        ("key = OPS-404", "An issue with key 'OPS-404' does not exist for field 'key'."),
        ("labels = a OR labels = b", "The emulator's JQL joins clauses with AND only; OR is not supported."),
        (
            "summary ~ retries",
            "The emulator cannot search by 'summary': use project, labels, status, statusCategory or key.",
        ),
        ("labels ~ a", "The emulator supports =, !=, in and not in; not '~' (after 'labels')."),
        (
            "labels = ",
            "Error in the JQL Query: Expecting a value after 'labels ='. The query is 'labels = '.",
        ),
        (
            "labels = a labels = b",
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'labels'. "
            "The query is 'labels = a labels = b'.",
        ),
    ],
)
def test_jql_errors_are_400_with_a_message(jira: JiraEmulator, jql: str, message: str) -> None:
    status, body, _ = raw(jira, "POST", "/rest/api/3/search/jql", {"jql": jql})
    assert (status, body) == (400, {"errorMessages": [message], "errors": {}})


LABELS = ["a", "b", "c"]
STATUSES = ["To Do", "In Progress", "Done"]
CATEGORY = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}


Issue = tuple[str, list[str], str]  # key, labels, status name


@st.composite
def clauses(draw: st.DrawFn) -> tuple[str, Any]:
    """A JQL clause and the same test as a Python predicate over an Issue."""
    kind = draw(st.sampled_from(["labels", "status", "statusCategory", "key", "project"]))
    choices = {
        "labels": LABELS,
        "status": STATUSES,
        "statusCategory": ["new", "indeterminate", "done", "Done", "To Do"],
        "key": ["OPS-1", "OPS-2", "OPS-3"],
        "project": ["OPS"],
    }[kind]
    many = draw(st.booleans())
    values = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=2 if many else 1, unique=True))
    # `key = X` naming an issue that does not exist is a 400 (tested above): keys are only negated.
    negate = kind == "key" or draw(st.booleans())

    def hit(issue: Issue) -> bool:
        key, labels, status = issue
        if kind == "labels":
            return any(v in labels for v in values)
        if kind == "status":
            return status in values
        if kind == "statusCategory":
            return CATEGORY[status] in {CATEGORY.get(v, v) for v in values}
        if kind == "key":
            return key in values
        return True

    quoted = ", ".join(f'"{v}"' for v in values)
    if many:
        text = f"{kind} {'not in' if negate else 'in'} ({quoted})"
    else:
        text = f"{kind} {'!=' if negate else '='} {quoted}"
    return text, (lambda issue: not hit(issue)) if negate else hit


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    issues=st.lists(
        st.tuples(st.lists(st.sampled_from(LABELS), unique=True), st.sampled_from(STATUSES)),
        min_size=1,
        max_size=6,
    ),
    query=st.lists(clauses(), min_size=1, max_size=3),
)
def test_jql_subset_matches_a_python_filter(
    jira: JiraEmulator, issues: list[tuple[list[str], str]], query: list[tuple[str, Any]]
) -> None:
    jira.reset()
    client = jira.client(get_server_info=False)
    client.deploymentType = "Cloud"
    try:
        for n, (labels, status) in enumerate(issues, start=1):
            new_issue(client, f"issue {n}", labels=labels)
            if status != "To Do":
                jira.set_status(f"OPS-{n}", status)
        jql = " AND ".join(text for text, _ in query) + " ORDER BY key ASC"
        found = [i.key for i in client.search_issues(jql, fields=["labels"], maxResults=0)]
    finally:
        client.close()
    records = [(f"OPS-{n}", labels, status) for n, (labels, status) in enumerate(issues, start=1)]
    assert found == [r[0] for r in records if all(predicate(r) for _, predicate in query)], jql


# ---------------------------------------------------------------------------------------- users


def test_user_search_by_email_as_the_library_does_on_cloud(jira: JiraEmulator, client: JIRA) -> None:
    users = client.search_users(query="alice@example.com")
    assert [(u.accountId, u.displayName, u.emailAddress) for u in users] == [
        (ALICE, "Alice Archer", "alice@example.com")
    ]
    assert jira.calls("user_search")[-1]["query"]["query"] == ["alice@example.com"]
    assert [u.displayName for u in client.search_users(query="ba")] == ["Bob Baker"]  # a word of the name
    assert client.user(ALICE).displayName == "Alice Archer"


def test_hidden_emails_still_match_and_inactive_people_do_not(jira: JiraEmulator, client: JIRA) -> None:
    jira.add_user("erin@example.com", "Erin Evans", email_visible=False)
    jira.add_user("frank@example.com", "Frank Fox", active=False)
    [erin] = client.search_users(query="erin@example.com")
    assert not hasattr(erin, "emailAddress")
    assert list(client.search_users(query="frank@example.com")) == []
    assert [u.displayName for u in client.search_users(query="frank@example.com", includeInactive=True)] == [
        "Frank Fox"
    ]


def test_user_search_refuses_username_as_cloud_does(jira: JiraEmulator) -> None:
    status, body, _ = raw(jira, "GET", "/rest/api/2/user/search?username=alice")
    assert (status, body["errorMessages"]) == (
        400,
        ["The query parameter 'username' is not supported in GDPR strict mode."],
    )
    assert raw(jira, "GET", "/rest/api/2/user/search")[0] == 400
    assert raw(jira, "GET", "/rest/api/2/user?accountId=nobody")[0] == 404


# ---------------------------------------------------------------------------------------- faults and the log


def test_fail_next_counts_down_and_names_the_operation(jira: JiraEmulator, client: JIRA) -> None:
    jira.fail_next("create_issue", 2, status=500)
    assert error(new_issue, client).status_code == 500
    assert error(new_issue, client).status_code == 500
    assert new_issue(client).key == "OPS-1"  # the third goes through, and nothing was created before
    assert [c["fault"] for c in jira.calls("create_issue")] == [True, True, False]
    assert [c["status"] for c in jira.calls("create_issue")] == [500, 500, 201]


def test_429_carries_retry_after_and_the_rate_limit_headers(jira: JiraEmulator) -> None:
    jira.fail_next("*", status=429, retry_after=7)
    status, body, headers = raw(jira, "GET", "/rest/api/2/myself")
    assert (status, body["errorMessages"]) == (429, ["Rate limit exceeded."])
    assert headers["Retry-After"] == "7"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Reason"] == "jira-burst-based"
    assert raw(jira, "GET", "/rest/api/2/myself")[0] == 200


def test_the_librarys_retries_are_off_with_max_retries_0(jira: JiraEmulator, client: JIRA) -> None:
    # ResilientSession would sleep (up to 60 s) and retry a 429 or a 503 by itself.
    jira.fail_next("get_issue", 3, status=503, retry_after=30)
    new_issue_started = time.monotonic()
    err = error(client.issue, "OPS-1")
    assert err.status_code == 503
    assert time.monotonic() - new_issue_started < 2
    assert len(jira.calls("get_issue")) == 1


def test_a_lost_response_still_creates_the_issue(jira: JiraEmulator, client: JIRA) -> None:
    jira.fail_next("create_issue", status=500, after_effect=True)
    assert error(new_issue, client, labels=["sevflow-x"]).status_code == 500
    assert [i["key"] for i in jira.issues()] == ["OPS-1"]


def test_proxy_errors_are_html(jira: JiraEmulator) -> None:
    jira.fail_next("server_info", status=502)
    status, body, headers = raw(jira, "GET", "/rest/api/2/serverInfo")
    assert status == 502 and "<h1>Bad Gateway</h1>" in body
    assert headers["Content-Type"].startswith("text/html")


def test_an_outage_answers_everything_until_it_ends(jira: JiraEmulator) -> None:
    jira.fail_next("myself", status=500)
    jira.start_outage(status=503)
    assert jira.in_outage
    assert [raw(jira, "GET", p)[0] for p in ("/rest/api/2/serverInfo", "/rest/api/2/myself")] == [503, 503]
    jira.end_outage()
    # The scripted fault waited for the outage to end.
    assert raw(jira, "GET", "/rest/api/2/myself")[0] == 500
    jira.start_outage(until=time.time() + 0.3)
    assert raw(jira, "GET", "/rest/api/2/myself")[0] == 503
    time.sleep(0.35)
    assert raw(jira, "GET", "/rest/api/2/myself")[0] == 200
    assert not jira.in_outage


def test_fail_ratio_is_seeded(jira: JiraEmulator) -> None:
    def run() -> list[int]:
        jira.reset()
        jira.fail_ratio(0.5, statuses=(429, 503), seed=42, operations=["myself"])
        return [raw(jira, "GET", "/rest/api/2/myself")[0] for _ in range(20)] + [
            raw(jira, "GET", "/rest/api/2/field")[0]
        ]

    first = run()
    assert first == run()
    assert {429, 503, 200} <= set(first[:-1])
    assert first[-1] == 200  # other operations are left alone
    jira.fail_ratio(0)
    assert raw(jira, "GET", "/rest/api/2/myself")[0] == 200


def test_the_request_log(jira: JiraEmulator, client: JIRA) -> None:
    new_issue(client, labels=["INC-7"])
    [call] = jira.calls("create_issue")
    assert call["http_method"] == "POST"
    assert call["path"] == "/rest/api/2/issue"
    assert call["version"] == "2"
    assert call["body"]["fields"]["labels"] == ["INC-7"]
    assert call["headers"]["content-type"] == "application/json"
    assert call["status"] == 201 and call["response"]["key"] == "OPS-1"
    assert call["auth"] == f"basic:{DEFAULT_EMAIL}"


def test_many_clients_at_once_get_distinct_keys(jira: JiraEmulator) -> None:
    keys: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        client = jira.client()
        try:
            for _ in range(5):
                key = new_issue(client).key
                with lock:
                    keys.append(key)
        finally:
            client.close()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(keys, key=lambda k: int(k.split("-")[1])) == [f"OPS-{n}" for n in range(1, 41)]


def test_wait_until_sees_changes_made_by_other_threads(jira: JiraEmulator, client: JIRA) -> None:
    timer = threading.Timer(0.1, lambda: new_issue(client))
    timer.start()
    assert jira.wait_until(lambda: jira.issues(), timeout=5)[0]["key"] == "OPS-1"
    timer.join()


def test_delay_holds_one_operation_without_blocking_others(jira: JiraEmulator) -> None:
    jira.delay("myself", 0.5, times=1)
    slow: list[float] = []

    def call_myself() -> None:
        started = time.monotonic()
        raw(jira, "GET", "/rest/api/2/myself")
        slow.append(time.monotonic() - started)

    thread = threading.Thread(target=call_myself)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert raw(jira, "GET", "/rest/api/2/field")[0] == 200
    assert time.monotonic() - started < 0.3  # the held request does not hold the site
    thread.join()
    assert slow[0] >= 0.5
    started = time.monotonic()
    raw(jira, "GET", "/rest/api/2/myself")
    assert time.monotonic() - started < 0.3  # `times=1`: only the next call was held
