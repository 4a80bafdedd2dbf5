"""deploy/: what an operator running replicas relies on, read from the files as Docker would read them.

No Docker engine runs here, so these read compose.yaml (PyYAML), the Dockerfile (its
instructions) and .env.example, and pass the replicas' environment through the bot's own
settings check.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from slackbot.config import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"


def _example_env() -> dict[str, str]:
    env = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:?message} and ${VAR:-default}, from the operator's .env."""
    def one(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition(":-")
        name = name.split(":?")[0]
        return env.get(name) or default
    return re.sub(r"\$\{([^}]+)\}", one, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _bots(compose: dict) -> dict[str, dict]:
    """The services built from deploy/Dockerfile: the bot's replicas."""
    return {
        name: service for name, service in compose["services"].items()
        if isinstance(service.get("build"), dict) and service["build"].get("dockerfile") == "deploy/Dockerfile"
    }


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in _dockerfile():
        if instruction == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(args))
    return env


def test_two_bot_replicas_run(compose):
    bots = _bots(compose)
    assert sum(service.get("deploy", {}).get("replicas", 1) for service in bots.values()) >= 2


def test_every_replica_uses_the_same_postgres_service(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    pg_env = _environment(postgres)
    urls = {_environment(service)["NEWSPEC_DATABASE_URL"] for service in _bots(compose).values()}
    assert len(urls) == 1
    url = urlsplit(_interpolate(urls.pop(), _example_env()))
    assert url.scheme == "postgresql" and url.hostname == "postgres"
    assert url.username == pg_env["POSTGRES_USER"] and url.path == "/" + pg_env["POSTGRES_DB"]
    assert url.password == _interpolate(pg_env["POSTGRES_PASSWORD"], _example_env())


def test_postgres_keeps_its_data_on_a_named_volume(compose):
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(m.split(":")[0] in compose["volumes"] and m.split(":")[1] == "/var/lib/postgresql/data" for m in mounts)


def test_the_replicas_wait_for_a_healthy_postgres(compose):
    assert compose["services"]["postgres"]["healthcheck"]["test"]
    for service in _bots(compose).values():
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_generations_dir_is_one_named_volume_every_replica_mounts(compose):
    shared = set()
    for service in _bots(compose).values():
        folder = _environment(service).get("GENERATIONS_DIR") or _dockerfile_env()["GENERATIONS_DIR"]
        sources = {m.split(":")[0] for m in service["volumes"] if m.split(":")[1] == folder}
        assert len(sources) == 1 and sources <= set(compose["volumes"]), (folder, service["volumes"])
        shared |= sources
    assert len(shared) == 1


def test_the_replicas_environment_passes_the_bots_start_up_checks(compose, tmp_path):
    """What compose.yaml and the operator's .env give a replica, as the bot reads it (the shared volume: a temp dir)."""
    example = _example_env()
    for service in _bots(compose).values():
        env = {**_dockerfile_env(), **example, **_environment(service)}
        env = {key: _interpolate(value, example) for key, value in env.items()}
        env["GENERATIONS_DIR"] = str(tmp_path)
        env["NEWSPEC_SKILL_DIR"] = str(REPO_ROOT / ".claude")  # the image's copy of it is checked below
        settings = Settings.from_env(env)
        assert settings.database_url is not None and urlsplit(settings.database_url).hostname == "postgres"


def test_env_example_holds_placeholders_for_what_the_operator_sets():
    example = _example_env()
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ANTHROPIC_API_KEY", "POSTGRES_PASSWORD"):
        assert example.get(name), name
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ANTHROPIC_API_KEY"):
        assert example[name].endswith("change-me"), "placeholders only, never a real token"


def test_a_replica_gets_time_to_finish_its_answers_on_stop(compose):
    """Docker's default 10 s would kill a replica inside NEWSPEC_SHUTDOWN_GRACE (30 s)."""
    for service in _bots(compose).values():
        grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert grace and int(grace.group(1)) > 30


def test_the_image_runs_the_bot_as_a_user_other_than_root():
    users = [args.split(":")[0] for instruction, args in _dockerfile() if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_the_image_starts_the_bot_with_metrics_on_the_exposed_port(compose):
    steps = _dockerfile()
    command = next(args for instruction, args in reversed(steps) if instruction == "CMD")
    argv = json.loads(command)
    assert argv[:3] == ["python", "-m", "slackbot"]
    port = argv[argv.index("--metrics-port") + 1]
    assert argv[argv.index("--metrics-host") + 1] == "0.0.0.0"  # reachable from outside the container
    assert any(instruction == "EXPOSE" and port in args.split() for instruction, args in steps)
    for service in _bots(compose).values():
        assert any(str(mapping).endswith(":" + port) for mapping in service["ports"])


def test_the_image_finds_the_interview_skill():
    """`pip install .` puts the package in site-packages, away from .claude/: the skill dir is named."""
    skill = Path(_dockerfile_env()["NEWSPEC_SKILL_DIR"])
    copies = [args.split() for instruction, args in _dockerfile() if instruction == "COPY"]
    workdir = next(Path(args) for instruction, args in _dockerfile() if instruction == "WORKDIR")
    assert any(".claude/" in parts[:-1] and (workdir / parts[-1]).resolve() == skill for parts in copies)
    assert (REPO_ROOT / ".claude" / "commands" / "create-spec.md").is_file()
