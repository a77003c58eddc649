"""Near-duplicate ad texts: normalised character shingles, Jaccard similarity, MinHash LSH.

The method follows the near-duplicate detection literature used on ad libraries (Broder's
shingling and MinHash; NYU Cybersecurity for Democracy grouped ads whose text hashes differ by a
few bits): two texts are near-duplicates when the Jaccard similarity of their sets of character
5-grams, after normalisation, is at least :data:`THRESHOLD`. The threshold was chosen on the
labelled pairs in ``tests/fixtures/practices/message_pairs.csv`` (docs/practices.md has the
figures; ``tests/evidence/test_similarity.py`` re-measures them).

Comparing every pair of an advertiser's texts is quadratic, so candidate pairs come from
MinHash signatures split into bands (locality-sensitive hashing): texts sharing one band are
compared exactly; texts sharing none are, with high probability, below the threshold. The
hashes are crc32-based, never Python's salted ``hash``, so a refresh is reproducible.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import defaultdict
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
_PRIME = (1 << 31) - 1
_RANDOM = np.random.default_rng(20261130)
_A = _RANDOM.integers(1, _PRIME, size=BANDS * ROWS, dtype=np.int64)
_B = _RANDOM.integers(0, _PRIME, size=BANDS * ROWS, dtype=np.int64)
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Case, accents, punctuation and spacing do not make a different message."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", plain).strip()


def shingles(normalised: str) -> frozenset[str]:
    """The text's character ``SHINGLE``-grams (the whole text when it is shorter)."""
    if len(normalised) <= SHINGLE:
        return frozenset((normalised,))
    return frozenset(normalised[i : i + SHINGLE] for i in range(len(normalised) - SHINGLE + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Size of the intersection over size of the union; 0.0 for two empty sets."""
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def similar_pairs(sets: Sequence[frozenset[str]]) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, similarity)`` with ``i < j`` and similarity ≥ :data:`THRESHOLD`."""
    found = []
    for i, j in _candidates(sets):
        score = jaccard(sets[i], sets[j])
        if score >= THRESHOLD:
            found.append((i, j, score))
    return found


def _candidates(sets: Sequence[frozenset[str]]) -> set[tuple[int, int]]:
    """Pairs of texts that agree on at least one LSH band of their MinHash signatures."""
    if len(sets) < 2:
        return set()
    signatures = _signatures(sets)
    pairs: set[tuple[int, int]] = set()
    for band in range(BANDS):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        rows = signatures[:, band * ROWS : (band + 1) * ROWS]
        for index, row in enumerate(rows):
            buckets[row.tobytes()].append(index)
        for members in buckets.values():
            for pos, i in enumerate(members):
                pairs.update((i, j) for j in members[pos + 1 :])
    return pairs


def _signatures(sets: Sequence[frozenset[str]]) -> np.ndarray:
    """One MinHash signature per set, computed for all sets at once with numpy."""
    hashes = [zlib.crc32(s.encode()) for shingle_set in sets for s in shingle_set]
    offsets = np.cumsum([0, *(len(s) for s in sets[:-1])])
    values = np.asarray(hashes, dtype=np.int64) % _PRIME  # < 2**31: products fit in int64
    signature = np.empty((len(sets), BANDS * ROWS), dtype=np.int64)
    for k in range(BANDS * ROWS):
        permuted = (_A[k] * values + _B[k]) % _PRIME
        signature[:, k] = np.minimum.reduceat(permuted, offsets)
    return signature
