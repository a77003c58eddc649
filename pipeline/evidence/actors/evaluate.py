"""Measuring the resolver on a labelled set: pairwise precision, recall and F1.

A labelled set is a CSV of mentions with their true actor (``actor``, ``name``, ``source``,
``role``, ``country``, ``identifiers``; tests/fixtures/actors/). Every pair of mentions the
resolver puts together is a predicted link; every pair with the same label a true one.
Precision = true predicted links / predicted links; recall = true predicted links / true
links (the pairwise measures of Christen, *Data Matching*, 2012, ch. 7).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.evidence.actors.normalise import identifiers, normalise
from pipeline.evidence.actors.registry import Registry
from pipeline.evidence.actors.resolve import MERGE_SCORE, resolve


@dataclass(frozen=True, slots=True)
class Scores:
    mentions: int
    actors: int
    predicted_actors: int
    precision: float
    recall: float
    f1: float
    #: wrongly joined and wrongly separated mention-name pairs (for reading, not scoring)
    false_links: list[tuple[str, str]]
    missed_links: list[tuple[str, str]]


def load_labelled(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _pairs(groups: dict[object, list[int]]) -> set[tuple[int, int]]:
    return {
        (a, b)
        for members in groups.values()
        for i, a in enumerate(members)
        for b in members[i + 1 :]
    }


def evaluate(
    rows: list[dict[str, str]], registry: Registry | None = None, merge_score: float = MERGE_SCORE
) -> Scores:
    """Resolve the labelled mentions (no database) and score the result."""
    nodes: dict[str, set[str]] = defaultdict(set)
    keys = []
    for row in rows:
        key = normalise(row["name"])
        keys.append(key)
        nodes[key].update(identifiers(row["name"]))
        nodes[key].update(row["identifiers"].split())
    resolution = resolve(nodes, registry or Registry(), merge_score)
    cluster_of = {node: n for n, c in enumerate(resolution.clusters) for node in c.nodes}
    predicted: dict[object, list[int]] = defaultdict(list)
    truth: dict[object, list[int]] = defaultdict(list)
    for i, (row, key) in enumerate(zip(rows, keys, strict=True)):
        predicted[cluster_of.get(key, ("alone", i))].append(i)
        truth[row["actor"]].append(i)
    got, want = _pairs(predicted), _pairs(truth)
    hit = len(got & want)
    precision = hit / len(got) if got else 1.0
    recall = hit / len(want) if want else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def names(pairs: set[tuple[int, int]]) -> list[tuple[str, str]]:
        counted = Counter(tuple(sorted((rows[a]["name"], rows[b]["name"]))) for a, b in pairs)
        return sorted(counted)  # type: ignore[arg-type]

    return Scores(
        len(rows),
        len(truth),
        len(predicted),
        precision,
        recall,
        f1,
        names(got - want),
        names(want - got),
    )
