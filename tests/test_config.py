"""Start-up settings: clear one-line errors, sensible defaults."""

import pytest

from slackbot.config import ConfigError, Settings

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(BASE)
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.generations_dir == tmp_path / "generations"
    assert settings.state_dir == tmp_path / ".newspec"
    assert settings.claude_model == "opus"
    assert settings.skill_file.is_file()


def test_api_url_gets_its_trailing_slash():
    assert Settings.from_env({**BASE, "SLACK_API_URL": "http://127.0.0.1:9/api"}).slack_api_url == (
        "http://127.0.0.1:9/api/"
    )


@pytest.mark.parametrize(
    ("env", "mode", "variable"),
    [
        ({}, "socket", "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "socket", "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "socket", "SLACK_APP_TOKEN"),
        ({**BASE, "SLACK_APP_TOKEN": "xoxb-2"}, "socket", "SLACK_APP_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "http", "SLACK_SIGNING_SECRET"),
        ({**BASE, "SLACK_API_URL": "slack.com"}, "socket", "SLACK_API_URL"),
        ({**BASE, "LOG_LEVEL": "loud"}, "socket", "LOG_LEVEL"),
        ({**BASE, "NEWSPEC_SKILL_DIR": "/nonexistent"}, "socket", "NEWSPEC_SKILL_DIR"),
    ],
)
def test_bad_settings_name_the_variable(env, mode, variable):
    with pytest.raises(ConfigError) as problem:
        Settings.from_env(env, mode=mode)
    assert problem.value.variable == variable
    assert str(problem.value).startswith(variable + ":")


def test_http_mode_needs_no_app_token():
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, mode="http")
    assert settings.slack_app_token is None


def test_lifecycle_settings_take_minutes_and_counts():
    settings = Settings.from_env(
        {**BASE, "NEWSPEC_IDLE_MINUTES": "0.05", "NEWSPEC_MAX_LIVE_SESSIONS": "2", "NEWSPEC_TURN_TIMEOUT": "1.5"}
    )
    assert (settings.idle_seconds, settings.max_live_sessions, settings.turn_timeout_seconds) == (3.0, 2, 90.0)
    assert Settings.from_env(BASE).max_live_sessions >= 1


def test_streams_live_about_five_minutes_unless_told():
    assert Settings.from_env(BASE).stream_lifetime_seconds == 300
    assert Settings.from_env({**BASE, "NEWSPEC_STREAM_LIFETIME": "120"}).stream_lifetime_seconds == 120


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NEWSPEC_IDLE_MINUTES", "soon"), ("NEWSPEC_MAX_LIVE_SESSIONS", "1.5"), ("NEWSPEC_TURN_TIMEOUT", "-1")],
)
def test_bad_lifecycle_numbers_name_the_variable(variable, value):
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, variable: value})
    assert problem.value.variable == variable


def test_terminal_chat_needs_no_slack_settings():
    settings = Settings.from_env({}, mode="chat")
    assert settings.slack_bot_token == "" and settings.slack_app_token is None


def test_owner_only_flag():
    assert Settings.from_env({**BASE, "NEWSPEC_THREAD_OWNER_ONLY": "1"}).thread_owner_only
    assert not Settings.from_env(BASE).thread_owner_only
    with pytest.raises(ConfigError):
        Settings.from_env({**BASE, "NEWSPEC_THREAD_OWNER_ONLY": "maybe"})


def test_allow_lists():
    settings = Settings.from_env({**BASE, "NEWSPEC_ALLOWED_USERS": "U1AA, U2BB", "NEWSPEC_ALLOWED_CHANNELS": "C9ZZ"})
    assert settings.refusal("U1AA", "C9ZZ") is None
    assert "list of users" in settings.refusal("U3CC", "C9ZZ")
    assert "channel" in settings.refusal("U1AA", "C0XX")
    assert Settings.from_env(BASE).refusal("anyone", "anywhere") is None
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, "NEWSPEC_ALLOWED_USERS": "@ana"})
    assert problem.value.variable == "NEWSPEC_ALLOWED_USERS"


def test_rate_limit_overrides():
    settings = Settings.from_env({**BASE, "NEWSPEC_RATE_LIMITS": "chat.update=40, chat.startStream=10"})
    assert settings.rate_limits == (("chat.update", 40), ("chat.startStream", 10))
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, "NEWSPEC_RATE_LIMITS": "update=fast"})
    assert problem.value.variable == "NEWSPEC_RATE_LIMITS"


