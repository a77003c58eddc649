"""Renumbered advertisers and creatives: the id maps, and the two mapping files that feed them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from collectors.bulk import Item, Notices, TableRow
from collectors.csvstream import CsvStream
from collectors.download import BulkArchive
from collectors.google.settings import ADVERTISER_ID_MAPPING, CREATIVE_ID_MAPPING


@dataclass(slots=True)
class IdMap:
    """Renumbered ids (new → old), resolved to the first id of each chain."""

    previous: dict[str, str] = field(default_factory=dict)

    def add(self, old: str, new: str) -> None:
        if old and new and old != new:
            self.previous[new] = old

    def canonical(self, current: str) -> str:
        """The first id ``current`` was known by (itself if it was never renumbered)."""
        seen = {current}
        while current in self.previous:
            current = self.previous[current]
            if current in seen:  # a cycle in Google's file: stop where it closes
                break
            seen.add(current)
        return current


@dataclass(slots=True)
class BundleIds:
    """The bundle's two id maps."""

    advertisers: IdMap = field(default_factory=IdMap)
    creatives: IdMap = field(default_factory=IdMap)

    def fingerprint(self) -> str:
        """Both maps as one string: a row normalises differently once they change."""
        pairs = (sorted(m.previous.items()) for m in (self.advertisers, self.creatives))
        return repr(tuple(pairs))


def mapping_columns(header: Sequence[str]) -> tuple[str, str] | None:
    """The (old, new) id columns of a mapping file, found by name (the layout is undocumented)."""
    old = next((c for c in header if "old" in c.lower()), None)
    new = next((c for c in header if "new" in c.lower()), None)
    return (old, new) if old and new else None


def read_id_maps(archive: BulkArchive, notices: Notices) -> BundleIds:
    """Both id-mapping files, if present, as in-memory maps (they are small)."""
    ids = BundleIds()
    members = archive.members()
    for name, target in (
        (ADVERTISER_ID_MAPPING, ids.advertisers),
        (CREATIVE_ID_MAPPING, ids.creatives),
    ):
        if name not in members:
            continue
        with archive.open(members[name]) as binary:
            stream = CsvStream(binary, name)
            columns = mapping_columns(stream.header)
            if columns is None:
                continue  # IdMappingParser reports it when the member is read
            old_index, new_index = (stream.header.index(c) for c in columns)
            for row in stream.rows():
                if len(row.fields) > max(old_index, new_index):
                    target.add(row.fields[old_index].strip(), row.fields[new_index].strip())
    return ids


@dataclass(slots=True)
class IdMappingParser:
    member: str
    kind: str
    columns: tuple[str, str] | None = None

    def begin(self, header: list[str], notices: Notices) -> None:
        self.columns = mapping_columns(header)
        if self.columns is None:
            notices.add(f"{self.member}: no old/new id columns in {header}; ids not mapped")

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        if self.columns is None:
            return
        old, new = (values.get(c, "").strip() for c in self.columns)
        if old and new:
            yield TableRow(
                "google_id_mappings",
                ("kind", "old_id"),
                {"kind": self.kind, "old_id": old, "new_id": new},
            )
