"""Skip the unchanged rows of a re-published bulk file before normalising them.

Google republishes its whole bundle every day and Snap its current year, while only a small
share of ads changes overnight. Normalising, hashing and touching every unchanged row again
made a night with 1% of changes cost half of a first import. Instead, each ad row gets a cheap
fingerprint of its raw cells (:func:`row_hasher`, 64 bits of BLAKE2b), stored on the ad
(``ads.raw_hash``). Before reading a file, the collector asks the pipeline for the fingerprints
of the scope's listed ads (:class:`KnownRows`, 16 bytes per ad, sorted, binary-searched); a row
whose fingerprint is known is counted and skipped: no parse, no normalisation, no write.
Everything else (new ads, changed ads, ads stored before fingerprints existed, a delisted ad
that came back) goes through the full path, which compares content hashes as before.

The fingerprint is keyed with a *salt* that covers what else decides the normalised ad: the
normaliser's version (:data:`ROW_HASH_VERSION`, bumped when a normaliser changes its output)
and, for Google, the id maps that rename ads and advertisers. A change to either renormalises
every row once. At the end of a complete listing the ads whose fingerprint no row matched are
the only delisting candidates (:meth:`KnownRows.unseen`). A resumed listing re-hashes the rows
before its checkpoint, so the candidates are the same as after an uninterrupted read.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from hashlib import blake2b

#: Bump when any bulk normaliser changes what it makes of the same cells: every stored
#: fingerprint then stops matching and the next import renormalises every row once.
ROW_HASH_VERSION = 1

#: What the pipeline gives a collector: ``(source, scope)`` → ``(raw_hash or None, ad id)`` of
#: the scope's ads that are not delisted, sorted by ``raw_hash`` (``None`` first).
KnownRowsReader = Callable[[str, str], Iterable[tuple[int | None, int]]]


def row_salt(*parts: str) -> bytes:
    """A BLAKE2b key from the normaliser's version and ``parts`` (anything else that matters)."""
    text = "\x1e".join((f"v{ROW_HASH_VERSION}", *parts))
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()


def row_hasher(salt: bytes) -> Callable[[list[str]], int]:
    """The fingerprint of one raw row, keyed by ``salt``, as a signed 64-bit integer.

    Cells are joined with U+001F, which no cell of these files carries; a collision between
    two different rows has a chance of 2**-64 per pair. The result fits a ``BIGINT``.
    """
    keyed = blake2b(digest_size=8, key=salt)
    from_bytes = int.from_bytes

    def fingerprint(fields: list[str]) -> int:
        digest = keyed.copy()
        digest.update("\x1f".join(fields).encode("utf-8", "surrogatepass"))
        return from_bytes(digest.digest(), "little", signed=True)

    return fingerprint


class KnownRows:
    """Fingerprints of a scope's stored ads, and which of them this listing has seen.

    Two ``array('q')`` of the same length (fingerprints sorted, ad ids) and one byte per ad:
    about 17 MB for a million ads, where a Python set of the same ints would take over 60 MB.
    """

    def __init__(self, rows: Iterable[tuple[int | None, int]]) -> None:
        """``rows``: ``(raw_hash or None, ad id)`` sorted by ``raw_hash``, ``None`` first."""
        self.hashes = array("q")
        self.ids = array("q")
        #: Ads stored without a fingerprint: never skipped, always delisting candidates.
        self.unhashed: list[int] = []
        for raw_hash, ad_id in rows:
            if raw_hash is None:
                self.unhashed.append(ad_id)
            else:
                self.hashes.append(raw_hash)
                self.ids.append(ad_id)
        self.seen = bytearray(len(self.hashes))

    def __len__(self) -> int:
        return len(self.hashes) + len(self.unhashed)

    def confirm(self, raw_hash: int) -> bool:
        """Whether a stored ad has this fingerprint (and mark every such ad seen)."""
        hashes = self.hashes
        index = bisect_left(hashes, raw_hash)
        found = False
        while index < len(hashes) and hashes[index] == raw_hash:
            self.seen[index] = 1
            index += 1
            found = True
        return found

    def unseen(self) -> list[int]:
        """Ids of stored ads that no row of this listing confirmed unchanged."""
        missing = [self.ids[i] for i, seen in enumerate(self.seen) if not seen]
        return self.unhashed + missing
