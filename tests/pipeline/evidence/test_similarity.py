"""The message-test threshold, re-measured on the labelled pairs it was chosen on."""

from __future__ import annotations

import csv

from pipeline.evidence.practices.similarity import (
    THRESHOLD,
    jaccard,
    link_similar,
    normalise,
    shingles,
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


def test_lsh_links_exactly_the_labelled_variant_pairs() -> None:
    """The banded MinHash candidates miss no pair the exact measure accepts; each labelled
    pair is its own group (advertiser), so no pair can link to another."""
    with PAIRS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [normalise(r[c]) for r in rows for c in ("text_a", "text_b")]
    groups = [k for k in range(len(rows)) for _ in (0, 1)]
    roots, scores = link_similar(texts, groups)
    linked = [roots[2 * k] == roots[2 * k + 1] for k in range(len(rows))]
    assert linked == [r["label"] == "1" for r in rows]
    assert all(0.0 < s <= 1.0 for s, link in zip(scores[::2], linked, strict=True) if link)


def test_normalise_ignores_case_accents_and_punctuation() -> None:
    assert normalise("École — VOTEZ!!  le 14 juin") == "ecole votez le 14 juin"
