"""A scope's checkpoint (watermark and the pass under way) and the adaptive page size."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from collectors.meta.responses import Usage
from collectors.meta.settings import GROW_AFTER_SUCCESSES, GROW_FACTOR, MIN_PAGE_SIZE
from collectors.records import (
    JsonDict,
)


@dataclass(slots=True)
class PassState:
    """A pass under way: where it started and how far it got."""

    since: date | None
    started: date
    limit: int
    after: str | None = None

    def to_json(self) -> JsonDict:
        return {
            "since": _iso(self.since),
            "started": self.started.isoformat(),
            "limit": self.limit,
            "after": self.after,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PassState:
        return cls(
            since=_date_or_none(raw.get("since")),
            started=date.fromisoformat(raw["started"]),
            limit=int(raw["limit"]),
            after=raw.get("after") or None,
        )


@dataclass(slots=True)
class MetaState:
    """A scope's checkpoint: ``{"ad_type", "watermark", "pass"}`` (JSON)."""

    ad_type: str
    watermark: date | None = None
    current: PassState | None = None

    def to_json(self) -> JsonDict:
        return {
            "ad_type": self.ad_type,
            "watermark": _iso(self.watermark),
            "pass": self.current.to_json() if self.current else None,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MetaState:
        current = raw.get("pass")
        return cls(
            ad_type=str(raw["ad_type"]),
            watermark=_date_or_none(raw.get("watermark")),
            current=PassState.from_json(current) if current else None,
        )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _date_or_none(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass(slots=True)
class PageSize:
    """Adaptive ``limit``: halve on "reduce the amount of data", grow back after successes."""

    limit: int
    ceiling: int
    streak: int = 0

    def shrink(self) -> None:
        self.limit = max(MIN_PAGE_SIZE, self.limit // 2)
        self.streak = 0

    def succeeded(self) -> None:
        self.streak += 1
        if self.streak >= GROW_AFTER_SUCCESSES and self.limit < self.ceiling:
            self.limit = min(self.ceiling, math.ceil(self.limit * GROW_FACTOR))
            self.streak = 0


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    content: bytes
    data: list[Any]
    after: str | None
    usage: Usage | None


@dataclass(slots=True)
class WatchState:
    """A watchlist scope's pass under way: which batch of Page ids, and where in it.

    ``pages`` fingerprints the watchlist: a checkpoint saved for another list of Pages does not
    apply (the batches would not line up). ``started`` is when the pass began, so the listing's
    end can mark delisted the ads it no longer contained, even after a resumed run.
    """

    pages: str
    started: datetime
    batch: int
    current: PassState

    def to_json(self) -> JsonDict:
        return {
            "pages": self.pages,
            "started": self.started.isoformat(),
            "batch": self.batch,
            "pass": self.current.to_json(),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> WatchState:
        return cls(
            pages=str(raw["pages"]),
            started=datetime.fromisoformat(raw["started"]),
            batch=int(raw["batch"]),
            current=PassState.from_json(raw["pass"]),
        )
