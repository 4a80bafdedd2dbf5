"""Project names: reserved words and Windows device names are refused, and names
that differ only in case are one project (they share a folder on macOS and
Windows), in the store, on disk and through `/newspec`."""

from __future__ import annotations

import json

import pytest

from slackbot.slack.blocks import CONTINUE_ACTION
from slackbot.spec.files import InvalidName, check_name, existing_spelling, project_dir
from slackbot.store import InterviewRecord, SqliteStore, Status
from tests.fakes import anthropic as fa
from tests.test_interview_flow import finished_spec

pytestmark = pytest.mark.both_engines

DEVICES = ["con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))]


# -- reserved names ----------------------------------------------------------------


@pytest.mark.parametrize("text", [*DEVICES, "CON", "Nul", "LPT9", "Com1", " aux "])
def test_windows_device_names_are_reserved(text):
    with pytest.raises(InvalidName) as problem:
        check_name(text)
    message = str(problem.value)
    assert f"`{text.strip()}` is a reserved device name on Windows" in message
    assert "Pick another" in message
    assert check_name(f"{text.strip().lower()}-app")  # the suggested name is a valid one


@pytest.mark.parametrize("text", ["list", "help", "usage", "USAGE", "Help", "budget", "Budget"])
def test_the_commands_own_words_are_reserved(text):
    with pytest.raises(InvalidName) as problem:
        check_name(text)
    assert "one of the command's own words" in str(problem.value)


def test_only_the_exact_words_are_reserved_and_only_for_new_projects(tmp_path):
    for text in ["con-app", "console", "com10", "lpt0", "com", "nul_", "listing", "helper", "auxx", "budgets"]:
        assert check_name(text) == text
    with pytest.raises(InvalidName):
        check_name("usage")
    # An interview saved before `usage` was reserved still finds its folder after an upgrade.
    (tmp_path / "usage").mkdir()
    assert project_dir(tmp_path, "usage") == (tmp_path / "usage").resolve()


# -- one project per name, whatever the case ----------------------------------------


def test_an_existing_folder_is_found_case_insensitively(tmp_path):
    (tmp_path / "shop").mkdir()
    assert existing_spelling(tmp_path, "SHOP") == "shop"
    assert existing_spelling(tmp_path, "Shop") == "shop"
    assert project_dir(tmp_path, "Shop") == (tmp_path / "shop").resolve()
    assert existing_spelling(tmp_path, "blog") == "blog"  # nothing there: the name as given
    assert project_dir(tmp_path, "Blog") == (tmp_path / "Blog").resolve()


def test_an_exact_match_wins_over_another_case(tmp_path):
    (tmp_path / "Shop").mkdir()
    (tmp_path / "shop").mkdir()
    assert project_dir(tmp_path, "shop").name == "shop"
    assert project_dir(tmp_path, "Shop").name == "Shop"
    assert project_dir(tmp_path, "SHOP").name in ("Shop", "shop")


def test_a_file_is_not_a_project_folder(tmp_path):
    (tmp_path / "shop").write_text("not a folder")
    assert existing_spelling(tmp_path, "SHOP") == "SHOP"


def test_a_missing_generations_folder_is_no_problem(tmp_path):
    assert existing_spelling(tmp_path / "nowhere", "Shop") == "Shop"


async def test_the_store_finds_a_name_in_any_case(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    try:
        await store.add_interview(InterviewRecord("C1", "1.0", "shop", "U1", created_at=1.0))
        assert (await store.find_by_name("SHOP")).name == "shop"
        assert (await store.find_by_name("Shop")).thread_ts == "1.0"
        await store.update_interview("C1", "1.0", status=Status.CANCELLED)
        assert await store.find_by_name("SHOP") is None
        assert (await store.find_by_name("SHOP", include_cancelled=True)).thread_ts == "1.0"
    finally:
        await store.close()


# -- through the bot ------------------------------------------------------------------


async def test_a_name_in_another_case_points_to_the_existing_interview(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await h.slack.send_slash_command("SHOP", user_id="U2", channel_id="C1")
    # The note is the command's last act: once it shows, the command has been handled.
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U2")), None))
    assert note.text.startswith("*shop* already has an interview") and "|thread>" in note.text
    assert [m.ts for m in h.slack.messages if "Spec interview for" in m.text] == [root_ts]
    assert sorted(p.name for p in h.generations.iterdir()) == ["shop"]
    assert len(h.model.requests) == 1


async def test_a_name_in_another_case_continues_the_existing_folder(start_bot):
    h = await start_bot()
    project = h.project("shop")
    finished_spec(project)

    def reads_existing(request: fa.ModelRequest) -> fa.Turn:
        assert "already has a spec" in request.last_user_text
        return fa.text("I've read the shop spec.")

    h.model.script(str(project), [reads_existing])
    await h.slack.send_slash_command("Shop", user_id="U1", channel_id="C1")
    offer = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None))
    assert offer.text.startswith("*shop* already has a finished spec")
    button = next(e for b in offer.blocks if b["type"] == "actions" for e in b["elements"])
    assert json.loads(button["value"])["name"] == "shop"
    await h.slack.send_action(CONTINUE_ACTION, button["value"], user_id="U1", channel_id="C1")
    root = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*shop*" in m.text), None))
    await h.wait_for_text("C1", root.ts, "I've read the shop spec.")
    assert sorted(p.name for p in h.generations.iterdir()) == ["shop"]
    h.model.verify()


@pytest.mark.parametrize("text", ["con", "LPT1", "nul"])
async def test_a_reserved_name_changes_nothing_and_says_why(start_bot, text):
    h = await start_bot()
    delivery = await h.slack.send_slash_command(text, user_id="U1", channel_id="C1")
    assert "reserved" in delivery.ack["text"] or "command's own words" in delivery.ack["text"]
    assert f"`{text}`" in delivery.ack["text"]
    # Refused in the ack itself, and the command returns right after it: nothing is left running.
    assert h.slack.messages == [] and h.model.requests == []
    assert not h.generations.exists() or list(h.generations.iterdir()) == []


async def test_a_bad_name_is_echoed_escaped(start_bot):
    h = await start_bot()
    delivery = await h.slack.send_slash_command("<!channel> hi", user_id="U1", channel_id="C1")
    assert "&lt;!channel&gt; hi" in delivery.ack["text"] and "<!channel>" not in delivery.ack["text"]
    assert h.slack.messages == []
