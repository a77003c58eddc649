"""A loopback replica of Meta's Graph API: ``/<version>/ads_archive`` and ``/debug_token``.

Plug it into :class:`~collectors.replicas.server.ReplicaServer`::

    replica = MetaReplica(n_ads=2000, countries=["US", "GB", "FR"], token="EAAtest-token")
    with ReplicaServer(replica) as server:
        ...  # sources.meta.base_url = server.url, access_token = replica.token

What it reproduces, with the section of the research notes (``shared/platforms/meta.md``,
summarised in ``docs/platforms/meta.md``) each behaviour comes from:

- Record shapes of today's API (§1.3): plural creative fields (some absent when empty),
  ``bylines``, date-only times, no ``ad_delivery_stop_time`` for running ads,
  ``delivery_by_region`` with string fractions (a few in scientific notation, ``"2.6E-5"``, and
  now and then a region listed twice, as C4D observed), ``demographic_distribution`` with
  lower-case genders including ``unknown`` and the ``13-17`` bucket, string range bounds with an
  open top bucket that has no ``upper_bound``, ``ad_snapshot_url`` embedding the caller's token,
  and the EU-only fields for ads that reached an EU country. Only the requested ``fields`` are
  returned; an unknown field is a code-100 error.
- Query semantics (§1.2): ``ad_reached_countries`` is required (``['US']``, ``["US"]``, ``US`` or
  ``US,GB``); an ad reaches one or two countries and a query for C returns exactly the ads whose
  set contains C; ``ad_active_status`` defaults to ACTIVE (the pitfall: only running ads unless
  ALL is sent); ``ad_delivery_date_min`` drops ads whose delivery stopped before it; ``limit``
  defaults to 25 and is capped. ``search_terms`` is accepted and ignored (every ad matches).
- Paging (§1.4): ``paging.cursors.{before,after}`` are opaque base64 and bound to the query;
  ``paging.next`` repeats the query *including the access token*, like the real API, and may be
  pointed at another host (``next_base_url``); the last page has no ``paging``. A foreign or
  corrupt cursor is a code-100 error. Bodies escape ``/`` and non-ASCII like Graph does.
- Usage (§1.5): every response carries ``x-business-use-case-usage`` in the real JSON shape,
  ``call_count``/``total_cputime``/``total_time`` rising with the number of calls.
- Errors (§1.5-1.6, bodies from ``samples/meta/errors_and_headers_observed.json``): a missing or
  wrong token is HTTP 400 code 190 (``set_token_valid(False)`` invalidates the right one too);
  injectable faults, each request drawing one with probability ``fault_rate`` (seeded):

  ===================== =========================================================================
  ``unknown_error``     HTTP 500, code 1 "An unknown error occurred", subcode 99
  ``reduce_data``       HTTP 500, code 1 "Please reduce the amount of data ..." (only when
                        ``limit`` > 25; ``reduce_data_above`` makes it deterministic)
  ``service_unavailable`` HTTP 400, code 2, ``is_transient: true``
  ``html``              the "Sorry, something went wrong" HTML page, HTTP 400 or 502
  ``throttle_4``        HTTP 400, code 4 "Application request limit reached", usage header at 100
  ``throttle_613``      HTTP 400, code 613 "Calls to this api have exceeded the rate limit."
  ``http_429``          HTTP 429 with ``Retry-After`` and a plain-text body
  ``drop``              the page, with the connection closed half-way through the body
  ``truncated``         the first half of the page's JSON, with a matching Content-Length
  ``slow``              the page after ``slow_seconds`` (for timeout tests)
  ===================== =========================================================================

  Throttling faults announce ``estimated_time_to_regain_access = throttle_regain_minutes`` and
  ``Retry-After: throttle_retry_after`` (0 by default, so tests stay fast). ``force()`` queues
  exact outcomes for the next requests, including ``stuck_cursor`` (the page comes back with the
  same ``after`` cursor it was asked for, WMP's "same URL in the next field over and over"),
  ``bad_record`` (one malformed ad in an otherwise good page) and ``ok``. ``bump_spend``, ``add_ads`` and ``expire_ads`` change the data between runs.
- Libraries (§1.1-1.3): ``all_ads`` adds ads of any type (not political) that reached the EU/UK
  countries ``all_ads_countries``. ``ad_type=POLITICAL_AND_ISSUE_ADS`` serves political ads
  only; any other ``ad_type`` also serves the ads of any type, for EU/EEA/UK countries only
  (political-only elsewhere), without the political-only fields (spend, impressions,
  currency, bylines, demographic and region distributions, audience size) but with reach,
  targeting and payer/beneficiary. ``search_page_ids`` (at most 10, else code 100) keeps the
  ads of those Pages.
- Versions (§1.3): ``removed_fields`` answers a request for any of those fields with Graph's
  code-100 "Tried accessing nonexisting field (NAME) on node type (ArchivedAd)", as after an API
  version removed the field. ``total_reach_by_location`` and ``br_total_reach`` are accepted
  but, like any field with no value, omitted from the ads (their shapes are not documented).

Generation is deterministic for a given ``seed``; ads are rendered on demand from a compact
spec, so a 100,000-ad replica starts in about a second and holds little memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from collectors.replicas.actors import CROSS_PLATFORM
from collectors.replicas.demo import DemoReplica
from collectors.replicas.server import ReplicaRequest, ReplicaResponse

FAULTS: tuple[str, ...] = (
    "unknown_error",
    "reduce_data",
    "service_unavailable",
    "html",
    "throttle_4",
    "throttle_613",
    "http_429",
    "drop",
    "truncated",
    "slow",
)
#: Outcomes only ``force()`` produces: a normal page, a page that repeats its cursor, and a
#: page whose first ad has a malformed ``delivery_by_region`` (an object, not a list).
FORCE_ONLY: tuple[str, ...] = ("ok", "stuck_cursor", "bad_record")

DEFAULT_TOKEN = "EAAReplicaToken0000adlib"
APP_ID = "2725429800000001"
#: The fields the replica, like the real API (notes §1.3), accepts. Deliberately written out
#: rather than imported from ``collectors.meta.FIELDS``: the replica stands for the platform, so
#: a collector asking for a field the platform does not know must fail against it.
KNOWN_FIELDS = frozenset(
    {
        "id",
        "ad_creation_time",
        "ad_creative_bodies",
        "ad_creative_link_captions",
        "ad_creative_link_descriptions",
        "ad_creative_link_titles",
        "ad_delivery_start_time",
        "ad_delivery_stop_time",
        "ad_snapshot_url",
        "age_country_gender_reach_breakdown",
        "beneficiary_payers",
        "bylines",
        "currency",
        "delivery_by_region",
        "demographic_distribution",
        "estimated_audience_size",
        "eu_total_reach",
        "impressions",
        "languages",
        "page_id",
        "page_name",
        "publisher_platforms",
        "spend",
        "target_ages",
        "target_gender",
        "target_locations",
        "total_reach_by_location",
        "br_total_reach",
    }
)
#: Returned when no ``fields`` are asked for (the "(default)" fields of the API docs, §1.3).
DEFAULT_FIELDS = (
    "id",
    "ad_delivery_start_time",
    "ad_delivery_stop_time",
    "ad_snapshot_url",
    "page_id",
)
AD_TYPES = frozenset(
    {
        "ALL",
        "CREDIT_ADS",
        "EMPLOYMENT_ADS",
        "HOUSING_ADS",
        "POLITICAL_AND_ISSUE_ADS",
        "FINANCIAL_PRODUCTS_AND_SERVICES_ADS",
    }
)
MIN_REDUCIBLE_LIMIT = 25
MAX_PAGE_IDS = 10
POLITICAL = "POLITICAL_AND_ISSUE_ADS"
#: Fields Meta publishes for political and issue ads only (§1.3, "P").
POLITICAL_ONLY = (
    "spend",
    "impressions",
    "currency",
    "bylines",
    "demographic_distribution",
    "delivery_by_region",
    "estimated_audience_size",
)
HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>Error</title></head><body>"
    b"<p>Sorry, something went wrong.</p><p>We're working on it and we'll get it fixed as soon "
    b"as we can.</p></body></html>"
)

#: EU member states: ads that reached one carry the EU-only fields (§1.1, §1.3).
EU = frozenset(
    {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"}
    | {"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}
)
#: Where the all-ads library (``ad_type=ALL``) holds ads of any type: the EU/EEA and the UK
#: (landscape notes item 0.5); elsewhere it returns political ads only.
ALL_ADS = EU | {"IS", "LI", "NO", "GB"}
_REGIONS = {
    "US": (
        "California",
        "Texas",
        "New York",
        "Florida",
        "Pennsylvania",
        "Ohio",
        "Michigan",
        "Georgia",
        "Arizona",
        "Wisconsin",
        "Washington",
        "Washington, District of Columbia",
    ),
    "GB": ("England", "Scotland", "Wales", "Northern Ireland"),
    "FR": ("Île-de-France", "Bretagne", "Normandie", "Occitanie", "Grand Est", "Corse"),
    "DE": ("Bayern", "Berlin", "Hamburg", "Hessen", "Sachsen", "Nordrhein-Westfalen"),
    "BR": ("São Paulo", "Rio de Janeiro", "Minas Gerais", "Bahia", "Paraná"),
    "KE": ("Nairobi", "Mombasa", "Kisumu", "Nakuru"),
    "IN": ("Maharashtra", "Tamil Nadu", "Karnataka", "Delhi", "West Bengal", "Kerala"),
}
_LANGUAGES = {"US": ("en", "es"), "FR": ("fr",), "DE": ("de",), "BR": ("pt",), "KE": ("en", "sw")}
_CURRENCIES = {"US": "USD", "GB": "GBP", "BR": "BRL", "KE": "KES", "IN": "INR", "CA": "CAD"}
_AGES = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_GENDERS = ("female", "male", "unknown")
_PLATFORMS = ("facebook", "instagram", "messenger", "audience_network")
_TOPICS = ("schools", "healthcare", "housing", "transit", "the climate", "jobs", "taxes")
#: One message per topic; a page's ads on one topic differ only in their call to action, so
#: they are the variants of a message test, while two topics are two messages.
_MESSAGES = {
    "schools": "Every child deserves good schools close to home, with enough teachers and books.",
    "healthcare": "Nobody should wait months to see a doctor or go into debt to pay for medicine.",
    "housing": "Rents have doubled in ten years: we will build homes working families can afford.",
    "transit": "Buses and trains that run on time, every day, in every neighbourhood.",
    "the climate": "Floods and droughts are getting worse: we will act on the climate now.",
    "jobs": "Good jobs with fair wages, training for young people and support for small firms.",
    "taxes": "A fair tax system where the biggest companies finally pay their share.",
}
_CALLS = ("Vote on election day.", "Register to vote today.", "Share this if you agree.")
_SPEND = (*((lo, lo + 99) for lo in range(0, 1000, 100)), (1000, 1499), (1500, 1999))
_SPEND_BUCKETS = (
    *_SPEND,
    (2000, 2999),
    (3000, 3999),
    (5000, 9999),
    (10000, 49999),
    (1000000, None),
)
_IMPRESSIONS = ((0, 999), (1000, 1999), (5000, 5999), (10000, 14999), (15000, 19999))
_IMPRESSION_BUCKETS = (*_IMPRESSIONS, (50000, 59999), (100000, 124999), (1000000, None))
_AUDIENCE_BUCKETS = (
    (1000, 5000),
    (5001, 10000),
    (10001, 50000),
    (50001, 100000),
    (100001, 500000),
    (500001, 1000000),
    (1000001, None),
)


@dataclass(slots=True)
class _AdSpec:
    """What varies between runs; everything else is rendered from the seed and the index."""

    index: int
    ad_id: str
    countries: tuple[str, ...]
    start: date
    stop: date | None
    spend_index: int
    #: False for an ad of any type (all-ads library only): no spend, impressions or bylines.
    political: bool = True


@dataclass(frozen=True, slots=True)
class _Query:
    """An ``ads_archive`` query string, validated the way Graph validates it."""

    countries: tuple[str, ...]
    fields: tuple[str, ...]
    since: date | None
    status: str
    limit: int
    fingerprint: str
    offset: int
    ad_type: str = "ALL"
    page_ids: frozenset[str] | None = None

    @classmethod
    def parse(
        cls, query: dict[str, str], page_size_cap: int, known_fields: frozenset[str] = KNOWN_FIELDS
    ) -> _Query:
        """Raise ``ValueError``/``KeyError`` with Graph's code-100 wording on a bad query."""
        status = query.get("ad_active_status", "ACTIVE")
        if status not in ("ACTIVE", "INACTIVE", "ALL"):
            raise ValueError(f"(#100) Invalid ad_active_status {status}")
        if query.get("ad_type", "ALL") not in AD_TYPES:
            raise ValueError(f"(#100) Invalid ad_type {query.get('ad_type')}")
        page_ids = re.findall(r"\d+", query.get("search_page_ids", ""))
        if len(page_ids) > MAX_PAGE_IDS:
            raise ValueError(f"(#100) search_page_ids accepts at most {MAX_PAGE_IDS} ids")
        since = query.get("ad_delivery_date_min")
        fingerprint = _fingerprint(query)
        return cls(
            countries=_parse_countries(query.get("ad_reached_countries")),
            fields=_parse_fields(query.get("fields"), known_fields),
            since=date.fromisoformat(since) if since else None,
            status=status,
            limit=min(int(query.get("limit", 25)), page_size_cap),
            fingerprint=fingerprint,
            offset=_decode_cursor(query["after"], fingerprint) if "after" in query else 0,
            ad_type=query.get("ad_type", "ALL"),
            page_ids=frozenset(page_ids) if page_ids else None,
        )


