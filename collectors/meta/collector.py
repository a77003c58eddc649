"""The Meta collector: one scope per country, incremental passes, resumable at every page."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from collectors.base import (
    Collector,
    CollectorContext,
    FatalError,
    SourceSettings,
    TransientError,
    transport_errors_as_transient,
)
from collectors.http import Retrier, describe_url, make_client
from collectors.meta.normalise import country_code, normalise, unique
from collectors.meta.report import read_report
from collectors.meta.responses import (
    CursorRejected,
    FieldRemoved,
    GraphResponses,
    ReduceData,
    Usage,
    parse_usage,
)
from collectors.meta.settings import (
    FIELDS,
    MIN_PAGE_SIZE,
    SOURCE,
    WATCH_PREFIX,
    MetaSettings,
    version_advisory,
)
from collectors.meta.state import Fetched, MetaState, PageSize, PassState, WatchState
from collectors.meta.token import token_expiry
from collectors.records import (
    JsonDict,
    Page,
    Quarantined,
    RawPayload,
)
from collectors.redact import Redactor


class MetaCollector(Collector):
    """Political and issue ads (or any ``ad_type``) per reached country, incrementally."""

    name = SOURCE
    Settings = MetaSettings
    settings: MetaSettings
    checks_credential = True

    def __init__(self, settings: SourceSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.redactor = Redactor(self.secrets())
        self.retrier = Retrier.for_collector(settings, context, self.redactor)
        self.responses = GraphResponses(self.redactor, self.settings.throttle_wait_seconds)
        self._client: httpx.Client | None = None
        #: The fields requested; one Meta says this version lacks is dropped for the run.
        self.fields = unique([*FIELDS, *self.settings.extra_fields])
        #: Run notices (each field dropped), attached to every Page from then on.
        self.notices: list[str] = []

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def skip_reason(self) -> str | None:
        if not self.settings.access_token:
            return "no access token: set META_ACCESS_TOKEN (see README, 'Collect for real')"
        return None

    def secrets(self) -> list[str]:
        return [self.settings.access_token] if self.settings.access_token else []

    def credential_expiry(self) -> datetime | None:
        with transport_errors_as_transient():
            return token_expiry(self.settings, self.client)

    def advisories(self) -> list[str]:
        advisory = version_advisory(self.settings.api_version, datetime.now(UTC).date())
        return [advisory] if advisory else []

    def scopes(self) -> list[str]:
        """One per country (political library), one per watchlist country (all ads)."""
        political = unique(country_code(code) for code in self.context.countries)
        return political + [f"{WATCH_PREFIX}{c}" for c in self.settings.watchlist.countries]

    def replay(self, scope: str, raw: RawPayload) -> Iterator[Page]:
        """One archived ``ads_archive`` response: its ads, normalised again (no request).

        A file (``raw.kind == "file"``) is an Ad Library Report a person downloaded: its rows
        (see :mod:`collectors.meta.report`).
        """
        if raw.kind == "file":
            yield from read_report(scope, raw, self.context.data_dir)
            return
        try:
            body = json.loads(raw.content or b"")
        except ValueError as exc:
            raise FatalError(f"archived page {raw.url} is not JSON: {exc}") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise FatalError(f"archived page {raw.url} has no data list")
        fetched = Fetched(
            url=raw.url, content=raw.content or b"", data=data, after=None, usage=None
        )
        yield self._page(scope, fetched, checkpoint={})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- one scope ------------------------------------------------------------------------

    def fetch(self, scope: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        if scope.startswith(WATCH_PREFIX):
            yield from self._watch(scope, state)
            return
        current = self._load_state(scope, state)
        run = current.current if self._resumable(scope, current.current) else None
        if run is None:
            run = PassState(
                since=self._pass_since(current.watermark),
                started=datetime.now(UTC).date(),
                limit=self.settings.page_size,
            )
            self.log.info("meta %s: new pass since %s", scope, run.since or "the beginning")
        else:
            self.log.info("meta %s: resuming the pass since %s", scope, run.since or "start")
        yield from self._run_pass(scope, current, run)

    def _load_state(self, scope: str, state: Mapping[str, Any] | None) -> MetaState:
        """The saved state; a checkpoint written for another ``ad_type`` does not apply."""
        fresh = MetaState(ad_type=self.settings.ad_type)
        if not state:
            return fresh
        try:
            saved = MetaState.from_json(state)
        except (KeyError, TypeError, ValueError) as exc:
            self.log.warning("meta %s: unreadable checkpoint (%s); starting afresh", scope, exc)
            return fresh
        if saved.ad_type != self.settings.ad_type:
            self.log.warning(
                "meta %s: checkpoint is for ad_type %s, settings say %s; starting afresh",
                scope,
                saved.ad_type,
                self.settings.ad_type,
            )
            return fresh
        return saved

    def _resumable(self, scope: str, saved: PassState | None) -> bool:
        """An interrupted pass resumes unless ``--since`` asks for a different window."""
        if saved is None:
            return False
        since = self.context.since
        if since is not None and since != saved.since:
            self.log.info("meta %s: --since %s replaces the interrupted pass", scope, since)
            return False
        return True

    def _pass_since(self, watermark: date | None) -> date | None:
        if self.context.since is not None:
            return self.context.since
        if watermark is not None:
            return watermark - timedelta(days=self.settings.overlap_days)
        return self.settings.backfill_since

    def _run_pass(self, scope: str, state: MetaState, run: PassState) -> Iterator[Page]:
        ceiling = self.settings.page_size  # may have been lowered since the pass was saved
        size = PageSize(limit=max(MIN_PAGE_SIZE, min(run.limit, ceiling)), ceiling=ceiling)
        resumed_cursor = run.after is not None
        seen: set[str] = {run.after} if run.after else set()
        while True:
            try:
                fetched = self._fetch_page(scope, run, size)
            except CursorRejected:
                if not resumed_cursor:
                    raise
                self.log.warning(
                    "meta %s: Meta rejected the saved cursor; restarting the pass from %s",
                    scope,
                    run.since or "the beginning",
                )
                run.after, resumed_cursor = None, False
                seen.clear()
                continue
            resumed_cursor = False
            size.succeeded()
            run.limit = size.limit
            if fetched.after is not None and fetched.after in seen:
                # Meta is serving a page it already served (WMP saw it loop forever). Keep
                # the ads, keep the pass open at the last good cursor and fail the scope:
                # ending the pass would advance the watermark past ads never read.
                yield self._page(
                    scope, fetched, MetaState(state.ad_type, state.watermark, run).to_json()
                )
                raise TransientError(
                    f"meta {scope}: Meta served the same page cursor twice; the pass stays "
                    "open and resumes from the last good cursor on the next run"
                )
            if not fetched.data or fetched.after is None:
                done = MetaState(state.ad_type, watermark=run.started, current=None)
                yield self._page(scope, fetched, done.to_json())
                return
            seen.add(fetched.after)
            run.after = fetched.after
            yield self._page(
                scope, fetched, MetaState(state.ad_type, state.watermark, run).to_json()
            )
            self._pause_for_usage(scope, fetched.usage)

    def _watch(self, scope: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        """The watchlist's Pages' ads of any type in one EU/UK country: a complete listing.

        The Pages are asked for ten at a time (``search_page_ids``), every ad, every night:
        Meta keeps these ads one year only, so the rolling harvest is what keeps them, and a
        complete listing is what tells an ad Meta stopped returning (``delisted_at``).
        """
        batches = self.settings.watchlist.batches()
        pages = hashlib.sha256(",".join(self.settings.watchlist.page_ids).encode()).hexdigest()
        saved = self._watch_state(scope, state, pages[:16])
        size = PageSize(
            limit=max(MIN_PAGE_SIZE, saved.current.limit), ceiling=self.settings.page_size
        )
        seen: set[str] = set()
        while True:
            try:
                fetched = self._fetch_page(scope, saved.current, size, batches[saved.batch])
            except CursorRejected:
                if saved.current.after is None:
                    raise
                self.log.warning("meta %s: saved cursor rejected; restarting the batch", scope)
                saved.current.after = None
                continue
            size.succeeded()
            saved.current.limit = size.limit
            if fetched.after is not None and fetched.after in seen:
                yield self._page(scope, fetched, {"watchlist": saved.to_json()})
                raise TransientError(
                    f"meta {scope}: Meta served the same page cursor twice; the pass resumes "
                    "from the last good cursor on the next run"
                )
            if not fetched.data or fetched.after is None:
                saved.batch, saved.current.after = saved.batch + 1, None
                seen.clear()
            else:
                seen.add(fetched.after)
                saved.current.after = fetched.after
            done = saved.batch >= len(batches)
            page = self._page(scope, fetched, {"watchlist": None if done else saved.to_json()})
            page.listing_complete, page.listing_started_at = done, saved.started if done else None
            yield page
            if done:
                return
            self._pause_for_usage(scope, fetched.usage)

    def _watch_state(self, scope: str, state: Mapping[str, Any] | None, pages: str) -> WatchState:
        """The interrupted pass of this watchlist, or a new one."""
        raw = (state or {}).get("watchlist")
        try:
            saved = WatchState.from_json(raw) if raw else None
        except (KeyError, TypeError, ValueError) as exc:
            self.log.warning("meta %s: unreadable checkpoint (%s); starting afresh", scope, exc)
            saved = None
        if saved is not None and saved.pages == pages:
            self.log.info("meta %s: resuming the watchlist at batch %d", scope, saved.batch + 1)
            return saved
        now = datetime.now(UTC)
        fresh = PassState(since=None, started=now.date(), limit=self.settings.page_size)
        return WatchState(pages=pages, started=now, batch=0, current=fresh)

    def _pause_for_usage(self, scope: str, usage: Usage | None) -> None:
        """Slow down before Meta throttles us (the page itself arrived and was yielded)."""
        pause = usage.pause_seconds() if usage else 0.0
        if usage is None or pause <= 0:
            return
        what = f"meta {scope}: usage at {usage.percent:.0f}%"
        pause = self.retrier.policy.check_wait(pause, what)
        self.log.info("%s; pausing %.0f s before the next request", what, pause)
        self.retrier.sleep(pause)

    # -- one request -----------------------------------------------------------------------

    def _fetch_page(
        self, scope: str, run: PassState, size: PageSize, page_ids: list[str] | None = None
    ) -> Fetched:
        url = f"{self.settings.base_url}/{self.settings.api_version}/ads_archive"
        what = f"{describe_url(url)} ({scope})"

        def attempt() -> Fetched:
            while True:
                params = self._params(scope, run, size.limit, page_ids)
                response = self.client.get(url, params=params)
                try:
                    body = self.responses.body(response, what)
                except ReduceData as exc:
                    size.shrink()
                    raise ReduceData(f"{exc}; page size now {size.limit}") from None
                except FieldRemoved as exc:
                    self._drop_field(exc)
                    continue
                return self._fetched(response, body, what)

        return self.retrier.call(attempt, what)

    def _drop_field(self, removed: FieldRemoved) -> None:
        """Stop asking for a field this API version lacks, and say so once per run.

        Without this, a version that removes one field fails every scope every night. A field
        that cannot be dropped (already dropped, or ``id``) is a real error and propagates.
        """
        if removed.field not in self.fields or removed.field == "id":
            raise removed
        self.fields.remove(removed.field)
        notice = (
            f"Meta API {self.settings.api_version} has no field {removed.field!r}: collected "
            f"without it (remove it from sources.meta.extra_fields if listed there)"
        )
        self.notices.append(notice)
        self.log.warning("meta: %s", notice)

    def _ad_type(self, scope: str) -> str:
        """The library a scope reads: ``ALL`` for a watchlist, else the configured type."""
        return "ALL" if scope.startswith(WATCH_PREFIX) else self.settings.ad_type

    def _params(
        self, scope: str, run: PassState, limit: int, page_ids: list[str] | None = None
    ) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "ad_reached_countries": f"['{scope.removeprefix(WATCH_PREFIX)}']",
            "ad_type": self._ad_type(scope),
            "ad_active_status": "ALL",
            "fields": ",".join(self.fields),
            "limit": limit,
            "access_token": self.settings.access_token or "",
        }
        if self.settings.search_terms is not None:
            params["search_terms"] = self.settings.search_terms
        if run.since is not None:
            params["ad_delivery_date_min"] = run.since.isoformat()
        if run.after:
            params["after"] = run.after
        if page_ids:
            params["search_page_ids"] = f"[{','.join(page_ids)}]"
        return params

    @staticmethod
    def _fetched(response: httpx.Response, body: JsonDict, what: str) -> Fetched:
        data = body.get("data")
        if not isinstance(data, list):
            raise TransientError(f"response from {what} has no data list")
        paging = body.get("paging")
        cursors = paging.get("cursors") if isinstance(paging, dict) else None
        after = cursors.get("after") if isinstance(cursors, dict) else None
        return Fetched(
            url=str(response.request.url),
            content=response.content,
            data=data,
            after=after if isinstance(after, str) and after else None,
            usage=parse_usage(response.headers.get("x-business-use-case-usage")),
        )

    def _page(self, scope: str, fetched: Fetched, checkpoint: JsonDict) -> Page:
        page = Page(
            scope=scope,
            checkpoint=checkpoint,
            raw=RawPayload(
                kind="page",
                url=self.redactor.text(fetched.url),
                content=self.redactor.bytes(fetched.content),
            ),
            notices=list(self.notices),
        )
        for raw_ad in fetched.data:
            try:
                country = scope.removeprefix(WATCH_PREFIX)
                page.ads.append(normalise(raw_ad, country, self._ad_type(scope)))
            except (TypeError, ValueError) as exc:
                page.quarantined.append(self._quarantine(raw_ad, exc))
        return page

    def _quarantine(self, raw_ad: Any, error: Exception) -> Quarantined:
        ad_id = raw_ad.get("id") if isinstance(raw_ad, dict) else None
        return Quarantined(
            reason=self.redactor.text(f"{type(error).__name__}: {error}"),
            payload=self.redactor.text(json.dumps(raw_ad, ensure_ascii=False)),
            raw_ref=str(ad_id) if isinstance(ad_id, str | int) else None,
        )
