"""Resolution: normalised names -> clusters (actors), in memory, deterministic.

The unit is a *node*: one normalised name (every mention with that name is the same actor:
the exact merge). Nodes are joined, strongest evidence first, by a union-find that refuses any
join a curated decision forbids:

1. the registry: an actor's name and aliases, and ``same`` pairs;
2. strong identifiers shared by two nodes (FEC, EIN, CNPJ, a platform's account id);
3. fuzzy similarity, compared only inside blocks (names equal but for one word, for the word
   order or for the spacing, or but for a word one of them adds), never all pairs.

A fuzzy join is accepted only when the two names have the same tokens but for one slip in a
long token (one edit, two in long words, never the first letter) or the same tokens in another
order or spacing, and the whole-name similarity reaches ``MERGE_SCORE``. Names where one adds
words to the other ("Climate Power" / "Climate Power Action", "Democratic Party of Virginia" /
"... of West Virginia", a youth wing or regional branch) or whose numbers differ are never
joined automatically: they go to the review queue, as do pairs scoring at least
``REVIEW_SCORE``. Precision comes first (a wrong merge corrupts every count downstream, a
missed one only splits it); thresholds were chosen on the labelled set (docs/actors.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from pipeline.evidence.actors.normalise import normalise
from pipeline.evidence.actors.registry import CuratedActor, Registry

#: Whole-name similarity (rapidfuzz ``ratio``, 0..100) a fuzzy join needs.
MERGE_SCORE = 88.0
#: Shortest token that may differ at all (shorter ones are acronyms, numbers, initials).
TOKEN_MIN_LENGTH = 5
#: Pairs at or above this similarity that were not joined are listed for review.
REVIEW_SCORE = 80.0
#: Blocks larger than this come from tokens too common to tell anything (skipped).
MAX_BLOCK = 400


@dataclass(frozen=True, slots=True)
class Candidate:
    """A pair the resolver was unsure of (``adlib actors review``)."""

    left: str
    right: str
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Cluster:
    nodes: tuple[str, ...]
    curated: CuratedActor | None


@dataclass
class Resolution:
    clusters: list[Cluster]
    #: node -> (method, score) for nodes joined by a decision or an edge
    methods: dict[str, tuple[str, float | None]]
    review: list[Candidate]
    #: registry names that match no mention, with their line (warnings)
    unmatched: list[tuple[int, str]] = field(default_factory=list)


class _Forest:
    """Union-find whose components carry the curated constraints they must keep."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.curated: dict[int, int] = {}
        self.sides: dict[int, set[tuple[int, int]]] = defaultdict(set)

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        """Join a and b unless a curated decision forbids it; True when they are together."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        ca, cb = self.curated.get(ra), self.curated.get(rb)
        if ca is not None and cb is not None and ca != cb:
            return False
        sa, sb = self.sides.get(ra, set()), self.sides.get(rb, set())
        if any((pair, 1 - side) in sb for pair, side in sa):
            return False
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        if cb is not None:
            self.curated[ra] = cb
        self.curated.pop(rb, None)
        if rb in self.sides:
            self.sides[ra] |= self.sides.pop(rb)
        return True


def resolve(
    nodes: Mapping[str, Iterable[str]], registry: Registry, merge_score: float = MERGE_SCORE
) -> Resolution:
    """Cluster ``nodes`` (normalised name -> its strong identifiers) under ``registry``.

    ``merge_score`` is only changed by the benchmark's threshold sweep.
    """
    names = sorted(n for n in nodes if n)
    index = {name: i for i, name in enumerate(names)}
    forest = _Forest(len(names))
    methods: dict[str, tuple[str, float | None]] = {}
    unmatched: list[tuple[int, str]] = []

    def known(name: str, line: int) -> int | None:
        i = index.get(normalise(name))
        if i is None:
            unmatched.append((line, name))
        return i

    decided: set[frozenset[str]] = set()
    for p, pair in enumerate(registry.never_same):
        for side, name in enumerate((pair.left, pair.right)):
            i = known(name, pair.line)
            if i is not None:
                forest.sides[i].add((p, side))
        decided.add(frozenset((normalise(pair.left), normalise(pair.right))))
    for a, actor in enumerate(registry.actors):
        found = [i for i in (known(n, actor.line) for n in actor.names) if i is not None]
        for i in found:
            forest.curated[forest.find(i)] = a
            methods[names[i]] = ("curated", None)
        for i in found[1:]:
            forest.union(found[0], i)
    for pair in registry.same:
        decided.add(frozenset((normalise(pair.left), normalise(pair.right))))
        left, right = known(pair.left, pair.line), known(pair.right, pair.line)
        if left is not None and right is not None and forest.union(left, right):
            for i in (left, right):
                methods[names[i]] = ("curated", None)
    for i, j in _identifier_edges(names, nodes):
        if forest.union(i, j):
            for k in (i, j):
                methods.setdefault(names[k], ("identifier", None))
    review: list[Candidate] = []
    for score, i, j, verdict in _fuzzy(names, merge_score):
        key = frozenset((names[i], names[j]))
        if verdict == "merge" and forest.union(i, j):
            for k in (i, j):
                methods.setdefault(names[k], ("fuzzy", score))
        elif key not in decided and forest.find(i) != forest.find(j):
            review.append(Candidate(names[i], names[j], score, verdict))
    members: dict[int, list[str]] = defaultdict(list)
    for i, name in enumerate(names):
        members[forest.find(i)].append(name)
    clusters = [
        Cluster(
            tuple(group),
            registry.actors[forest.curated[root]] if root in forest.curated else None,
        )
        for root, group in sorted(members.items())
    ]
    return Resolution(clusters, methods, review, unmatched)


def _identifier_edges(
    names: list[str], nodes: Mapping[str, Iterable[str]]
) -> Iterator[tuple[int, int]]:
    holders: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        for identifier in set(nodes[name]):
            holders[identifier].append(i)
    for identifier in sorted(holders):
        group = holders[identifier]
        for j in group[1:]:
            yield group[0], j


def _blocks(names: list[str]) -> Iterator[list[int]]:
    """Groups of node indices worth comparing: only names a rule could relate share a key.

    Keys (never all pairs): the content words in any order; the letters without spaces; the
    name with its k-th word masked (names that differ in that word only: a typo candidate;
    the masked word's first letter is part of the key, as a slip never changes it). And a
    lookup: the name with its k-th word left out, among the whole names (a name that adds a
    word to another). One kind of key at a time, so memory holds one key per name. A group
    larger than ``MAX_BLOCK`` comes from a word too common to tell anything: skipped.
    """
    tokens = [name.split() for name in names]
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, toks in enumerate(tokens):
        by_length[len(toks)].append(i)
    passes: list[tuple[list[int], Callable[[list[str]], tuple[str, ...] | None]]] = [
        (list(range(len(names))), lambda toks: ("order", *_content(toks))),
        (list(range(len(names))), lambda toks: ("compact", "".join(toks))),
    ]
    for length in sorted(by_length):
        for k in range(length):
            passes.append((by_length[length], partial(_slot, k=k)))
    for members, key_of in passes:
        groups: dict[tuple[str, ...], list[int]] = {}
        for i in members:
            key = key_of(tokens[i])
            if key is not None:
                groups.setdefault(key, []).append(i)
        for group in groups.values():  # insertion order follows the sorted names
            if 1 < len(group) <= MAX_BLOCK:
                yield group
    whole = {tuple(toks): i for i, toks in enumerate(tokens)}
    for i, toks in enumerate(tokens):
        for k in range(len(toks) if len(toks) > 1 else 0):
            shorter = whole.get((*toks[:k], *toks[k + 1 :]))
            if shorter is not None:
                yield [shorter, i]


def _slot(toks: list[str], k: int) -> tuple[str, ...] | None:
    word = toks[k]
    if any(c.isdigit() for c in word):
        return None
    return (word[0], *toks[:k], "", *toks[k + 1 :])


def _fuzzy(names: list[str], merge_score: float) -> list[tuple[float, int, int, str]]:
    """Judged pairs, best score first: (score, i, j, 'merge' or a review reason)."""
    judged: dict[tuple[int, int], tuple[float, str]] = {}
    for group in _blocks(names):
        for x, i in enumerate(group):
            for j in group[x + 1 :]:
                key = (i, j) if i < j else (j, i)
                if key not in judged:
                    verdict = judge(names[key[0]], names[key[1]], merge_score)
                    if verdict is not None:
                        judged[key] = verdict
    return sorted(
        ((score, i, j, verdict) for (i, j), (score, verdict) in judged.items()),
        key=lambda item: (-item[0], item[1], item[2]),
    )


def judge(left: str, right: str, merge_score: float = MERGE_SCORE) -> tuple[float, str] | None:
    """(score, 'merge') for the same name, (score, reason) for a doubt, None for different."""
    a, b = left.split(), right.split()
    score = round(fuzz.ratio(left, right), 1)
    if _content(a) == _content(b) or "".join(a) == "".join(b):
        return 100.0, "merge"
    if len(a) == len(b):
        diffs = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        if (
            len(diffs) == 1
            and score >= merge_score
            and _typo(*diffs[0])
            and (len(a) > 1 or min(len(left), len(right)) >= 6)
        ):
            return score, "merge"
    sa, sb = set(a), set(b)
    if _numbered(sa - sb) and _numbered(sb - sa):
        return None  # "Committee 1" and "Committee 2", "Beto 2018" and "Beto 2024"
    if sa < sb or sb < sa:
        return score, "one name adds words to the other"
    if score >= REVIEW_SCORE:
        return score, "similar spelling"
    return None


#: Words that only join others ("Democratic Party of West Virginia" / "West Virginia Democratic
#: Party"): ignored when two names have the same words in another order.
_CONNECTORS = frozenset(
    {"of", "for", "the", "de", "do", "da", "dos", "das", "del", "la", "le", "di", "du", "des"}
)


def _content(tokens: list[str]) -> list[str]:
    return sorted(t for t in tokens if t not in _CONNECTORS)


def _numbered(tokens: set[str]) -> bool:
    return any(c.isdigit() for t in tokens for c in t)


def _typo(x: str, y: str) -> bool:
    """Whether two tokens can be one word with a slip: one edit (two in words of 9+ letters),
    never in the first letter, never in numbers or short words (acronyms, initials).

    An edit count, not a similarity ratio: "okafor"/"okafer" (a typo) and "liberal"/
    "libertario" (another party) score alike as ratios but are one and three edits apart.
    """
    if any(c.isdigit() for c in x + y) or min(len(x), len(y)) < TOKEN_MIN_LENGTH:
        return False
    if x[0] != y[0]:
        return False
    return OSA.distance(x, y) <= (2 if min(len(x), len(y)) >= 9 else 1)