class MetaReplica:
    """The Graph API replica; a :data:`~collectors.replicas.server.Handler` (call it)."""

    def __init__(
        self,
        n_ads: int = 500,
        countries: Sequence[str] = ("US", "GB", "FR", "BR", "KE"),
        seed: int = 0,
        token: str = DEFAULT_TOKEN,
        page_size_cap: int = 1000,
        fault_rate: float = 0.0,
        faults: Iterable[str] = FAULTS,
        fault_seed: int = 0,
        *,
        today: date | None = None,
        next_base_url: str | None = None,
        reduce_data_above: int | None = None,
        throttle_regain_minutes: int = 0,
        throttle_retry_after: float | None = 0,
        slow_seconds: float = 2.0,
        usage_per_call: float = 0.05,
        token_expires_in: timedelta | None = timedelta(days=60),
        removed_fields: Iterable[str] = (),
        all_ads: int = 0,
        all_ads_countries: Sequence[str] | None = None,
    ) -> None:
        self.faults = tuple(faults)
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULTS}")
        self.countries = tuple(dict.fromkeys(c.upper() for c in countries))
        self.seed = seed
        self.token = token
        self.page_size_cap = page_size_cap
        self.fault_rate = fault_rate
        self.today = today or datetime.now(UTC).date()
        self.next_base_url = next_base_url
        self.reduce_data_above = reduce_data_above
        self.throttle_regain_minutes = throttle_regain_minutes
        self.throttle_retry_after = throttle_retry_after
        self.slow_seconds = slow_seconds
        self.usage_per_call = usage_per_call
        self.token_expires_at = (
            int((datetime.now(UTC) + token_expires_in).timestamp()) if token_expires_in else 0
        )
        #: Fields this "version" no longer has: asking for one is Graph's code-100
        #: "Tried accessing nonexisting field" error, as after a version removed it.
        self.known_fields = KNOWN_FIELDS - frozenset(removed_fields)
        self.calls = 0
        self._token_valid = True
        self._lock = threading.Lock()
        self._fault_rng = random.Random(fault_seed)
        self._mutation_rng = random.Random(seed + 7919)
        self._forced: deque[str] = deque()
        self._specs: list[_AdSpec] = []
        self._by_id: dict[str, _AdSpec] = {}
        self._spend_bumps: dict[str, int] = {}
        self._matches: dict[tuple[Any, ...], list[_AdSpec]] = {}
        self._spec_rng = random.Random(seed)
        #: Fixed at construction so that ``add_ads`` never moves existing ads to other pages.
        self._n_pages = max(10, n_ads // 20)
        self._add_specs(n_ads, new=False)
        reach = all_ads_countries or [c for c in self.countries if c in ALL_ADS]
        self._add_all_ads(all_ads, tuple(c.upper() for c in reach))

    # -- control and inspection (tests, benchmarks, `adlib demo`) --------------------------

    def settings(self, base_url: str) -> dict[str, Any]:
        """The ``sources.meta`` mapping that points a collector at this replica."""
        return {"base_url": base_url, "access_token": self.token}

    def force(self, *kinds: str) -> None:
        """Make the next ``ads_archive`` requests fail (or succeed) exactly as listed."""
        for kind in kinds:
            if kind not in FAULTS and kind not in FORCE_ONLY:
                raise ValueError(f"unknown outcome {kind!r}; known: {FAULTS + FORCE_ONLY}")
        with self._lock:
            self._forced.extend(kinds)

    def set_token_valid(self, valid: bool) -> None:
        """``False``: every request is rejected with code 190, as after a token expired."""
        with self._lock:
            self._token_valid = valid

    def bump_spend(self, n: int) -> list[str]:
        """Move ``n`` running ads up one spend bucket; returns their ids.

        Only running ads whose spend is not in the top bucket are picked, so an incremental
        collection (any ``ad_delivery_date_min``) sees exactly these ``n`` changes.
        """
        with self._lock:
            candidates = [
                s
                for s in self._specs
                if s.stop is None and self._spend_of(s) < len(_SPEND_BUCKETS) - 1
            ]
            if n > len(candidates):
                raise ValueError(f"only {len(candidates)} running ads can change spend")
            picked = self._mutation_rng.sample(candidates, n)
            for spec in picked:
                self._spend_bumps[spec.ad_id] = self._spend_bumps.get(spec.ad_id, 0) + 1
            return [spec.ad_id for spec in picked]

    def add_ads(self, n: int) -> list[str]:
        """Add ``n`` ads that started delivering today (running); returns their ids."""
        with self._lock:
            return [spec.ad_id for spec in self._add_specs(n, new=True)]

    def expire_ads(self, ad_ids: Iterable[str]) -> None:
        """Stop serving these ads, as Meta does a year after an all-ads ad last ran."""
        gone = set(ad_ids)
        with self._lock:
            self._specs = [s for s in self._specs if s.ad_id not in gone]
            for ad_id in gone:
                self._by_id.pop(ad_id, None)
            self._matches.clear()

    @property
    def ad_ids(self) -> list[str]:
        with self._lock:
            return [spec.ad_id for spec in self._specs]

    def ads_for(
        self,
        country: str,
        since: date | None = None,
        status: str = "ALL",
        *,
        ad_type: str = POLITICAL,
        page_ids: Iterable[str] | None = None,
    ) -> list[str]:
        """The ids a full ``ads_archive`` pass for ``country`` returns, in serving order."""
        pages = frozenset(page_ids) if page_ids is not None else None
        with self._lock:
            found = self._matching((country.upper(),), since, status, ad_type, pages)
            return [s.ad_id for s in found]

    def page_id(self, ad_id: str) -> str:
        """The ``page_id`` an ad is served with."""
        with self._lock:
            return self._page_id(self._by_id[ad_id])

    def ad(self, ad_id: str) -> dict[str, Any]:
        """One ad exactly as ``ads_archive`` serves it with every field requested."""
        with self._lock:
            return self._render(self._by_id[ad_id], KNOWN_FIELDS)

    # -- HTTP --------------------------------------------------------------------------------

    def __call__(self, request: ReplicaRequest) -> ReplicaResponse:
        match = re.fullmatch(r"/(v\d+\.\d+)/(ads_archive|debug_token)", request.path)
        if match is None:
            return _error(400, 2500, f"Unknown path components: {request.path}")
        with self._lock:
            self.calls += 1
            usage = self._usage()
            if request.query.get("access_token") != self.token or not self._token_valid:
                return _error(400, 190, "Invalid OAuth 2.0 Access Token", headers=usage)
            if match.group(2) == "debug_token":
                return self._debug_token(request)
            return self._ads_archive(request, match.group(1), usage)

    def _ads_archive(
        self, request: ReplicaRequest, version: str, usage: dict[str, str]
    ) -> ReplicaResponse:
        try:
            query = _Query.parse(request.query, self.page_size_cap, self.known_fields)
        except (KeyError, ValueError) as exc:
            return _error(400, 100, str(exc).strip("'"), headers=usage)
        outcome = self._outcome(query.limit)
        failure = self._failure(outcome, usage)
        if failure is not None:
            return failure
        matching = self._matching(
            query.countries, query.since, query.status, query.ad_type, query.page_ids
        )
        chunk = matching[query.offset : query.offset + query.limit]
        data = [self._render(spec, query.fields) for spec in chunk]
        if outcome == "bad_record" and data:
            data[0]["delivery_by_region"] = {"region": "not a list"}
        body: dict[str, Any] = {"data": data}
        if query.offset + query.limit < len(matching):
            body["paging"] = self._paging(request, version, query, outcome == "stuck_cursor")
        return self._page_response(_graph_json(body), outcome, usage)

    def _paging(
        self, request: ReplicaRequest, version: str, query: _Query, stuck: bool
    ) -> dict[str, Any]:
        """Cursors plus a ``next`` URL that, like Graph's, repeats the query and the token."""
        after = request.query.get("after") if stuck else None
        after = after or _encode_cursor(query.offset + query.limit, query.fingerprint)
        next_base = self.next_base_url or f"http://{request.headers.get('host', '127.0.0.1')}"
        next_query = {"access_token": self.token}
        next_query.update((k, v) for k, v in request.query.items() if k != "access_token")
        next_query["after"] = after
        return {
            "cursors": {"before": _encode_cursor(query.offset, query.fingerprint), "after": after},
            "next": f"{next_base}/{version}/ads_archive?{urlencode(next_query)}",
        }

    def _page_response(
        self, payload: bytes, outcome: str, usage: dict[str, str]
    ) -> ReplicaResponse:
        if outcome == "drop":
            return ReplicaResponse(body=payload, headers=usage, drop_after=len(payload) // 2)
        if outcome == "truncated":
            return ReplicaResponse(body=payload[: len(payload) // 2], headers=usage)
        delay = self.slow_seconds if outcome == "slow" else 0.0
        return ReplicaResponse(body=payload, headers=usage, delay=delay)

    def _outcome(self, limit: int) -> str:
        """The forced outcome if any, else a random fault with probability ``fault_rate``."""
        if self.reduce_data_above is not None and limit > self.reduce_data_above:
            return "reduce_data"
        if self._forced:
            outcome = self._forced.popleft()
        elif self.faults and self._fault_rng.random() < self.fault_rate:
            outcome = self._fault_rng.choice(self.faults)
        else:
            return "ok"
        if outcome == "reduce_data" and limit <= MIN_REDUCIBLE_LIMIT:
            return "ok"
        return outcome

    def _failure(self, outcome: str, usage: dict[str, str]) -> ReplicaResponse | None:
        """The error response for ``outcome``, or ``None`` when a page is served."""
        if outcome == "unknown_error":
            return _error(500, 1, "An unknown error occurred", headers=usage, subcode=99)
        if outcome == "reduce_data":
            message = "Please reduce the amount of data you're asking for, then retry your request"
            return _error(500, 1, message, headers=usage)
        if outcome == "service_unavailable":
            message = "(#2) Service temporarily unavailable"
            return _error(400, 2, message, headers=usage, transient=True)
        if outcome == "html":
            status = self._fault_rng.choice((400, 502))
            return ReplicaResponse(status, HTML_ERROR, usage, "text/html; charset=utf-8")
        if outcome in ("throttle_4", "throttle_613"):
            headers = self._throttle_headers()
            if outcome == "throttle_4":
                message = "(#4) Application request limit reached"
                return _error(400, 4, message, headers=headers, transient=True)
            message = "(#613) Calls to this api have exceeded the rate limit."
            return _error(400, 613, message, headers=headers)
        if outcome == "http_429":
            return ReplicaResponse(
                429, b"Too Many Requests", self._throttle_headers(), "text/plain"
            )
        return None

    def _throttle_headers(self) -> dict[str, str]:
        headers = self._usage(percent=100, regain_minutes=self.throttle_regain_minutes)
        if self.throttle_retry_after is not None:
            headers["Retry-After"] = f"{self.throttle_retry_after:g}"
        return headers

    def _usage(self, percent: int | None = None, regain_minutes: int = 0) -> dict[str, str]:
        """``x-business-use-case-usage`` in the shape WMP documents (``call_count`` since 2019)."""
        level = min(100, int(self.calls * self.usage_per_call)) if percent is None else percent
        entry = {
            "type": "ads_archive",
            "call_count": level,
            "total_cputime": level // 2,
            "total_time": level * 4 // 5,
            "estimated_time_to_regain_access": regain_minutes,
        }
        return {"x-business-use-case-usage": json.dumps({APP_ID: [entry]})}

    def _debug_token(self, request: ReplicaRequest) -> ReplicaResponse:
        if request.query.get("input_token") != self.token:
            data: dict[str, Any] = {
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": False,
                "scopes": [],
            }
        else:
            data = {
                "app_id": APP_ID,
                "type": "USER",
                "application": "adlib replica",
                "expires_at": self.token_expires_at,
                "is_valid": True,
                "scopes": ["ads_read", "public_profile"],
                "user_id": "100000000000001",
            }
        return ReplicaResponse(body=_graph_json({"data": data}))

    # -- data ----------------------------------------------------------------------------------

    def _add_specs(self, n: int, *, new: bool) -> list[_AdSpec]:
        rng = self._spec_rng
        base = (self.seed % 89 + 10) * 10**13
        added = []
        for _ in range(n):
            index = len(self._specs)
            reached = [rng.choice(self.countries)]
            if len(self.countries) > 1 and rng.random() < 0.2:
                reached.append(rng.choice([c for c in self.countries if c != reached[0]]))
            if new:
                start, stop = self.today, None
            else:
                start = self.today - timedelta(days=rng.randint(0, 365))
                end = start + timedelta(days=rng.randint(1, 90))
                stop = end if end < self.today else None
            spend_index = _skewed_index(rng, _SPEND_BUCKETS, 0.25)
            spec = _AdSpec(index, str(base + index), tuple(reached), start, stop, spend_index)
            self._specs.append(spec)
            self._by_id[spec.ad_id] = spec
            added.append(spec)
        self._matches.clear()
        return added

    def _add_all_ads(self, n: int, countries: tuple[str, ...]) -> None:
        """``n`` ads of any type (not political) that reached ``countries`` (EU/UK) only.

        A separate random stream, appended after the political ads: the political data of a
        seed is the same with or without them.
        """
        if not n or not countries:
            return
        rng = random.Random(self.seed + 104_729)
        base = (self.seed % 89 + 10) * 10**13 + 5 * 10**12
        for k in range(n):
            start = self.today - timedelta(days=rng.randint(0, 365))
            end = start + timedelta(days=rng.randint(1, 60))
            spec = _AdSpec(
                len(self._specs),
                str(base + k),
                (rng.choice(countries),),
                start,
                end if end < self.today else None,
                0,
                political=False,
            )
            self._specs.append(spec)
            self._by_id[spec.ad_id] = spec
        self._matches.clear()

    def _page_id(self, spec: _AdSpec) -> str:
        """The renderer's first draw is the page: the same number, without rendering."""
        page = random.Random(self.seed * 1_000_003 + spec.index).randrange(self._n_pages)
        return str(100_000_000 + page)

    def _matching(
        self,
        countries: tuple[str, ...],
        since: date | None,
        status: str,
        ad_type: str = POLITICAL,
        page_ids: frozenset[str] | None = None,
    ) -> list[_AdSpec]:
        """The ads a query selects. Ads of any type only come from the all-ads library
        (``ad_type`` other than political) for EU/UK countries; elsewhere it is political."""
        any_type = ad_type != POLITICAL and ("ALL" in countries or bool(ALL_ADS & set(countries)))
        key = (countries, since, status, ad_type == POLITICAL, any_type, page_ids)
        if key not in self._matches:
            self._matches[key] = [
                s
                for s in self._specs
                if (s.political or any_type)
                and ("ALL" in countries or not set(countries).isdisjoint(s.countries))
                and (since is None or s.stop is None or s.stop >= since)
                and (status == "ALL" or (s.stop is None) == (status == "ACTIVE"))
                and (page_ids is None or self._page_id(s) in page_ids)
            ]
        return self._matches[key]

    def _spend_of(self, spec: _AdSpec) -> int:
        bumped = spec.spend_index + self._spend_bumps.get(spec.ad_id, 0)
        return min(bumped, len(_SPEND_BUCKETS) - 1)

    def _render(self, spec: _AdSpec, fields: Iterable[str]) -> dict[str, Any]:
        """The ad as the API serves it, restricted to ``fields`` (``id`` always included)."""
        renderer = _AdRenderer(self.seed, self.token, self._n_pages, spec)
        ad = renderer.render(_SPEND_BUCKETS[self._spend_of(spec)])
        if not spec.political:
            ad = renderer.any_type(ad)
        wanted = set(fields) | {"id"}
        return {k: v for k, v in ad.items() if k in wanted}


class _AdRenderer:
    """Builds one ad's JSON from the seed, its index and its spec; no state of its own."""

    def __init__(self, seed: int, token: str, n_pages: int, spec: _AdSpec) -> None:
        self.token = token
        self.n_pages = n_pages
        self.spec = spec
        self.rng = random.Random(seed * 1_000_003 + spec.index)
        self.home = spec.countries[0]

    def render(self, spend: tuple[int, int | None]) -> dict[str, Any]:
        rng, spec = self.rng, self.spec
        page = rng.randrange(self.n_pages)
        page_name = f"Citizens for {_TOPICS[page % len(_TOPICS)].title()} {page}"
        cross = CROSS_PLATFORM[page] if page < len(CROSS_PLATFORM) else None
        if cross:  # one organisation on several platforms, spelt its own way on each
            page_name = cross.meta_page
        cards = rng.choice((1, 1, 1, 2, 3))
        topic = rng.choice(_TOPICS)
        ad: dict[str, Any] = {
            "id": spec.ad_id,
            "ad_creation_time": (spec.start - timedelta(days=rng.randint(0, 3))).isoformat(),
            "ad_creative_bodies": [
                f"{_MESSAGES[topic]} {_CALLS[spec.index % len(_CALLS)]} ({i + 1}/{cards})"
                for i in range(cards)
            ],
            "ad_creative_link_captions": [f"www.example-{page}.org"] * cards,
            "ad_delivery_start_time": spec.start.isoformat(),
            "ad_snapshot_url": (
                f"https://www.facebook.com/ads/archive/render_ad/?id={spec.ad_id}"
                f"&access_token={self.token}"
            ),
            "currency": "EUR" if self.home in EU else _CURRENCIES.get(self.home, "USD"),
            "delivery_by_region": self._regions(),
            "demographic_distribution": self._demographics(),
            "estimated_audience_size": _bounds(rng.choice(_AUDIENCE_BUCKETS)),
            "impressions": _bounds(
                _IMPRESSION_BUCKETS[_skewed_index(rng, _IMPRESSION_BUCKETS, 0.5)]
            ),
            "languages": list(_LANGUAGES.get(self.home, ("en",))[: rng.randint(1, 2)]),
            "page_id": str(100_000_000 + page),
            "page_name": page_name,
            "publisher_platforms": rng.sample(_PLATFORMS, rng.randint(1, 3)),
            "spend": _bounds(spend),
        }
        if rng.random() < 0.7:
            ad["ad_creative_link_titles"] = [f"Learn about {topic}"] * cards
        if rng.random() < 0.4:
            ad["ad_creative_link_descriptions"] = [f"What {page_name} stands for"] * cards
        if rng.random() < 0.9:
            # Bylines name the payer: mostly the page itself, sometimes a committee behind it.
            ad["bylines"] = page_name if page % 3 else f"{_TOPICS[page % 7].title()} Action Fund"
            if cross:
                ad["bylines"] = cross.meta_byline
        if spec.stop is not None:
            ad["ad_delivery_stop_time"] = spec.stop.isoformat()
        eu_reached = [c for c in spec.countries if c in EU]
        if eu_reached:
            ad.update(self._eu_fields(eu_reached, ad.get("bylines") or page_name, page_name))
        return ad

    def any_type(self, ad: dict[str, Any]) -> dict[str, Any]:
        """The ad as the all-ads library serves an ad that is not political: none of the
        political-only fields, but the EU/UK reach, targeting and payer (§1.3, "EU")."""
        kept = {k: v for k, v in ad.items() if k not in POLITICAL_ONLY}
        if "age_country_gender_reach_breakdown" not in kept:  # GB: not an EU country
            payer = kept.get("page_name", "")
            kept.update(self._eu_fields(list(self.spec.countries), payer, payer))
        return kept

    def _regions(self) -> list[dict[str, str]]:
        rng = self.rng
        names = _REGIONS.get(self.home) or tuple(f"{self.home} Region {k}" for k in range(1, 13))
        picked = rng.sample(names, rng.randint(1, len(names)))
        shares = _fractions(rng, len(picked))
        if len(picked) > 2 and rng.random() < 0.15:
            shares[-1] = rng.uniform(1e-6, 9e-5)  # a sliver, served in scientific notation
        rows = [
            {"percentage": _fraction_text(s), "region": r}
            for r, s in zip(picked, shares, strict=True)
        ]
        roll = rng.random()
        if roll < 0.03:
            rows.append(dict(rng.choice(rows)))  # the same region twice, same share
        elif roll < 0.05 and len(rows) > 1:
            victim = rows.pop()  # one region split across two entries with different shares
            share = float(victim["percentage"])
            rows += [
                {"percentage": _fraction_text(share * part), "region": victim["region"]}
                for part in (0.4, 0.6)
            ]
        return rows

    def _demographics(self) -> list[dict[str, str]]:
        rng = self.rng
        cells = rng.sample([(a, g) for a in _AGES for g in _GENDERS], rng.randint(4, 20))
        shares = _fractions(rng, len(cells))
        return [
            {"percentage": _fraction_text(s), "age": age, "gender": gender}
            for (age, gender), s in zip(cells, shares, strict=True)
        ]

    def _eu_fields(self, eu_reached: list[str], payer: str, beneficiary: str) -> dict[str, Any]:
        rng = self.rng
        fields: dict[str, Any] = {
            "age_country_gender_reach_breakdown": [
                {
                    "country": country,
                    "age_gender_breakdowns": [
                        {
                            "age_range": age,
                            "male": rng.randint(0, 900),
                            "female": rng.randint(0, 900),
                            "unknown": rng.randint(0, 20),
                        }
                        for age in rng.sample((*_AGES[1:], "Unknown"), rng.randint(2, 5))
                    ],
                }
                for country in eu_reached
            ],
            "beneficiary_payers": [{"payer": payer, "beneficiary": beneficiary, "current": True}],
            "target_ages": [str(rng.choice((18, 25, 35))), rng.choice(("54", "64", "65+"))],
            "target_gender": rng.choice(("All", "All", "Women", "Men")),
            "target_locations": [
                {"excluded": False, "name": country, "num_obfuscated": 0, "type": "countries"}
                for country in eu_reached
            ],
        }
        if rng.random() < 0.3:
            region = rng.choice(_REGIONS.get(eu_reached[0], ("Capital Region",)))
            fields["target_locations"].append(
                {"excluded": True, "name": region, "num_obfuscated": 0, "type": "regions"}
            )
        if rng.random() < 0.7:
            fields["eu_total_reach"] = rng.randint(1000, 500000)
        return fields


def _skewed_index(rng: random.Random, buckets: Sequence[object], rate: float) -> int:
    """A bucket index where small buckets are common and the top (open-ended) one is rare."""
    return min(int(rng.expovariate(rate)), len(buckets) - 1)


def _fractions(rng: random.Random, n: int) -> list[float]:
    weights = [rng.random() + 0.01 for _ in range(n)]
    total = sum(weights)
    return [w / total for w in weights]


def _fraction_text(share: float) -> str:
    """``"0.316236"`` like Meta; tiny shares in Meta's scientific notation, ``"2.6E-5"``."""
    if share < 1e-4:
        mantissa, exponent = f"{share:.1E}".split("E")
        return f"{mantissa}E{int(exponent)}"
    return f"{share:.6f}".rstrip("0").rstrip(".")


def _bounds(bucket: tuple[int, int | None]) -> dict[str, str]:
    lower, upper = bucket
    return (
        {"lower_bound": str(lower)}
        if upper is None
        else {
            "lower_bound": str(lower),
            "upper_bound": str(upper),
        }
    )


def _graph_json(body: Any) -> bytes:
    """JSON the way Graph writes it: ASCII only, ``/`` escaped as ``\\/``."""
    return json.dumps(body, separators=(",", ":")).replace("/", "\\/").encode()


def _error(
    status: int,
    code: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    subcode: int | None = None,
    transient: bool = False,
) -> ReplicaResponse:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    error["fbtrace_id"] = "AReplicaTrace0" + hashlib.sha1(message.encode()).hexdigest()[:8]
    return ReplicaResponse(status, _graph_json({"error": error}), dict(headers or {}))


def _parse_countries(value: str | None) -> tuple[str, ...]:
    if not value:
        raise ValueError("(#100) The parameter ad_reached_countries is required")
    codes = tuple(c.upper() for c in re.findall(r"[A-Za-z]{2,3}", value))
    if not codes:
        raise ValueError(f"(#100) Invalid ad_reached_countries {value}")
    return codes


def _parse_fields(value: str | None, known: frozenset[str]) -> tuple[str, ...]:
    if not value:
        return DEFAULT_FIELDS
    fields = tuple(f.strip() for f in value.split(",") if f.strip())
    for name in fields:
        if name not in known:
            raise ValueError(
                f"(#100) Tried accessing nonexisting field ({name}) on node type (ArchivedAd)"
            )
    return fields


def _fingerprint(query: dict[str, str]) -> str:
    """What a cursor is bound to: the query minus paging and presentation parameters."""
    relevant = {
        k: v for k, v in query.items() if k not in ("after", "limit", "access_token", "fields")
    }
    return hashlib.sha1(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]


def _encode_cursor(offset: int, fingerprint: str) -> str:
    return base64.b64encode(f"scraping_cursor:{offset}:{fingerprint}".encode()).decode()


def _decode_cursor(cursor: str, fingerprint: str) -> int:
    try:
        prefix, offset, bound_to = base64.b64decode(cursor, validate=True).decode().split(":")
        if prefix != "scraping_cursor" or bound_to != fingerprint:
            raise ValueError
        return int(offset)
    except ValueError:
        raise ValueError("(#100) Invalid cursor: the 'after' parameter is invalid") from None


def demo() -> DemoReplica:
    """The replica `adlib demo` collects from: 1,500 political ads over three countries, and a
    watchlist of twelve Pages whose ads of any type ran in France (the all-ads library)."""
    replica = MetaReplica(
        n_ads=1500, countries=("US", "BR", "KE"), seed=2026, all_ads=150, all_ads_countries=("FR",)
    )
    watchlist = {"page_ids": [str(100_000_000 + n) for n in range(12)], "countries": ["FR"]}
    return DemoReplica(
        handler=replica,
        settings=lambda base_url: {
            **replica.settings(base_url),
            "page_size": 250,
            "watchlist": watchlist,
        },
        countries=replica.countries,
        advance=lambda: replica.bump_spend(40),
    )
