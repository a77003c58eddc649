"""Sniffing a file a person downloaded by hand, for the recognisers of `adlib import`.

Each platform recognises its own files (:data:`collectors.RECOGNISERS` names the functions),
from a file's name and first bytes only; what they share is here.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

_ZIP_MAGIC = b"PK\x03\x04"


def is_zip(path: Path) -> bool:
    """Whether ``path`` starts like a zip (its local-file magic), without opening it as one."""
    with path.open("rb") as handle:
        return handle.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC


def zip_names(path: Path) -> set[str] | None:
    """Base names of a zip's members, or ``None`` when ``path`` is not a readable zip."""
    try:
        if not is_zip(path):
            return None
        with zipfile.ZipFile(path) as archive:
            return {name.rsplit("/", 1)[-1] for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return None
