"""Whose rule is whose. AutoForge's `feature_create_bulk` (mcp_server/feature_mcp.py,
the tool its initializer calls) refuses only missing keys and bad
`depends_on_indices`; it takes empty names, descriptions, steps and categories,
any id numbering and any category order. We refuse those on purpose, and a
problem message must say so rather than blame AutoForge."""

from __future__ import annotations

import pytest

from tests.test_interview_flow import prompt_for
from tests.test_validate import category, feature, feature_problems, infrastructure, itemised, make, messages

OURS = "my check"
BLAMES_AUTOFORGE = ("AutoForge needs", "AutoForge refuses", "AutoForge requires", "AutoForge takes at most")


def _ours(tmp_path, case: str) -> list[str]:
    tasks = {
        "no category": (infrastructure(), feature(6)),
        "nameless category": (infrastructure(), category(" ", feature(6))),
        "empty name": (infrastructure(), category("Tasks", feature(6, name=""))),
        "empty description": (infrastructure(), category("Tasks", feature(6, description=" "))),
        "empty steps": (infrastructure(), category("Tasks", feature(6, steps=()))),
        "ids 10, 20": (category("Tasks", feature(10), feature(20)),),
    }
    if case == "infrastructure later":
        spec = itemised(category("Tasks", feature(1)), category("Infrastructure", feature(2, "Database connected")))
        return messages(make(tmp_path, spec, prompt_for("shop", 2)))
    return feature_problems(tmp_path, *tasks[case])


@pytest.mark.parametrize(
    "case",
    ["no category", "nameless category", "empty name", "empty description", "empty steps", "ids 10, 20",
     "infrastructure later"],
)
def test_our_rules_say_they_are_ours(tmp_path, case):
    (found,) = _ours(tmp_path, case)
    assert OURS in found, found
    assert not any(blame in found for blame in BLAMES_AUTOFORGE), found


def test_autoforges_own_limit_is_named_as_its_own(tmp_path):
    tasks = [feature(i) for i in range(1, 22)] + [feature(22, depends_on=", ".join(str(i) for i in range(1, 22)))]
    (found,) = feature_problems(tmp_path, category("Tasks", *tasks))
    assert "AutoForge takes at most 20" in found and OURS not in found
