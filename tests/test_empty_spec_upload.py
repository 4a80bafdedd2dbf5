"""A spec file Claude left empty: Slack refuses a zero-length upload
(files.getUploadURLExternal answers `invalid_arguments`, as the fake does), so the
bot must not try it. Claude is asked to fill the file; if it stays empty, the
other file is uploaded and the thread says plainly which one is empty, instead of
"Slack refused the upload".

Through the real bot, the fake Slack and the real `claude` CLI.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_validate import writes


async def test_the_fake_refuses_an_empty_upload_as_slack_does():
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        try:
            await client.files_upload_v2(channel="C1", content=b"", filename="empty.md")
        except SlackApiError as exc:
            assert exc.response["error"] == "invalid_arguments"
        else:
            raise AssertionError("an empty upload was taken")
        assert slack.uploads == []


async def test_an_empty_prompt_is_sent_back_to_claude_and_never_uploaded(start_bot):
    h = await start_bot()
    project = h.project("shop")

    def told_it_is_empty(request: fa.ModelRequest) -> fa.Turn:
        assert "initializer_prompt.md: is empty" in request.last_user_text
        return fa.text("I think it's fine.")

    h.model.script(
        str(project),
        [fa.text("Ready?"), *writes(project, spec_for("shop"), ""), fa.text("Written."),
         told_it_is_empty, fa.text("Still fine.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "is empty, so I didn't upload it")
    thread = h.slack.thread_text("C1", root_ts)
    assert "refused the upload" not in thread
    assert "`initializer_prompt.md` is empty, so I didn't upload it" in thread
    assert [u.filename for u in h.slack.uploads] == ["app_spec.txt"]
    assert h.slack.uploads[0].content.decode() == spec_for("shop")
    h.model.verify()


async def test_when_every_spec_file_is_empty_nothing_is_uploaded_and_the_thread_says_why(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(
        str(project),
        [fa.text("Ready?"), *writes(project, "", ""), fa.text("Written."), fa.text("Fine."), fa.text("Fine.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "nothing to upload")
    thread = h.slack.thread_text("C1", root_ts)
    assert "`app_spec.txt` and `initializer_prompt.md` are empty" in thread
    assert "refused the upload" not in thread
    assert h.slack.uploads == [] and h.slack.calls_to("files.getUploadURLExternal") == []
    h.model.verify()


def test_the_check_names_an_empty_prompt(tmp_path):
    from slackbot.spec.validate import validate_spec

    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts/app_spec.txt").write_text(spec_for("shop"))
    (tmp_path / "prompts/initializer_prompt.md").write_text(" \n")
    assert [str(p) for p in validate_spec(tmp_path)] == [
        "initializer_prompt.md: is empty; AutoForge's initializer needs its instructions and the feature count"
    ]
    (tmp_path / "prompts/initializer_prompt.md").write_text(prompt_for("shop"))
    assert validate_spec(tmp_path) == []
