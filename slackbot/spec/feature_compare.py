"""What differs between AutoForge's features database and the spec.

AutoForge's initializer sends the spec's features to `feature_create_bulk` once:
each becomes a row (ids and priorities in order), and its `depends_on_indices`
(positions in that batch) are stored as the sorted ids of those rows. After that
its initializer never runs again and it never compares the count with the spec,
so a feature the initializer dropped, renamed or rewired stays that way.

The spec side is our `feature_create_bulk` payload (`feature_rules`), which is
what the database should hold, in order. Rows are taken in id order (creation
order: AutoForge's skip moves a feature's priority, never its id). Spec features
are named by their position (their id in the spec, 1..N), rows that match none by
their database id. Pure logic: reading the database is `feature_db`'s job.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .feature_rules import short

SHOWN = 5  # items listed per kind of difference; the rest are counted
SIMILAR = 0.6  # difflib ratio above which a changed name counts as a rename, not a swap


@dataclass(frozen=True)
class Row:
    """One row of AutoForge's `features` table: what the comparison needs of it."""

    id: int
    category: str
    name: str
    dependencies: tuple[int, ...] = ()  # ids of other rows


@dataclass
class _Match:
    """Which row is which spec feature: spec position -> row position (both 0-based)."""

    pairs: dict[int, int] = field(default_factory=dict)
    renamed: list[int] = field(default_factory=list)  # spec positions whose row has another name
    moved: list[int] = field(default_factory=list)  # spec positions whose row is out of order


def compare(features: list[dict[str, Any]], rows: list[Row], stated: int | None = None) -> list[str]:
    """One line per kind of difference; empty when the database holds the spec's features.
    `features` is the bulk payload (empty for a free-form spec: then only the count,
    `stated`, can be compared, since AutoForge's initializer derives the features)."""
    expected = len(features) if features else stated
    differences = []
    if expected is not None and len(rows) != expected:
        differences.append(f"the database has {_count(len(rows))}, the spec {expected}")
    if not features:
        return differences
    names = [_plain(item.get("name", "")) for item in features]
    match = _match(names, [_plain(row.name) for row in rows])
    paired_rows = set(match.pairs.values())
    missing = [i for i in range(len(features)) if i not in match.pairs]
    extra = [j for j in range(len(rows)) if j not in paired_rows]
    differences += _listed("missing from the database", (_spec(i, names) for i in missing))
    differences += _listed("only in the database", (f'id {rows[j].id} "{short(rows[j].name)}"' for j in extra))
    differences += _listed(
        "renamed",
        (f'{_spec(i, names)} is "{short(rows[match.pairs[i]].name)}" in the database' for i in match.renamed),
    )
    differences += _listed(
        "in another order in the database", (f"{_spec(i, names)} is id {rows[match.pairs[i]].id}" for i in match.moved)
    )
    differences += _listed("other categories", _categories(features, rows, match, names))
    differences += _listed("other dependencies", _dependencies(features, rows, match, names))
    return differences


def _match(names: list[str], stored: list[str]) -> _Match:
    """Line the rows up with the spec: equal runs pair up; in a changed run, rows pair with
    the spec features they resemble (all of them, one to one, when the run keeps its length)."""
    match = _Match()
    matcher = difflib.SequenceMatcher(None, names, stored, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            match.pairs.update(zip(range(i1, i2), range(j1, j2), strict=True))
        elif tag == "replace":
            _pair_changed(names, stored, range(i1, i2), range(j1, j2), match)
    # A feature whose row turns up elsewhere (same name) has moved, not gone.
    taken = set(match.pairs.values())
    free_rows = [j for j in range(len(stored)) if j not in taken]
    for i in range(len(names)):
        if i in match.pairs:
            continue
        j = next((j for j in free_rows if stored[j] == names[i]), None)
        if j is not None:
            free_rows.remove(j)
            match.pairs[i] = j
            match.moved.append(i)
    return match


def _pair_changed(names: list[str], stored: list[str], spec: range, rows: range, match: _Match) -> None:
    if len(spec) == len(rows):
        pairs = list(zip(spec, rows, strict=True))
    else:
        pairs, start = [], rows.start
        for i in spec:
            j = next((j for j in range(start, rows.stop) if _similar(names[i], stored[j])), None)
            if j is not None:
                pairs.append((i, j))
                start = j + 1
    for i, j in pairs:
        match.pairs[i] = j
        match.renamed.append(i)


def _categories(features: list[dict[str, Any]], rows: list[Row], match: _Match, names: list[str]) -> Iterable[str]:
    for i, j in sorted(match.pairs.items()):
        wanted, stored = _plain(features[i].get("category", "")), _plain(rows[j].category)
        if wanted != stored:
            yield f"{_spec(i, names)} is in {wanted or '(none)'} in the spec, {stored or '(none)'} in the database"


def _dependencies(features: list[dict[str, Any]], rows: list[Row], match: _Match, names: list[str]) -> Iterable[str]:
    """Dependencies between features both sides have, in the spec's ids; a stored id no row
    has is shown as it is (the rows it named are gone)."""
    spec_of_row = {j: i for i, j in match.pairs.items()}
    row_of_id = {row.id: j for j, row in enumerate(rows)}
    for i, j in sorted(match.pairs.items()):
        wanted = {d for d in features[i].get("depends_on_indices", []) if d in match.pairs}
        stored: set[int] = set()
        dangling: list[int] = []
        for dep in rows[j].dependencies:
            target = row_of_id.get(dep)
            if target is None:
                dangling.append(dep)
            elif target in spec_of_row:
                stored.add(spec_of_row[target])
        if wanted != stored or dangling:
            unknown = f" (and on id {', '.join(map(str, dangling))}, which no row has)" if dangling else ""
            yield f"{_spec(i, names)} depends on {_ids(wanted)} in the spec, on {_ids(stored)} in the database{unknown}"


def _listed(kind: str, items: Iterable[str]) -> list[str]:
    """`kind: a, b, c` with at most SHOWN items (and how many more), or nothing."""
    shown = list(items)
    if not shown:
        return []
    more = f"; and {len(shown) - SHOWN} more" if len(shown) > SHOWN else ""
    return [f"{kind}: {'; '.join(shown[:SHOWN])}{more}"]


def _ids(positions: set[int]) -> str:
    """0-based positions as spec ids, runs of three or more joined: {0, 1, 2, 4} -> "1–3, 5"."""
    if not positions:
        return "nothing"
    runs: list[list[int]] = []
    for number in sorted(p + 1 for p in positions):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"{run[0]}–{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)) for run in runs)


def _spec(i: int, names: list[str]) -> str:
    return f'{i + 1} "{short(names[i])}"'


def _plain(text: object) -> str:
    return " ".join(str(text).split())


def _similar(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, a.casefold(), b.casefold()).ratio() >= SIMILAR


def _count(n: int) -> str:
    return f"{n} feature" if n == 1 else f"{n} features"
