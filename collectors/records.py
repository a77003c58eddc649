"""The normalised records every collector produces and the loader consumes.

These are plain dataclasses on purpose: a collector imports nothing from ``pipeline`` or
``schema``, and the loader maps these records onto tables. Every field that a platform may
leave out is optional; ``None`` always means "not reported", never zero. Ranges keep an open
upper bound as ``None`` (Meta's and Google's top buckets), so sums stay honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from typing import Any, Literal

JsonDict = dict[str, Any]


@dataclass(slots=True)
class AdvertiserRecord:
    """The account that ran the ad: a Meta page, a Google advertiser, a Snap organisation."""

    source_advertiser_id: str
    name: str | None = None
    #: Public registration identifiers (FEC ID, EIN, ...) as the platform lists them.
    public_ids: list[str] = field(default_factory=list)
    #: Platform-specific attributes that have no column of their own (kept as JSON).
    extra: JsonDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MentionField:
    """Where the loader keeps a name that says who is behind an ad, and what that name is.

    The actors layer (``pipeline.evidence.actors``) reads these to extract *mentions*; it knows
    the places, never the platforms. ``name`` and ``entity_id`` name a stored place:
    ``advertiser`` (the ad's advertiser row: its name; as ``entity_id``, its platform id and
    public ids), ``funder``, ``beneficiary_payers.payer``, ``beneficiary_payers.beneficiary``
    or ``extra.<key>`` (a key of ``ads.extra``). ``role`` is advertiser, payer, beneficiary or
    agency (docs/actors.md says what each can and cannot tell).
    """

    role: Literal["advertiser", "payer", "beneficiary", "agency"]
    name: str
    entity_id: str | None = None


#: What most platforms publish: the account that ran the ad, the declared payer and the EU
#: beneficiary/payer pairs. A collector whose names mean something else overrides it.
DEFAULT_MENTION_FIELDS: tuple[MentionField, ...] = (
    MentionField("advertiser", "advertiser", entity_id="advertiser"),
    MentionField("payer", "funder"),
    MentionField("payer", "beneficiary_payers.payer"),
    MentionField("beneficiary", "beneficiary_payers.beneficiary"),
)


@dataclass(slots=True)
class CreativeRecord:
    """One card or version of an ad's creative, in the platform's order."""

    position: int
    body: str | None = None
    link_title: str | None = None
    link_description: str | None = None
    link_caption: str | None = None
    media_url: str | None = None
    media_type: str | None = None
    properties: str | None = None


@dataclass(slots=True)
class RegionShare:
    """Share (0..1) of an ad's delivery in one region, as the platform names the region."""

    region: str
    share: float | None


@dataclass(slots=True)
class DemographicShare:
    """Share (0..1) of an ad's delivery in one age bucket x gender cell."""

    age_range: str
    gender: str
    share: float | None


@dataclass(slots=True)
class TargetingItem:
    """One targeting criterion: ``dimension`` (age, gender, geo, interest, ...) and its value."""

    dimension: str
    value: str
    included: bool = True


@dataclass(slots=True)
class ReachBreakdown:
    """Meta's EU reach count for one country x age bucket x gender."""

    country: str
    age_range: str
    gender: str
    reach: int | None


@dataclass(slots=True)
class BeneficiaryPayer:
    """A declared beneficiary/payer pair (Meta, EU ads)."""

    position: int
    beneficiary: str | None
    payer: str | None
    current: bool | None = None


@dataclass(slots=True)
class SpendRange:
    """An ad's spend range in one currency (Google reports several currencies per ad)."""

    currency: str
    lower: int | None
    upper: int | None


@dataclass(slots=True)
class NormalisedAd:
    """One ad in the shared schema. ``(source, source_ad_id)`` identifies it across runs."""

    source: str
    source_ad_id: str
    advertiser: AdvertiserRecord | None = None
    funder: str | None = None
    ad_type: str | None = None
    #: Which of the platform's libraries the ad came from: ``political`` (political and issue
    #: ads, every platform's default) or ``all_ads`` (Meta's EU/UK library of ads of any type).
    library: str = "political"
    ad_url: str | None = None
    ad_created_at: datetime | None = None
    delivery_start: datetime | None = None
    delivery_stop: datetime | None = None
    first_served_at: datetime | None = None
    last_served_at: datetime | None = None
    currency: str | None = None
    spend_lower: int | None = None
    spend_upper: int | None = None
    spend_usd_lower: int | None = None
    spend_usd_upper: int | None = None
    impressions_lower: int | None = None
    impressions_upper: int | None = None
    audience_lower: int | None = None
    audience_upper: int | None = None
    eu_total_reach: int | None = None
    countries: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    creatives: list[CreativeRecord] = field(default_factory=list)
    regions: list[RegionShare] = field(default_factory=list)
    demographics: list[DemographicShare] = field(default_factory=list)
    targeting: list[TargetingItem] = field(default_factory=list)
    reach_breakdown: list[ReachBreakdown] = field(default_factory=list)
    beneficiary_payers: list[BeneficiaryPayer] = field(default_factory=list)
    spends: list[SpendRange] = field(default_factory=list)
    #: Platform-specific scalar attributes without a column of their own (JSON in ``ads.extra``).
    extra: JsonDict = field(default_factory=dict)
    #: Where in a bulk file the row came from (``member:line``); API pages leave it ``None``.
    raw_ref: str | None = None
    #: Fingerprint of the bulk row the ad came from (:mod:`collectors.unchanged`); API ads
    #: leave it ``None``.
    raw_hash: int | None = None


