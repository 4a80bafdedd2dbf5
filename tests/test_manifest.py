"""manifest.yml, checked against the fields Slack documents for app manifests, the
scopes and events the code needs, and the README's set-up steps."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((REPO / "manifest.yml").read_text())
SCOPES = set(MANIFEST["oauth_config"]["scopes"]["bot"])
EVENTS = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
# Slack's documented top-level manifest sections.
SECTIONS = {
    "_metadata", "display_information", "features", "oauth_config", "settings", "app_directory",
    "functions", "workflows", "datastores", "outgoing_domains", "types", "external_auth_providers",
}


def test_the_manifest_uses_only_documented_fields_within_their_limits():
    assert set(MANIFEST) <= SECTIONS
    info = MANIFEST["display_information"]
    assert 1 <= len(info["name"]) <= 35 and len(info.get("description", "")) <= 140
    assert set(info) <= {"name", "description", "background_color", "long_description"}
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    features = MANIFEST["features"]
    assert len(features["bot_user"]["display_name"]) <= 80
    for command in features["slash_commands"]:
        assert set(command) <= {"command", "url", "description", "usage_hint", "should_escape"}
        assert command["command"].startswith("/") and len(command["command"]) <= 32
        assert 1 <= len(command["description"]) <= 2000
    settings = MANIFEST["settings"]
    assert set(settings) <= {
        "event_subscriptions", "interactivity", "org_deploy_enabled", "socket_mode_enabled",
        "token_rotation_enabled", "allowed_ip_address_ranges", "incoming_webhooks", "function_runtime",
    }
    assert all(re.fullmatch(r"[a-z]+(?:[.:][a-z_]+)*", scope) for scope in SCOPES)


def test_every_event_has_its_scope_and_no_scope_goes_unused():
    needs = {"message.channels": "channels:history", "message.groups": "groups:history", "app_home_opened": None}
    # Interviews live in channels; there is no DM tab to message the bot in, only the Home tab.
    assert EVENTS == set(needs)
    assert {needs[event] for event in EVENTS} - {None} <= SCOPES
    assert MANIFEST["features"]["app_home"] == {"home_tab_enabled": True, "messages_tab_enabled": False}
    code = "\n".join(p.read_text() for p in (REPO / "slackbot").rglob("*.py"))
    used_by_code = {
        "chat:write": "chat_postMessage",
        "files:write": "files_upload_v2",
        "files:read": "url_private_download",
        "users:read": "users_info",
        "channels:read": "users_conversations",
        "groups:read": "users_conversations",
        "commands": "app.command",
    }
    for scope, call in used_by_code.items():
        assert scope in SCOPES and call in code, scope
    assert SCOPES == set(used_by_code) | set(needs.values()) - {None}  # e.g. no reactions:write nobody uses


def test_the_readme_set_up_names_exactly_the_manifests_scopes():
    readme = (REPO / "README.md").read_text()
    set_up = readme[readme.index("## Set up the Slack app"):readme.index("## Run it")]
    named = set(re.findall(r"`([a-z]+(?::[a-z_]+)*)`", set_up)) - {"connections:write"}
    assert named == SCOPES
