"""Recognising files a person downloaded by hand, for `adlib import`.

Each recogniser looks at a file's name and its first bytes only (no full read) and returns the
scope the file imports under, or ``None`` when the file is not its platform's. The pipeline asks
every recogniser in :data:`collectors.RECOGNISERS` and hands a recognised file to that source's
:meth:`~collectors.base.Collector.replay` as ``RawPayload(kind="file")``. Meta's report files
are recognised in :mod:`collectors.meta.report`; the bulk files of Google and Snap here, because
their collectors read the same files from their download URLs.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from collectors.google import CREATIVE_STATS
from collectors.google import SCOPE as GOOGLE_SCOPE
from collectors.snap import MEMBER as SNAP_MEMBER

#: Columns that only Snap's ``PoliticalAds.csv`` starts with.
_SNAP_HEADER = ("ADID", "CreativeUrl")


def google_bundle(path: Path) -> str | None:
    """Google's transparency bundle: a zip holding ``google-political-ads-creative-stats.csv``."""
    names = _zip_names(path)
    return GOOGLE_SCOPE if names is not None and CREATIVE_STATS in names else None


def snap_political_ads(path: Path) -> str | None:
    """Snap's ``PoliticalAds.zip`` or ``PoliticalAds.csv``; the scope is the year of its ads."""
    names = _zip_names(path)
    try:
        if names is None:
            with path.open("rb") as handle:
                return _snap_year(handle.read(64 * 1024))
        if SNAP_MEMBER not in names:
            return None
        with zipfile.ZipFile(path) as archive:
            member = next(n for n in archive.namelist() if n.rsplit("/", 1)[-1] == SNAP_MEMBER)
            with archive.open(member) as handle:
                return _snap_year(handle.read(64 * 1024))
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError):
        return None


def _snap_year(head: bytes) -> str | None:
    """The year of the first ad's ``StartDate`` (``2020/10/15 18:53:02Z``), if the header is Snap's."""
    # Real files carry invalid UTF-8 (the reader keeps such rows with U+FFFD), and 64 KiB may
    # end inside a character: neither may hide what the file is.
    lines = head.decode("utf-8-sig", errors="replace").splitlines()[:2]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    if len(rows) < 2 or tuple(rows[0][:2]) != _SNAP_HEADER or "StartDate" not in rows[0]:
        return None
    start = rows[1][rows[0].index("StartDate")] if len(rows[1]) == len(rows[0]) else ""
    return start[:4] if start[:4].isdigit() else None


def _zip_names(path: Path) -> set[str] | None:
    """Base names of a zip's members, or ``None`` when ``path`` is not a zip."""
    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"PK\x03\x04":
                return None
        with zipfile.ZipFile(path) as archive:
            return {name.rsplit("/", 1)[-1] for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return None
