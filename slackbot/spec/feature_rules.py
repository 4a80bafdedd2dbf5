"""The features of app_spec.txt as AutoForge's `feature_create_bulk` takes them.

AutoForge's initializer turns the features into one `feature_create_bulk` call.
When the spec itemises them (`<feature>` elements, as our interview writes them),
this module builds exactly that payload (`category`, `name`, `description`,
`steps`, `depends_on_indices`) and checks it before a build starts.

AutoForge's rules (`feature_create_bulk` refuses the whole batch): each of the
four fields present; `depends_on_indices` only on earlier features (no forward
or self reference), no negative index, no duplicates, at most 20; names and
categories no longer than its features table stores (255 and 100: `feature_create`
refuses longer ones). Features of a first `Infrastructure` category have no
dependencies and are dependencies of every later feature: the initializer adds
them itself (AutoForge's initializer template says so, and ours), so a
`<depends_on>` that lists them gives that feature the same index twice, which the
bulk tool refuses. The payload is what the initializer would send for the spec as
written, repeats included, so it shows what AutoForge refuses.

Our rules (the bulk tool accepts all of these; we refuse them on purpose, and
the messages say so):
- a non-empty name, description and steps, and a named category: the bulk tool
  takes empty strings and lists (its single-feature `feature_create` does not),
  but an empty one leaves the coding agent nothing to build or test against;
- ids 1..N in document order: AutoForge knows features by position, and the
  initializer turns each `<depends_on>` id into a position; when ids are the
  positions that step cannot go wrong (with 10, 20, … it easily does);
- Infrastructure first: every feature depends on it, and AutoForge allows only
  dependencies on earlier features.

A spec in AutoForge's own free-form layout (bullet lists under category tags) is
only described: AutoForge's initializer derives the features.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_DEPENDENCIES = 20  # AutoForge's MAX_DEPENDENCIES_PER_FEATURE
MAX_NAME = 255  # AutoForge's features.name is String(255); feature_create takes max_length=255
MAX_CATEGORY = 100  # features.category is String(100); feature_create takes max_length=100
INFRASTRUCTURE = "infrastructure"
NUMBER = re.compile(r"[0-9]+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# Why we refuse what AutoForge's bulk tool would take (see the module docstring).
EMPTY_IS_OURS = "(my check: AutoForge would take it empty, leaving the coding agent nothing to build or test)"
CATEGORY_IS_OURS = "(my check: AutoForge's bulk tool would take an empty category; its feature_create refuses one)"
IDS_ARE_OURS = (
    "(my check: AutoForge knows features by position, and ids that are the positions keep <depends_on> "
    "from pointing at the wrong feature)"
)


class Findings(Protocol):
    """Where the app_spec.txt checks report, so they need not know how a report is kept."""

    def problem(self, message: str, feature: int | None = None, title: str = "") -> None: ...

    def note(self, message: str) -> None: ...


@dataclass
class Features:
    """How <core_features> lists the features, and their payload when itemised."""

    payload: list[dict[str, Any]] = field(default_factory=list)  # feature_create_bulk's `features`
    listed: int | None = None  # the number of <feature> elements, when itemised
    free_form: str = ""  # "3 categories, 14 bullet lines" for AutoForge's own layout


def read_features(root: ET.Element, core: ET.Element, findings: Findings) -> Features:
    """The features in <core_features>, with every rule of `feature_create_bulk` they break reported."""
    elements = list(core.iter("feature"))
    if not elements:
        return Features(free_form=_free_form(core, findings))
    features = Features(_PayloadBuilder(findings, core, elements).build(root), len(elements))
    loose = [child.tag for child in core if child.tag != "feature" and next(child.iter("feature"), None) is None]
    if loose:
        findings.note(
            f"<core_features> also has {', '.join(f'<{t}>' for t in loose)} without <feature> elements; "
            "the initializer creates only the <feature> elements, so anything there is not built on its own"
        )
    return features


def _free_form(core: ET.Element, findings: Findings) -> str:
    """Describe features written as AutoForge's own bullet lists; empty if there are none at all."""
    text = "".join(core.itertext())
    if not text.strip():
        findings.problem("<core_features> is empty: list the features there, grouped by category")
        return ""
    bullets = sum(1 for line in text.splitlines() if _BULLET.match(line))
    if not bullets:  # "TBD", or a paragraph: nothing the initializer could turn into features
        findings.problem(
            f"<core_features> lists no features, only the text {short(' '.join(text.split()))!r}: write every "
            'feature as a <feature> element inside a <category name="…">'
        )
        return ""
    return f"{_plural(len(core), 'category', 'categories')}, {_plural(bullets, 'bullet line')}"


