"""The Slack emulator's file uploads, driven by slack_sdk's own files_upload_v2 and by hand."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from tests.emulators.slack import SlackEmulator


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("general", "reports")) as emulator:
        yield emulator


def test_files_upload_v2_round_trip(slack: SlackEmulator) -> None:
    client = slack.client()
    channel = slack.channel("reports")["id"]
    response = client.files_upload_v2(
        channel=channel, content=b"a,b\r\n1,2\r\n", filename="w.csv", title="Weekly", initial_comment="hi"
    )
    assert response["file"]["name"] == "w.csv" and response["file"]["title"] == "Weekly"
    (stored,) = slack.files
    assert stored["content"] == b"a,b\r\n1,2\r\n" and stored["channels"] == [channel]
    assert stored["completed"] and stored["initial_comment"] == "hi"
    message = slack.messages("reports")[-1]
    assert message["text"] == "hi" and message["files"][0]["id"] == stored["id"]
    # The three steps, as Slack sees them: the upload itself carries no token.
    methods = [c["method"] for c in slack.calls()]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    assert slack.calls("upload")[0]["token"] is None


def test_complete_before_the_bytes_arrive_fails(slack: SlackEmulator) -> None:
    client = slack.client()
    started = client.files_getUploadURLExternal(filename="x.md", length=3)
    with pytest.raises(SlackApiError) as err:
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}], channel_id="general")
    assert err.value.response["error"] == "upload_failed"
    with pytest.raises(SlackApiError) as err:
        client.files_completeUploadExternal(files=[{"id": "F404"}])
    assert err.value.response["error"] == "file_not_found"


def test_wrong_length_and_unknown_channel(slack: SlackEmulator) -> None:
    client = slack.client()
    started = client.files_getUploadURLExternal(filename="x.md", length=3)
    # Closed at once: a response left open leaks its socket into whichever test runs at collection.
    with urllib.request.urlopen(urllib.request.Request(started["upload_url"], data=b"four", method="POST")):
        pass
    with pytest.raises(SlackApiError) as err:
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}])
    assert err.value.response["error"] == "upload_failed"
    with pytest.raises(SlackApiError) as err:
        client.files_upload_v2(channel="C404", content=b"abc", filename="y.md")
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(urllib.request.Request(f"{slack.url}/upload/F404", data=b"x", method="POST"))
    assert http.value.code == 404
    http.value.close()
