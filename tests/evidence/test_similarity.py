"""The message-test threshold, re-measured on the labelled pairs it was chosen on."""

from __future__ import annotations

import csv

from pipeline.evidence.practices.similarity import (
    THRESHOLD,
    jaccard,
    normalise,
    shingles,
    similar_pairs,
)
from tests.conftest import FIXTURES

PAIRS = FIXTURES / "practices" / "message_pairs.csv"


def _scores() -> list[tuple[int, float]]:
    with PAIRS.open(encoding="utf-8") as handle:
        return [
            (
                int(row["label"]),
                jaccard(shingles(normalise(row["text_a"])), shingles(normalise(row["text_b"]))),
            )
            for row in csv.DictReader(handle)
        ]


def test_threshold_separates_the_labelled_pairs() -> None:
    scores = _scores()
    assert len(scores) >= 20 and {label for label, _ in scores} == {0, 1}
    misses = [s for label, s in scores if label == 1 and s < THRESHOLD]
    false_hits = [s for label, s in scores if label == 0 and s >= THRESHOLD]
    assert (misses, false_hits) == ([], [])


def test_lsh_finds_every_labelled_variant_pair() -> None:
    """The banded MinHash candidates miss none of the pairs the exact measure accepts."""
    with PAIRS.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] == "1"]
    sets = [shingles(normalise(r[c])) for r in rows for c in ("text_a", "text_b")]
    found = {(i, j) for i, j, _ in similar_pairs(sets)}
    assert {(2 * k, 2 * k + 1) for k in range(len(rows))} <= found


def test_normalise_ignores_case_accents_and_punctuation() -> None:
    assert normalise("École — VOTEZ!!  le 14 juin") == "ecole votez le 14 juin"