class _PayloadBuilder:
    """Turns the <feature> elements into the payload, one rule at a time, in document order."""

    def __init__(self, findings: Findings, core: ET.Element, elements: list[ET.Element]) -> None:
        self.findings, self.core, self.elements = findings, core, elements
        self.parents = {child: parent for parent in core.iter() for child in parent}
        self.titles = [" ".join((f.findtext("name") or "").split()) for f in elements]

    def problem(self, message: str, position: int) -> None:
        self.findings.problem(message, position, self.titles[position - 1])

    def build(self, root: ET.Element) -> list[dict[str, Any]]:
        categories = [self._category(f, position) for position, f in enumerate(self.elements, 1)]
        self._category_lengths(categories)
        ids = self._ids()
        infrastructure = self._infrastructure(categories, root)
        return [
            self._feature(position, element, categories[position - 1], ids, infrastructure)
            for position, element in enumerate(self.elements, 1)
        ]

    def _category(self, element: ET.Element, position: int) -> str:
        parents, core = self.parents, self.core
        parent = parents[element]
        ancestor: ET.Element | None = parent
        while ancestor is not None and ancestor is not core:
            if ancestor.tag == "category":
                name = " ".join((ancestor.get("name") or "").split())
                if not name:
                    self.problem(f'its <category> has no name: give it name="…" {CATEGORY_IS_OURS}', position)
                return name
            ancestor = parents.get(ancestor)
        if parent is core:
            self.problem(f'is not inside a category: put it in a <category name="…"> {CATEGORY_IS_OURS}', position)
            return ""
        # AutoForge's own layout names a category by its tag (<authentication>).
        top = parent
        while parents.get(top) is not core:
            top = parents[top]
        return top.tag

    def _category_lengths(self, categories: list[str]) -> None:
        """Report each category name AutoForge can't store, once, at its first feature."""
        for name in dict.fromkeys(categories):
            if len(name) > MAX_CATEGORY:
                self.problem(
                    f"its category name is {len(name)} characters; AutoForge takes at most {MAX_CATEGORY}: shorten "
                    "the category's name (it is every feature's category in it)",
                    categories.index(name) + 1,
                )

    def _ids(self) -> dict[int, int]:
        """Map each declared id to its position; report the first place ids stop running 1..N."""
        by_id: dict[int, int] = {}
        declared: list[int | None] = []
        for position, element in enumerate(self.elements, 1):
            raw = (element.get("id") or "").strip()
            number = int(raw) if NUMBER.fullmatch(raw) else None
            declared.append(number)
            if number is not None:
                by_id.setdefault(number, position)
        off = [position for position, number in enumerate(declared, 1) if number != position]
        if off:
            first = off[0]
            written = self.elements[first - 1].get("id")
            has = "has no id" if written is None else f'has id="{written}"'
            others = f" (features {off[0]}–{off[-1]} are off: {len(off)} in all)" if len(off) > 1 else ""
            self.problem(
                f"{has}, but ids must run 1, 2, 3… in document order with no gaps or repeats: make it "
                f'id="{first}", renumber the ones after it to match{others}, and update any <depends_on> '
                f"that points at a renumbered feature {IDS_ARE_OURS}",
                first,
            )
        return by_id

    def _infrastructure(self, categories: list[str], root: ET.Element) -> list[int]:
        """Indices of the Infrastructure features every later feature depends on."""
        positions = [i for i, name in enumerate(categories) if name.casefold() == INFRASTRUCTURE]
        if not positions:
            database = " ".join((root.findtext("technology_stack/backend/database") or "").split())
            if database and not database.casefold().startswith("none"):
                self.findings.note(
                    f"the spec has a database ({short(database)}) but no Infrastructure category; AutoForge's "
                    "initializer expects its database features first (connected, schema applied, data survives a "
                    "restart, no mock data, real queries)"
                )
            return []
        if positions != list(range(len(positions))):
            self.findings.problem(
                "the Infrastructure features must come first: move the Infrastructure category to the top of "
                "<core_features> and renumber the ids (my check: AutoForge takes any order, but every other "
                "feature depends on them and it allows dependencies only on earlier features)"
            )
            return []
        return positions

    def _feature(
        self, position: int, element: ET.Element, category: str, ids: dict[int, int], infrastructure: list[int]
    ) -> dict[str, Any]:
        def problem(message: str) -> None:
            self.problem(message, position)

        def ours(message: str) -> None:
            problem(f"{message} {EMPTY_IS_OURS}")

        title = self.titles[position - 1]
        if element.find("name") is None:
            ours('has no <name>: add one saying who does what, e.g. "User can archive a project"')
        elif not title:
            ours('its <name> is empty: say who does what, e.g. "User can archive a project"')
        elif len(title) > MAX_NAME:
            problem(
                f"its <name> is {len(title)} characters; AutoForge takes at most {MAX_NAME}: shorten it and put "
                "the detail in <description>"
            )
        description_element = element.find("description")
        description = _text(description_element)
        if description_element is None:
            ours("has no <description>: add one or two sentences with the exact expected behaviour")
        elif not description:
            ours("its <description> is empty: write one or two sentences with the exact expected behaviour")
        steps_element = element.find("steps")
        steps = _steps(steps_element)
        if steps_element is None:
            ours("has no <steps>: add <steps> with the <step> elements a tester follows (2 to 8 is usual)")
        elif not steps:
            ours("its <steps> is empty: add the <step> elements a tester follows (2 to 8 is usual)")

        indices = self._dependencies(position, element, ids, problem)
        if position - 1 in infrastructure:
            if indices:
                problem(
                    "is an Infrastructure feature, and AutoForge's initializer creates those first with no "
                    "dependencies: remove its <depends_on>"
                )
        else:
            indices = _with_infrastructure(indices, [i for i in infrastructure if i < position - 1], problem)
        return {
            "category": category,
            "name": title,
            "description": description,
            "steps": steps,
            "depends_on_indices": indices,
        }

    def _dependencies(
        self, position: int, element: ET.Element, ids: dict[int, int], problem: Callable[[str], None]
    ) -> list[int]:
        """The 0-based indices this feature's <depends_on> names, with every rule it breaks reported."""
        text = _text(element.find("depends_on"))
        if not text:
            return []
        titles = self.titles
        numbers, unreadable = _dependency_ids(text)
        if unreadable:
            problem(
                f"<depends_on> has {', '.join(repr(u) for u in unreadable)}: write the ids of earlier features, "
                "separated by commas (e.g. 4, 6)"
            )
        indices: list[int] = []
        counted = Counter(numbers)
        for number, times in counted.items():
            if times > 1:
                problem(f"<depends_on> lists feature {number} {times} times: list each dependency once")
        for number, times in counted.items():
            target = ids.get(number)
            if number <= 0:
                problem(
                    f"<depends_on> lists {number}, which is not a feature id (ids start at 1; it would be the "
                    f"negative index {number - 1}): use the id of an earlier feature"
                )
            elif target == position:
                problem(f"depends on itself: remove {number} from its <depends_on>")
            elif target is None:
                problem(
                    f"depends on feature {number}, which does not exist (ids run 1 to {len(titles)}): "
                    "use the id of an earlier feature or remove it"
                )
            elif target > position:
                named = f' ("{short(titles[target - 1])}")' if titles[target - 1] else ""
                problem(
                    f"depends on feature {number}{named}, which comes after it; a feature can only depend on "
                    f"earlier ones: move feature {number} before this one (and renumber), or drop the dependency"
                )
            else:
                indices.extend([target - 1] * times)  # kept as written: AutoForge refuses repeats
        return indices


