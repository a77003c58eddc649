"""The contract between a platform collector and the pipeline.

A collector knows one platform: its endpoints, paging, error codes, rate-limit signals and the
mapping of its raw records onto :mod:`collectors.records`. It never touches the database. The
pipeline hands it a scope and that scope's last checkpoint, and commits each yielded
:class:`~collectors.records.Page` together with the Page's checkpoint.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from collectors.records import DEFAULT_MENTION_FIELDS, MentionField, Page, RawPayload
from collectors.unchanged import KnownRowsReader


class SourceSettings(BaseModel):
    """Keys every source accepts under ``sources.<name>`` in ``config.yaml``.

    Each collector subclasses this with its own keys; unknown keys are rejected so that a typo
    in the config is an error, not a silently ignored setting.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    schedule: str | None = Field(default=None, description="cron expression for `adlib schedule`")
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    retry_backoff_seconds: float = Field(
        default=1.0, gt=0, description="first retry waits about this long, doubling each time"
    )
    max_wait_seconds: float = Field(
        default=900.0, gt=0, description="longest single wait the platform may ask us for"
    )


@dataclass(slots=True)
class CollectorContext:
    """What the pipeline gives a collector besides its settings."""

    countries: list[str]
    data_dir: Path
    log: logging.Logger
    since: date | None = None
    #: Called with seconds; the pipeline may replace it to make waits interruptible.
    sleep: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Fingerprints of stored bulk rows (:data:`collectors.unchanged.KnownRowsReader`); a bulk
    #: collector given none reads every row in full.
    known_rows: KnownRowsReader | None = None


class CollectorError(Exception):
    """Base of every error a collector raises on purpose. Messages never contain secrets."""


class TransientError(CollectorError):
    """Worth retrying: 5xx, timeouts, resets, truncated bodies, platform 'try again' codes."""


class ThrottledError(TransientError):
    """The platform asked us to slow down; ``wait_seconds`` is how long it asked for."""

    def __init__(self, message: str, wait_seconds: float | None = None) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


class FatalError(CollectorError):
    """Retrying cannot help (bad token, missing permission, invalid parameter).

    The pipeline stops the scope, keeps what was committed, and goes on with other scopes.
    """


class TokenRejected(FatalError):
    """The platform refuses the access token (invalid, expired, or its account lacks access).

    Its own type because only a person can fix it: `adlib status` reports it as a problem,
    while other fatal answers of a token check only leave the expiry unknown.
    """


class ScopeSkipped(CollectorError):
    """The source cannot run at all in this configuration (e.g. no access token)."""


@contextmanager
def transport_errors_as_transient() -> Iterator[None]:
    """Turn an HTTP-library error into a :class:`TransientError` (worth another night)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise TransientError(f"network error: {type(exc).__name__}: {exc}") from None


class Collector(ABC):
    """One platform. Subclasses set ``name`` and ``Settings`` and implement the two methods."""

    name: ClassVar[str]
    Settings: ClassVar[type[SourceSettings]] = SourceSettings
    #: True when :meth:`credential_expiry` can ask the platform about the configured token.
    checks_credential: ClassVar[bool] = False
    #: Which stored names are mentions of whom, for the actors layer (docs/actors.md).
    mention_fields: ClassVar[tuple[MentionField, ...]] = DEFAULT_MENTION_FIELDS

    def __init__(self, settings: SourceSettings, context: CollectorContext) -> None:
        self.settings = settings
        self.context = context
        self.log = context.log

    def skip_reason(self) -> str | None:
        """Why this source cannot run with the given settings, or ``None`` if it can."""
        return None

    def files_kept(self) -> int | None:
        """How many downloaded files per scope stay on disk (the newest); ``None``: no limit.

        Only sources that keep original files in the data directory (bulk downloads) have a
        limit; API pages live compressed in the database and are not pruned.
        """
        return None

    def secrets(self) -> list[str]:
        """Strings that must never reach the database, logs or exports (tokens, keys)."""
        return []

    @abstractmethod
    def scopes(self) -> list[str]:
        """The independent units of work of one run, each with its own checkpoint."""

    @abstractmethod
    def fetch(self, scope: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        """Yield the scope's Pages in order, resuming from ``state`` (the last checkpoint)."""

    def pages(self, scope: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        """:meth:`fetch`, with any transport error that escaped it as a :class:`TransientError`.

        The pipeline calls this, so it handles adlib's errors only and never names the HTTP
        library a collector happens to use.
        """
        with transport_errors_as_transient():
            yield from self.fetch(scope, state)

    def replay(self, scope: str, raw: RawPayload) -> Iterator[Page]:
        """Re-derive, offline, the Pages of one archived raw record with today's parser.

        ``raw.content`` is the stored body of an API page; a bulk file arrives as ``raw.path``
        (absolute, or relative to the data directory). Used by `adlib db rebuild`: the archive,
        not the database, is the ground truth, so a fixed normaliser can fix history too.
        Checkpoints are not replayed. `adlib import` hands a file a person downloaded the same
        way (see :data:`collectors.RECOGNISERS`).
        """
        raise NotImplementedError(f"{self.name} cannot replay its raw archive yet")

    def advisories(self) -> list[str]:
        """Warnings about the settings that `adlib status` shows (cheap: no network).

        For what is not wrong yet but will be, e.g. an API version near its retirement.
        """
        return []

    def credential_expiry(self) -> datetime | None:
        """When the configured credential expires (``None``: it does not), asked of the platform.

        Only for collectors with ``checks_credential``; one quick attempt, because it serves a
        status check. Raises :class:`TokenRejected` when the platform refuses the credential and
        another :class:`CollectorError` when it cannot tell.
        """
        raise NotImplementedError(f"{self.name} has no credential check")

    def close(self) -> None:  # noqa: B027 - optional hook, most collectors hold nothing
        """Release network clients and temporary files."""