@dataclass(slots=True)
class TableRows:
    """Rows for a platform table that is not ad-shaped (Google's weekly spend, ...).

    The loader upserts them into ``table`` keyed on ``key``; the table itself is declared in
    ``schema`` like any other, so the loader needs no platform knowledge.
    """

    table: str
    key: tuple[str, ...]
    rows: list[JsonDict]


@dataclass(slots=True)
class Quarantined:
    """A record the collector could not normalise: kept raw, with the reason, and counted."""

    reason: str
    payload: str
    raw_ref: str | None = None


@dataclass(slots=True)
class RawPayload:
    """What the archive keeps of one fetched unit, already stripped of secrets.

    ``kind="page"``: an API response body (stored gzip-compressed in ``raw_records``).
    ``kind="file"``: a bulk file already on disk (kept content-addressed under the data dir).
    """

    kind: Literal["page", "file"]
    url: str
    content: bytes | None = None
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    #: When it was first fetched; set on replays of the archive (``Collector.replay``), so a
    #: replayed bulk file is the listing it was then.
    fetched_at: datetime | None = None


@dataclass(slots=True)
class Page:
    """The unit of commit: everything in a Page lands in one transaction with its checkpoint.

    A collector yields Pages in order; the checkpoint of a Page is the state from which the
    scope resumes if the run stops right after that Page was committed.
    """

    scope: str
    checkpoint: JsonDict
    ads: list[NormalisedAd] = field(default_factory=list)
    advertisers: list[AdvertiserRecord] = field(default_factory=list)
    tables: list[TableRows] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    raw: RawPayload | None = None
    #: ``True`` on the last Page of a full listing (a whole bulk file): ads of this source and
    #: scope that the listing did not contain are marked delisted.
    listing_complete: bool = False
    #: When the listing that ``listing_complete`` ends began (the first Page of the file was
    #: fetched, possibly in an earlier, interrupted run): ads last seen before it are delisted.
    listing_started_at: datetime | None = None
    #: Messages for the run summary (unknown columns, unknown country names, ...), each once.
    notices: list[str] = field(default_factory=list)
    #: The platform's own report date, if it publishes one (Google's "updated" file).
    report_date: date | None = None
    #: Rows of this Page skipped because a stored ad has their fingerprint (counted as records).
    unchanged: int = 0
    #: On a ``listing_complete`` Page of a collector that skips unchanged rows: ids of the
    #: scope's stored ads that no row confirmed, the only ones that may be delisted. ``None``:
    #: every ad of the scope not seen since ``listing_started_at`` is delisted.
    listing_unseen: list[int] | None = None
    #: When the scope's previous listing completed (with ``listing_unseen``): the last time an
    #: ad delisted now was seen, since confirming it unchanged wrote nothing.
    previous_listing_at: datetime | None = None
    #: A file from elsewhere (`adlib import`): add what the database lacks and replace nothing
    #: it holds (new ads and rows, empty cells filled; no stored value updated, no delisting, no
    #: checkpoint), because the file may be older than what was collected.
    insert_only: bool = False


#: Integer columns are 64-bit on both engines; a Python int outside this range cannot be stored.
_INT64 = 2**63


def unstorable(value: Any, where: str = "ad") -> str | None:
    """Why ``value`` (a record, or anything inside one) cannot be written to the database.

    Platforms send JSON that Python reads happily but neither engine stores: lone UTF-16
    surrogates (``"\\ud800"``) cannot be encoded as UTF-8, PostgreSQL text refuses NUL, and
    numbers beyond 64 bits overflow ``BIGINT``. Left to the database, any of these fails the
    whole Page's transaction, so the loader checks each record first and quarantines the one
    that would. Returns ``None`` for a storable value, else a short reason naming the field.
    """
    if isinstance(value, str):
        if value.isascii():
            return f"{where} contains a NUL character" if "\x00" in value else None
        if "\x00" in value:
            return f"{where} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where} contains a lone surrogate (invalid Unicode)"
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if -_INT64 <= value < _INT64 else f"{where} is beyond 64 bits"
    if isinstance(value, list | tuple):
        return next((r for i, v in enumerate(value) if (r := unstorable(v, f"{where}[{i}]"))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            reason = unstorable(key, f"{where} key") or unstorable(item, f"{where}.{key}")
            if reason:
                return reason
        return None
    if is_dataclass(value) and not isinstance(value, type):
        for item in fields(value):
            reason = unstorable(getattr(value, item.name), f"{where}.{item.name}")
            if reason:
                return reason
    return None