def _with_infrastructure(indices: list[int], implied: list[int], problem: Callable[[str], None]) -> list[int]:
    """Add the earlier Infrastructure features, as the initializer does; report Infrastructure written in
    <depends_on> (it would then be there twice) and going over AutoForge's limit."""
    repeated = sorted({i for i in indices if i in implied})
    if repeated:
        ids = _and([str(i + 1) for i in repeated])
        which = "which is an Infrastructure feature" if len(repeated) == 1 else "which are Infrastructure features"
        problem(
            f"<depends_on> lists {ids}, {which}: every later feature depends on all {len(implied)} already "
            "(AutoForge's initializer adds them), so listing them makes a dependency appear twice, which "
            f"feature_create_bulk refuses: remove {ids} from <depends_on>"
        )
    combined = set(indices) | set(implied)
    if len(combined) > MAX_DEPENDENCIES:
        written = len(set(indices) - set(implied))
        extra = f", plus the {len(implied)} Infrastructure features every feature gets" if implied else ""
        keep = MAX_DEPENDENCIES - len(implied)
        problem(
            f"depends on {len(combined)} features ({written} in <depends_on>{extra}); AutoForge takes at "
            f"most {MAX_DEPENDENCIES}: keep the {keep} most direct ones in <depends_on>"
        )
    return sorted(indices + implied)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _text(element: ET.Element | None) -> str:
    return "" if element is None else " ".join("".join(element.itertext()).split())


def _steps(element: ET.Element | None) -> list[str]:
    """The <step> texts; or, for steps written as lines, each non-empty line without its bullet."""
    if element is None:
        return []
    children = list(element)
    if children:
        texts = [_text(child) for child in children]
    else:
        texts = [" ".join(_BULLET.sub("", line).split()) for line in (element.text or "").splitlines()]
    return [text for text in texts if text]


def _dependency_ids(text: str) -> tuple[list[int], list[str]]:
    """Ids in a <depends_on> ("4, 6", "4 and 6", "#4", "4-6"), and the tokens that are none."""
    numbers: list[int] = []
    unreadable: list[str] = []
    for token in re.split(r"[,;\s]+", text):
        bare = token.strip().lstrip("#")
        if not bare or bare.casefold() in {"and", "feature", "features", "id", "ids"}:
            continue
        span = re.fullmatch(r"([0-9]+)[-–]([0-9]+)", bare)
        if span and int(span.group(1)) <= int(span.group(2)):
            numbers.extend(range(int(span.group(1)), int(span.group(2)) + 1))
        elif re.fullmatch(r"[-+]?[0-9]+", bare):
            numbers.append(int(bare))
        else:
            unreadable.append(token)
    return numbers, unreadable


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def short(text: str, limit: int = 60) -> str:
    """Cut a feature's title (or a name) to fit in one line of a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
