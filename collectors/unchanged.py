"""Skip the unchanged rows of a re-published bulk file before parsing them.

Google republishes its whole bundle every day and Snap its current year, while only a small
share of ads changes overnight. Normalising, hashing and touching every unchanged row again
made a night with 1% of changes cost half of a first import. Instead, each ad row gets a cheap
fingerprint of its raw bytes (:func:`row_hasher`, 64 bits of keyed BLAKE2b), stored on the ad
(``ads.raw_hash``). Before reading a file, the collector asks the pipeline for the fingerprints
of the scope's listed ads (:class:`KnownRows`, 17 bytes per ad, sorted, searched a batch of
rows at a time); a row whose fingerprint is known is counted and skipped: no csv parse, no
decoding, no normalisation, no write (``collectors.csvstream`` finds a row's bytes from its
quotes). Everything else (new ads, changed ads, ads stored before fingerprints existed, a
delisted ad that came back) goes through the full path, which compares content hashes as
before.

The fingerprint is keyed with a *salt* that covers what else decides the normalised ad: the
normaliser's version (:data:`ROW_HASH_VERSION`, bumped when a normaliser changes its output)
and, for Google, the id maps that rename ads and advertisers. A change to either renormalises
every row once. At the end of a complete listing the ads whose fingerprint no row matched are
the only delisting candidates (:meth:`KnownRows.unseen`). A resumed listing re-hashes the rows
before its checkpoint, so the candidates are the same as after an uninterrupted read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import blake2b

import numpy as np

#: Bump when any bulk normaliser changes what it makes of the same cells: every stored
#: fingerprint then stops matching and the next import renormalises every row once.
#: 2: the fingerprint covers the row's raw bytes (1 covered its parsed cells).
ROW_HASH_VERSION = 2

#: What the pipeline gives a collector: ``(source, scope)`` → batches of ``(raw_hash or None,
#: ad id)`` of the scope's ads that are not delisted, sorted by ``raw_hash`` (``None`` first).
KnownRowsReader = Callable[[str, str], Iterable[Sequence[tuple[int | None, int]]]]


def row_salt(*parts: str) -> bytes:
    """A BLAKE2b key from the normaliser's version and ``parts`` (anything else that matters)."""
    text = "\x1e".join((f"v{ROW_HASH_VERSION}", *parts))
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()


def row_hasher(salt: bytes) -> Callable[[Sequence[bytes]], np.ndarray]:
    """The fingerprints of rows' raw bytes, keyed by ``salt``, as signed 64-bit integers.

    Keyed, so nobody who writes an ad can craft a collision with another row; otherwise a
    collision between two different rows has a chance of 2**-64 per pair. Equal bytes parse to
    equal cells, so an equal fingerprint means an equal row. The values fit a ``BIGINT``.
    """
    copy = blake2b(digest_size=8, key=salt).copy

    def digest(raw: bytes) -> bytes:
        keyed = copy()
        keyed.update(raw)
        return keyed.digest()

    def fingerprints(rows: Sequence[bytes]) -> np.ndarray:
        return np.frombuffer(b"".join(map(digest, rows)), dtype="<i8").astype(np.int64)

    return fingerprints


class KnownRows:
    """Fingerprints of a scope's stored ads, and which of them this listing has seen.

    Two int64 arrays of the same length (fingerprints sorted, ad ids) and one byte per ad:
    about 17 MB for a million ads, where a Python set of the same ints would take over 60 MB.
    Rows are looked up a batch at a time (:meth:`lookup`, one vectorised binary search) and
    marked seen only once the reader has taken them as unchanged (:meth:`mark`).
    """

    def __init__(self, batches: Iterable[Sequence[tuple[int | None, int]]]) -> None:
        """``batches`` of ``(raw_hash or None, ad id)``, sorted by ``raw_hash``, ``None``
        first. A batch without ``None`` is converted by numpy whole (a million ads in 0.2 s,
        where a Python loop takes a second)."""
        hashes: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        #: Ads stored without a fingerprint: never skipped, always delisting candidates.
        self.unhashed: list[int] = []
        for batch in batches:
            if batch and batch[0][0] is None:  # only the first batches can hold None
                self.unhashed += [ad_id for raw_hash, ad_id in batch if raw_hash is None]
                batch = [row for row in batch if row[0] is not None]
            if batch:
                pairs = np.array(batch, dtype=np.int64).reshape(-1, 2)
                hashes.append(pairs[:, 0])
                ids.append(pairs[:, 1])
        self.hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.int64)
        self.ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        self.seen = np.zeros(len(self.hashes), dtype=np.bool_)
        #: Whether two stored ads share a fingerprint (then marking one marks all).
        self._shared = bool(np.any(self.hashes[1:] == self.hashes[:-1]))

    def __len__(self) -> int:
        return len(self.hashes) + len(self.unhashed)

    def lookup(self, fingerprints: np.ndarray) -> np.ndarray:
        """For each fingerprint, the position of a stored ad that has it, or -1."""
        if not len(self.hashes):
            return np.full(len(fingerprints), -1, dtype=np.int64)
        at = np.searchsorted(self.hashes, fingerprints)
        found = self.hashes[np.minimum(at, len(self.hashes) - 1)] == fingerprints
        return np.where(found, at, -1)

    def mark(self, positions: np.ndarray) -> None:
        """Mark seen the ads at ``positions`` (from :meth:`lookup`) and any sharing their
        fingerprint."""
        self.seen[positions] = True
        if self._shared:
            for position in positions.tolist():
                end = int(np.searchsorted(self.hashes, self.hashes[position], side="right"))
                self.seen[position:end] = True

    def unseen(self) -> list[int]:
        """Ids of stored ads that no row of this listing confirmed unchanged."""
        return self.unhashed + self.ids[~self.seen].tolist()