@pytest.mark.parametrize(
    "value", ["chat.update=0", "chat.update=-1", "chat.update=nan", "chat.update=inf", "chat.update=1.5",
              "chat.update=²", "chat.update=40,chat.startStream=0"],
)
def test_rate_limits_must_be_positive_whole_numbers(value):
    """A budget of 0 would divide by zero in the scheduler and stop every Slack write."""
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, "NEWSPEC_RATE_LIMITS": value})
    assert problem.value.variable == "NEWSPEC_RATE_LIMITS"
    assert "\n" not in str(problem.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NEWSPEC_IDLE_MINUTES", "nan"), ("NEWSPEC_IDLE_MINUTES", "inf"), ("NEWSPEC_IDLE_MINUTES", "1e308"),
        ("NEWSPEC_TURN_TIMEOUT", "nan"), ("NEWSPEC_TURN_TIMEOUT", "0"), ("NEWSPEC_SHUTDOWN_GRACE", "inf"),
        ("NEWSPEC_MAX_LIVE_SESSIONS", "0"), ("NEWSPEC_MAX_LIVE_SESSIONS", "²"), ("NEWSPEC_MESSAGES_PER_MINUTE", "0"),
        ("NEWSPEC_STARTS_PER_HOUR", "-3"), ("NEWSPEC_TRANSCRIPT_DAYS", "nan"), ("NEWSPEC_CLI_NICE", "²"),
        ("NEWSPEC_STREAM_LIFETIME", "0"),
    ],
)
def test_numbers_that_would_stall_or_divide_by_zero_are_refused(variable, value):
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, variable: value})
    assert problem.value.variable == variable


# Several replicas on one PostgreSQL database (NEWSPEC_DATABASE_URL): SQLite under NEWSPEC_STATE_DIR stays the default.
PG_URL = "postgresql://newspec:secret@postgres:5432/newspec"


def test_without_a_database_url_the_state_stays_in_sqlite():
    assert Settings.from_env(BASE).database_url is None


@pytest.mark.parametrize("url", [PG_URL, "postgres://newspec:secret@db/newspec"])
def test_a_postgresql_url_is_taken_with_a_shared_generations_dir(url, tmp_path):
    settings = Settings.from_env({**BASE, "NEWSPEC_DATABASE_URL": url, "GENERATIONS_DIR": str(tmp_path)})
    assert settings.database_url == url
    assert settings.generations_dir == tmp_path


@pytest.mark.parametrize("url", ["sqlite:///state.db", "mysql://u:p@db/newspec", "postgres-db:5432"])
def test_a_database_url_that_is_not_postgresql_names_the_variable(url, tmp_path):
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, "NEWSPEC_DATABASE_URL": url, "GENERATIONS_DIR": str(tmp_path)})
    assert problem.value.variable == "NEWSPEC_DATABASE_URL"
    assert "postgresql://" in str(problem.value)


def test_a_refused_database_url_never_shows_its_password(tmp_path):
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, "NEWSPEC_DATABASE_URL": "mysql://u:hunter2@db/x", "GENERATIONS_DIR": str(tmp_path)})
    assert "hunter2" not in str(problem.value)


def test_replicas_refuse_to_start_without_an_explicit_generations_dir(tmp_path, monkeypatch):
    """The default ./generations is each replica's own folder: projects would split between them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "generations").mkdir()
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, "NEWSPEC_DATABASE_URL": PG_URL})
    assert problem.value.variable == "GENERATIONS_DIR"
    assert "NEWSPEC_DATABASE_URL" in str(problem.value) and "shared" in str(problem.value)


@pytest.mark.parametrize("make", ["missing", "a file"])
def test_replicas_refuse_a_generations_dir_that_is_not_a_writable_folder(make, tmp_path):
    target = tmp_path / "generations"
    if make == "a file":
        target.write_text("not a folder")
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, "NEWSPEC_DATABASE_URL": PG_URL, "GENERATIONS_DIR": str(target)})
    assert problem.value.variable == "GENERATIONS_DIR"
    assert str(target) in str(problem.value) and "shared" in str(problem.value)


def test_without_a_database_url_generations_dir_may_be_created_later(tmp_path):
    """One process on SQLite creates its folder itself, as before."""
    target = tmp_path / "not-yet"
    assert Settings.from_env({**BASE, "GENERATIONS_DIR": str(target)}).generations_dir == target


def test_the_settings_never_print_the_database_password(tmp_path):
    url = "postgresql://newspec:hunter2@postgres/newspec"
    settings = Settings.from_env({**BASE, "NEWSPEC_DATABASE_URL": url, "GENERATIONS_DIR": str(tmp_path)})
    assert "hunter2" not in repr(settings)
