"""Near-duplicate ad texts: normalised character shingles, Jaccard similarity, MinHash LSH.

The method follows the near-duplicate detection literature used on ad libraries (Broder's
shingling and MinHash; NYU Cybersecurity for Democracy grouped ads whose text hashes differ by a
few bits): two texts are near-duplicates when the Jaccard similarity of their sets of character
5-grams, after normalisation, is at least :data:`THRESHOLD`. The threshold was chosen on the
labelled pairs in ``tests/fixtures/practices/message_pairs.csv`` (docs/practices.md has the
figures; ``tests/pipeline/evidence/test_similarity.py`` re-measures them).

Comparing every pair of an advertiser's texts is quadratic, so candidate pairs come from
MinHash signatures split into bands (locality-sensitive hashing), computed with numpy for many
texts at once: texts of one group sharing a band become candidates and are compared exactly;
texts sharing none are, with high probability, below the threshold. Hashes are fixed
polynomial and multiply-xor hashes, never Python's salted ``hash``, so a refresh is
reproducible.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

#: Characters per shingle: long enough that unrelated texts share few, short enough that one
#: changed word only touches a handful of shingles.
SHINGLE = 5
#: Minimum Jaccard similarity of two texts' shingle sets for them to be variants of one message.
#: On the labelled pairs, every different-message pair scored ≤ 0.28 and every variant pair
#: ≥ 0.43; 0.35 sits in the middle of that margin.
THRESHOLD = 0.35
#: MinHash signature: BANDS x ROWS hash functions. A pair at the threshold becomes a
#: candidate with probability 1 - (1 - 0.35**2)**24 ≈ 0.96 (0.999 at 0.5); a pair at 0.1
#: with ≈ 0.21, and candidates are then compared exactly, so a false candidate costs time only.
BANDS, ROWS = 24, 2
#: A candidate whose MinHash estimate (share of equal signature values, standard error
#: ≤ 0.073 with 48 values) is this far from the threshold is decided on the estimate; only
#: the others are compared exactly. At 0.2 (2.8 standard errors) a wrong decision needs an
#: estimate off by 0.2, which happens to fewer than 3 in 1,000 of the pairs right at the
#: threshold and to far fewer of the rest.
SURE = 0.2
_RANDOM = np.random.default_rng(20261130)
_XOR = _RANDOM.integers(0, 2**63, size=BANDS * ROWS, dtype=np.uint64)
_MULTIPLY = _RANDOM.integers(0, 2**63, size=BANDS * ROWS, dtype=np.uint64) | np.uint64(1)
_BASE = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_NOT_WORD = re.compile(r"[\W_]+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def normalise(text: str) -> str:
    """Case, accents, punctuation and spacing do not make a different message."""
    folded = text.casefold()
    if not folded.isascii():
        folded = _COMBINING.sub("", unicodedata.normalize("NFKD", folded))
    return _NOT_WORD.sub(" ", folded).strip()


def shingles(normalised: str) -> frozenset[str]:
    """The text's character ``SHINGLE``-grams (a shorter text is one shingle)."""
    padded = normalised.ljust(SHINGLE)
    return frozenset(padded[i : i + SHINGLE] for i in range(len(padded) - SHINGLE + 1))


def jaccard(a: frozenset[object], b: frozenset[object]) -> float:
    """Size of the intersection over size of the union; 0.0 for two empty sets."""
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def link_similar(texts: Sequence[str], groups: Sequence[int]) -> tuple[list[int], list[float]]:
    """Connect near-duplicate texts within each group (an advertiser).

    ``texts`` are normalised and distinct within a group. Returns, per text, the index of its
    component's root (texts linked by a chain of near-duplicate pairs share it) and the
    highest similarity of a pair that linked it (0.0 for a text linked to none): exact Jaccard
    near the threshold, the MinHash estimate where it is beyond doubt (:data:`SURE`).
    """
    parent = list(range(len(texts)))
    if len(texts) < 2:
        return parent, [0.0] * len(texts)
    hashes, offsets = _shingle_hashes(texts)
    score = [0.0] * len(texts)
    sets: dict[int, frozenset[int]] = {}

    def shingle_set(i: int) -> frozenset[int]:
        if i not in sets:
            end = offsets[i + 1] if i + 1 < len(texts) else len(hashes)
            sets[i] = frozenset(hashes[offsets[i] : end].tolist())
        return sets[i]

    for i, j, estimate in _candidates(hashes, offsets, np.asarray(groups, dtype=np.uint64)):
        root_i, root_j = _root(parent, i), _root(parent, j)
        if root_i == root_j:
            continue
        sure = estimate >= THRESHOLD + SURE
        similarity = estimate if sure else jaccard(shingle_set(i), shingle_set(j))
        if similarity >= THRESHOLD:
            parent[root_j] = root_i
            score[i], score[j] = max(score[i], similarity), max(score[j], similarity)
    return [_root(parent, i) for i in range(len(texts))], score


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _shingle_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts' shingle hashes, concatenated, and where each text's hashes start."""
    padded = [t.ljust(SHINGLE) for t in texts]
    lengths = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
    points = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32)
    points = points.astype(np.uint64)
    windows = len(points) - SHINGLE + 1
    rolling = np.zeros(windows, dtype=np.uint64)
    for k in range(SHINGLE):
        rolling = rolling * _BASE + points[k : k + windows]
    owner = np.repeat(np.arange(len(padded)), lengths)
    inside = owner[:windows] == owner[SHINGLE - 1 :]
    counts = lengths - SHINGLE + 1
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return rolling[inside] * _MIX, offsets


def _candidates(
    hashes: np.ndarray, offsets: np.ndarray, groups: np.ndarray
) -> list[tuple[int, int, float]]:
    """Pairs (bucket leader, member, estimate) of texts of one group that agree on a band.

    Each bucket is checked as a star around its first text: with union-find on the caller's
    side, a bucket of true variants costs one comparison per member, not one per pair.
    """
    if len(offsets) < 2:
        return []
    signature = np.empty((len(offsets), BANDS * ROWS), dtype=np.uint64)
    mixed = np.empty_like(hashes)  # one buffer for all 48 hash functions: no temporaries
    for k in range(BANDS * ROWS):
        np.bitwise_xor(hashes, _XOR[k], out=mixed)
        np.multiply(mixed, _MULTIPLY[k], out=mixed)
        signature[:, k] = np.minimum.reduceat(mixed, offsets)
    index = np.arange(len(offsets))
    found = []
    for band in range(BANDS):
        key = groups * _MIX
        for row in range(ROWS):
            key = (key ^ signature[:, band * ROWS + row]) * _MIX
        order = np.lexsort((index, key))
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        leader = order[starts][np.cumsum(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) - 1]
        member = order != leader
        found.append(np.stack((leader[member], order[member]), axis=1))
    count = np.int64(len(offsets))
    stacked = np.concatenate(found).astype(np.int64)
    codes = np.unique(stacked[:, 0] * count + stacked[:, 1])  # one sort of 1-D keys
    pairs = np.stack((codes // count, codes % count), axis=1)
    pairs = pairs[groups[pairs[:, 0]] == groups[pairs[:, 1]]]
    estimate = (signature[pairs[:, 0]] == signature[pairs[:, 1]]).mean(axis=1)
    plausible = estimate >= THRESHOLD - SURE  # the rest are rejected on the estimate alone
    pairs, estimate = pairs[plausible], estimate[plausible]
    return list(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), estimate.tolist(), strict=True))
