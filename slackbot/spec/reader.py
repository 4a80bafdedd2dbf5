"""Reads app_spec.txt as leniently as AutoForge does, for the checks in `validate`.

AutoForge treats a project as having a spec when `app_spec.txt` contains the
literal text `<project_specification>`; nothing else is checked on its side. So
prose is read leniently here: a bare `&` or `<` in a sentence is taken as
written, never a reason to send the spec back. Tags that don't nest are a
problem only when the `<feature>` elements can't be told apart. What is there
must be filled in, though: template placeholders and a second <core_features>
(only the first is read as the feature list) go back to Claude.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .feature_rules import NUMBER, Features, Findings, read_features

ROOT = "project_specification"
# Without features there is nothing to build; every other section is advice.
REQUIRED_SECTIONS = ("core_features",)
# What our interview writes. A missing one is a note: AutoForge builds without it.
EXPECTED_SECTIONS = (
    "project_name",
    "overview",
    "technology_stack",
    "prerequisites",
    "feature_count",
    "security_and_access_control",
    "core_features",
    "database_schema",
    "api_endpoints_summary",
    "ui_layout",
    "design_system",
    "implementation_steps",
    "success_criteria",
)

# Markup the lenient reader keeps: comments, CDATA, processing instructions,
# well-formed start and end tags, and XML's own entities. Every other `<` and
# `&` is prose and is escaped before parsing; so a DOCTYPE or an entity of its
# own never reaches the parser (no entity expansion, no XML bombs).
_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"  # unterminated: to the end, in one pass (the parser then says where)
    r"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|<\?.*?(?:\?>|\Z)"
    r"|</[A-Za-z_][\w.-]*\s*>"
    r"|<[A-Za-z_][\w.-]*(?:\s+[A-Za-z_:][\w:.-]*\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*\s*/?>"
    r"|&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);",
    re.DOTALL,
)
# Template leftovers: {{FEATURE_COUNT}} (ours), [FEATURE_COUNT] and YOUR_PROJECT_NAME
# (AutoForge's templates), $ARGUMENTS / $TEMPLATES (our skill's variables).
TEMPLATE_PLACEHOLDER = r"\{\{\s*[A-Za-z_][\w ]*\}\}|\[[A-Z][A-Z_]{2,}\]|\$(?:ARGUMENTS|TEMPLATES)\b|\bYOUR_[A-Z0-9_]+\b"
_PLACEHOLDER = re.compile(TEMPLATE_PLACEHOLDER)
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)")


@dataclass
class Spec:
    """What the count checks need from app_spec.txt."""

    stated: int | None = None  # <feature_count>, when it is a positive whole number
    stated_raw: str | None = None  # <feature_count> as written, when present
    features: Features = field(default_factory=Features)


def read_spec(project: Path, path: Path, findings: Findings) -> Spec:
    """Read the spec at `path`, reporting what would stop AutoForge building `project` from it."""
    return _SpecReader(project, path, findings).read()


class _SpecReader:
    def __init__(self, project: Path, path: Path, findings: Findings) -> None:
        self.project, self.path, self.findings = project, path, findings
        self.spec = Spec()

    def read(self) -> Spec:
        if not self.path.is_file():
            self.findings.problem(f"is missing (expected at {self.path})")
            return self.spec
        raw = self.path.read_text(encoding="utf-8", errors="replace")
        if f"<{ROOT}>" not in raw:
            self.findings.problem(
                f"does not contain <{ROOT}>, the one thing AutoForge looks for, so it would not see a spec: "
                f"wrap the whole spec in <{ROOT}> … </{ROOT}>, with no attributes on the opening tag"
            )
            return self.spec
        for placeholder in dict.fromkeys(_PLACEHOLDER.findall(raw)):
            self.findings.problem(f"still has the template placeholder {placeholder}: write the real value")
        root = self._parse(raw)
        if root is None:
            return self.spec
        self._check_sections(root)
        self._read_stated_count(root)
        core = root.find("core_features")
        if core is not None:
            self.spec.features = read_features(root, core, self.findings)
        return self.spec

    def _check_sections(self, root: ET.Element) -> None:
        present = {child.tag for child in root}
        for section in REQUIRED_SECTIONS:
            if section not in present:
                self.findings.problem(
                    f"has no <{section}> section, so there is nothing to build: list the features there, "
                    'grouped in <category name="…"> elements'
                )
        missing = [s for s in EXPECTED_SECTIONS if s not in present and s not in REQUIRED_SECTIONS]
        if missing:
            listed = ", ".join(f"<{s}>" for s in missing)
            self.findings.note(f"has no {listed}; AutoForge builds without them, but its agents will have to guess")
        cores = sum(1 for _ in root.iter("core_features"))
        if cores > 1:
            self.findings.problem(
                f"has {cores} <core_features> sections, and only the first is read as the feature list: move "
                "every feature into one <core_features>, then renumber the ids and update <feature_count>"
            )
        name = " ".join((root.findtext("project_name") or "").split())
        if "project_name" in present and name != self.project.name:
            self.findings.note(f"<project_name> is {name!r} but the project folder is {self.project.name!r}")

    def _parse(self, raw: str) -> ET.Element | None:
        start = raw.index(f"<{ROOT}>")
        end = raw.rfind(f"</{ROOT}>")
        body = raw[start : end + len(ROOT) + 3] if end > start else raw[start:] + f"</{ROOT}>"
        try:
            return ET.fromstring(lenient(body))
        except ET.ParseError as error:
            line = raw[:start].count("\n") + error.position[0]
            reason = str(error).split(":")[0]
        if re.search(r"<feature[\s>]", body):
            self.findings.problem(
                f"its tags don't nest properly at line {line} ({reason}): every <tag> needs its </tag> inside "
                "the same parent, or the <feature> elements can't be told apart"
            )
        else:
            self.findings.note(
                f"its tags don't nest properly at line {line} ({reason}); AutoForge reads it as text anyway"
            )
        self._read_stated_count_from_text(body)
        return None

    def _read_stated_count(self, root: ET.Element) -> None:
        element = root.find("feature_count")
        if element is not None:
            self._stated(" ".join("".join(element.itertext()).split()))

    def _read_stated_count_from_text(self, text: str) -> None:
        match = re.search(r"<feature_count>(.*?)</feature_count>", text, re.DOTALL)
        if match:
            self._stated(" ".join(match.group(1).split()))

    def _stated(self, raw: str) -> None:
        self.spec.stated_raw = raw
        if NUMBER.fullmatch(raw) and int(raw) > 0:
            self.spec.stated = int(raw)
        else:
            self.findings.problem(f"<feature_count> must be a positive whole number, not {raw!r}")


# -- reading leniently --------------------------------------------------------------


def lenient(text: str) -> str:
    """Escape every `&` and `<` that is prose, keeping real markup as it is."""
    out: list[str] = []
    at = 0
    for match in _MARKUP.finditer(text):
        out.append(_escape_prose(text[at : match.start()]))
        markup = match.group()
        if markup.startswith("&#") and not _allowed_character(markup):
            markup = "&amp;" + markup[1:]  # `&#0;` is prose too: XML forbids that character
        elif markup.startswith("<") and not markup.startswith(("<!--", "<![CDATA[", "<?")):
            markup = _BARE_AMPERSAND.sub("&amp;", markup)  # in attribute values
        out.append(markup)
        at = match.end()
    out.append(_escape_prose(text[at:]))
    return "".join(out)


def _allowed_character(reference: str) -> bool:
    """Whether a numeric character reference (`&#233;`, `&#xE9;`) names a character XML allows."""
    digits = reference[2:-1]
    code = int(digits[1:], 16) if digits[:1] in "xX" and digits else int(digits)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _escape_prose(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")
