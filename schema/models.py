"""The normalised schema: one set of tables for every platform, on SQLite and PostgreSQL.

Every column carries a comment: the comments are the data dictionary that exports ship with,
so a column without one is a bug. Ranges keep an open upper bound as NULL, never 0. The
current state of an ad lives in ``ads``; every observed change is appended to
``ad_observations``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schema.types import JSONType, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Child tables keyed by ``(ad_id, ...)`` with small rows are stored clustered by their key
#: on SQLite (``WITHOUT ROWID``): the key is the table, not a second index beside a rowid
#: table, which halves their size on disk (docs/performance.md, "Bulk files"). PostgreSQL
#: ignores the option; its primary key index already serves the lookups by ad.
_BY_AD: dict[str, Any] = {"sqlite_with_rowid": False}


class Base(DeclarativeBase):
    """Declarative base with the naming convention Alembic needs for SQLite batch mode."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, int: BigInteger()}


def table_of(model: type[Base]) -> Table:
    """The model's ``Table``, typed as one.

    SQLAlchemy types ``Model.__table__`` as ``FromClause`` (a mapped class may sit on any
    selectable); every model here is declared on a ``Table``, which has ``insert()``,
    ``delete()`` and ``name`` and is what ``insert``/``update`` and the helpers expect.
    """
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


def _ad_fk(comment: str = "the ad (ads.id)") -> Mapped[int]:
    return mapped_column(
        BigId, ForeignKey("ads.id", ondelete="CASCADE"), primary_key=True, comment=comment
    )


class Advertiser(Base):
    __tablename__ = "advertisers"
    __table_args__ = (
        UniqueConstraint("source", "source_advertiser_id"),
        {"comment": "Accounts that ran ads: Meta pages, Google advertisers, Snap organisations."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="adlib's advertiser id")
    source: Mapped[str] = mapped_column(String(32), comment="platform: meta, google, snap, ...")
    source_advertiser_id: Mapped[str] = mapped_column(
        String(255), comment="the platform's own id (Meta page_id, Google AR..., Snap org name)"
    )
    name: Mapped[str | None] = mapped_column(Text, comment="name as last reported")
    public_ids: Mapped[list[str] | None] = mapped_column(
        JSONType, comment="public registration ids the platform lists (FEC ID, EIN ID, ...)"
    )
    extra: Mapped[dict[str, Any] | None] = mapped_column(
        comment="platform-specific attributes without a column (JSON)"
    )
    first_seen_at: Mapped[datetime] = mapped_column(comment="when adlib first saw it (UTC)")
    updated_at: Mapped[datetime] = mapped_column(comment="when adlib last changed this row (UTC)")


class Funder(Base):
    __tablename__ = "funders"
    __table_args__ = (
        UniqueConstraint("name"),
        {"comment": "Declared payers: 'paid for by' bylines, Snap paying advertisers."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="adlib's funder id")
    name: Mapped[str] = mapped_column(Text, comment="the declared payer, exactly as published")
    first_seen_at: Mapped[datetime] = mapped_column(comment="when adlib first saw it (UTC)")


class RawRecord(Base):
    __tablename__ = "raw_records"
    __table_args__ = (
        UniqueConstraint("source", "content_hash"),
        {"comment": "Provenance: every fetched page or bulk file, once, secrets removed."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="raw record id")
    source: Mapped[str] = mapped_column(String(32), comment="platform")
    run_id: Mapped[int | None] = mapped_column(
        BigId, comment="collection_runs.id of the run that first fetched it"
    )
    scope: Mapped[str | None] = mapped_column(String(255), comment="scope it was fetched for")
    fetched_at: Mapped[datetime] = mapped_column(comment="fetch time (UTC)")
    kind: Mapped[str] = mapped_column(String(8), comment="page (API response) or file (bulk)")
    url: Mapped[str | None] = mapped_column(Text, comment="request URL, tokens redacted")
    content_hash: Mapped[str] = mapped_column(String(64), comment="sha256 of the stored content")
    size_bytes: Mapped[int | None] = mapped_column(comment="uncompressed size in bytes")
    payload: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="gzip-compressed response body (pages only)"
    )
    path: Mapped[str | None] = mapped_column(
        Text, comment="bulk files: path of the kept original, relative to the data directory"
    )
    pruned_at: Mapped[datetime | None] = mapped_column(
        comment="bulk files: when retention (keep_files) deleted the kept original; "
        "NULL while it is on disk"
    )


#: ``ads.last_seen_at`` (migration 0007 says the same on PostgreSQL, which stores comments).
LAST_SEEN_COMMENT = (
    "last collected by adlib (UTC); bulk files: the last listing that wrote the ad, and a "
    "listed ad (delisted_at NULL) is also in its scope's latest listing (checkpoints.state "
    "listed_at)"
)


class Ad(Base):
    __tablename__ = "ads"
    __table_args__ = (
        UniqueConstraint("source", "source_ad_id"),
        Index("ix_ads_advertiser_id", "advertiser_id"),
        Index("ix_ads_funder_id", "funder_id"),
        Index("ix_ads_source_scope", "source", "scope"),
        {"comment": "One row per ad per platform: its current state."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="adlib's ad id")
    source: Mapped[str] = mapped_column(String(32), comment="platform: meta, google, snap, ...")
    source_ad_id: Mapped[str] = mapped_column(
        String(255), comment="the platform's ad id (Meta Library ID, Google CR..., Snap ADID)"
    )
    scope: Mapped[str | None] = mapped_column(
        String(255), comment="scope of the listing the ad was last seen in"
    )
    advertiser_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("advertisers.id"), comment="advertisers.id"
    )
    funder_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("funders.id"), comment="funders.id of the declared payer"
    )
    ad_type: Mapped[str | None] = mapped_column(
        String(64), comment="platform's ad type (Meta ad_type query, Google TEXT/IMAGE/VIDEO)"
    )
    library: Mapped[str] = mapped_column(
        String(16),
        server_default="political",
        comment="library the ad came from: political (political and issue ads) or all_ads "
        "(Meta's EU/UK library of ads of any type: no spend or impressions)",
    )
    ad_url: Mapped[str | None] = mapped_column(
        Text, comment="public page of the ad in the platform's library (no token)"
    )
    ad_created_at: Mapped[datetime | None] = mapped_column(comment="creation time (UTC)")
    delivery_start: Mapped[datetime | None] = mapped_column(comment="delivery start (UTC)")
    delivery_stop: Mapped[datetime | None] = mapped_column(
        comment="delivery stop (UTC); NULL while running or not reported"
    )
    first_served_at: Mapped[datetime | None] = mapped_column(
        comment="first impression served, where reported (Google)"
    )
    last_served_at: Mapped[datetime | None] = mapped_column(
        comment="last impression served, where reported (Google)"
    )
    currency: Mapped[str | None] = mapped_column(String(8), comment="ISO 4217 currency of spend")
    spend_lower: Mapped[int | None] = mapped_column(comment="spend lower bound, in currency")
    spend_upper: Mapped[int | None] = mapped_column(
        comment="spend upper bound, in currency; NULL = open-ended top bucket"
    )
    spend_usd_lower: Mapped[int | None] = mapped_column(
        comment="spend lower bound in USD, where the platform gives one"
    )
    spend_usd_upper: Mapped[int | None] = mapped_column(
        comment="spend upper bound in USD, where the platform gives one; NULL = open-ended"
    )
    impressions_lower: Mapped[int | None] = mapped_column(comment="impressions lower bound")
    impressions_upper: Mapped[int | None] = mapped_column(
        comment="impressions upper bound; NULL = open-ended top bucket"
    )
    audience_lower: Mapped[int | None] = mapped_column(
        comment="estimated audience size lower bound (Meta; formerly potential_reach)"
    )
    audience_upper: Mapped[int | None] = mapped_column(
        comment="estimated audience size upper bound; NULL = open-ended"
    )
    eu_total_reach: Mapped[int | None] = mapped_column(comment="Meta EU total reach")
    extra: Mapped[dict[str, Any] | None] = mapped_column(
        comment="platform-specific attributes without a column (JSON)"
    )
    first_seen_at: Mapped[datetime] = mapped_column(comment="first collected by adlib (UTC)")
    last_seen_at: Mapped[datetime] = mapped_column(comment=LAST_SEEN_COMMENT)
    changed_at: Mapped[datetime] = mapped_column(comment="last time any reported value changed")
    delisted_at: Mapped[datetime | None] = mapped_column(
        comment="when a complete listing (bulk file) no longer contained the ad; NULL if listed"
    )
    content_hash: Mapped[str] = mapped_column(
        String(32), comment="hash of every reported value; a change rewrites child rows"
    )
    observation_hash: Mapped[str] = mapped_column(
        String(32), comment="hash of the observed metrics; a change appends an observation"
    )
    raw_record_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("raw_records.id"), comment="raw_records.id of the latest source payload"
    )
    raw_ref: Mapped[str | None] = mapped_column(
        Text, comment="bulk files: member:line of the row inside the raw file"
    )
    raw_hash: Mapped[int | None] = mapped_column(
        comment="bulk files: 64-bit fingerprint of the raw row; a re-import skips rows it "
        "already has without reading them"
    )


class AdCountry(Base):
    __tablename__ = "ad_countries"
    __table_args__ = (
        Index("ix_ad_countries_country_code", "country_code"),
        {"comment": "Countries an ad reached, ISO 3166-1 alpha-2 (UK stored as GB).", **_BY_AD},
    )

    ad_id: Mapped[int] = _ad_fk()
    country_code: Mapped[str] = mapped_column(String(2), primary_key=True, comment="ISO alpha-2")


class AdCreative(Base):
    __tablename__ = "ad_creatives"
    __table_args__ = {"comment": "Creative cards/versions of an ad, in platform order."}

    ad_id: Mapped[int] = _ad_fk()
    position: Mapped[int] = mapped_column(Integer, primary_key=True, comment="0-based order")
    body: Mapped[str | None] = mapped_column(Text, comment="ad text")
    link_title: Mapped[str | None] = mapped_column(Text, comment="link title")
    link_description: Mapped[str | None] = mapped_column(Text, comment="link description")
    link_caption: Mapped[str | None] = mapped_column(Text, comment="link caption (domain)")
    media_url: Mapped[str | None] = mapped_column(Text, comment="URL of the creative media")
    media_type: Mapped[str | None] = mapped_column(String(32), comment="media type if reported")
    properties: Mapped[str | None] = mapped_column(Text, comment="platform's creative properties")


class AdRegion(Base):
    __tablename__ = "ad_regions"
    __table_args__ = {
        "comment": "Share of an ad's delivery by region (Meta delivery_by_region).",
        **_BY_AD,
    }

    ad_id: Mapped[int] = _ad_fk()
    region: Mapped[str] = mapped_column(String(255), primary_key=True, comment="region name")
    share: Mapped[float | None] = mapped_column(Float, comment="fraction 0..1 of delivery")


class AdDemographic(Base):
    __tablename__ = "ad_demographics"
    __table_args__ = {"comment": "Share of an ad's delivery by age bucket x gender.", **_BY_AD}

    ad_id: Mapped[int] = _ad_fk()
    age_range: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="age bucket: 13-17, 18-24, ..., 65+, Unknown"
    )
    gender: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="female, male or unknown (lower case)"
    )
    share: Mapped[float | None] = mapped_column(Float, comment="fraction 0..1 of delivery")


class AdTargeting(Base):
    __tablename__ = "ad_targeting"
    # Keyed (ad_id, id) and clustered by ad (see _BY_AD): the key serves every lookup by ad,
    # so no separate ad_id index is needed; ``id`` is the criterion's order within its ad.
    __table_args__ = (
        PrimaryKeyConstraint("ad_id", "id"),
        {"comment": "Targeting criteria an ad used, one row per value.", **_BY_AD},
    )

    id: Mapped[int] = mapped_column(
        BigId,
        primary_key=True,
        autoincrement=False,
        comment="0-based order of the criterion within its ad, as the platform listed it",
    )
    ad_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ads.id", ondelete="CASCADE"), primary_key=True, comment="the ad (ads.id)"
    )
    dimension: Mapped[str] = mapped_column(
        String(64), comment="age, gender, geo, region, postal_code, interest, language, ..."
    )
    value: Mapped[str] = mapped_column(Text, comment="the criterion as the platform states it")
    included: Mapped[bool] = mapped_column(Boolean, comment="true: included; false: excluded")


class AdReachBreakdown(Base):
    __tablename__ = "ad_reach_breakdown"
    __table_args__ = {
        "comment": "Meta EU reach by country x age x gender (absolute counts).",
        **_BY_AD,
    }

    ad_id: Mapped[int] = _ad_fk()
    country: Mapped[str] = mapped_column(String(2), primary_key=True, comment="ISO alpha-2")
    age_range: Mapped[str] = mapped_column(String(16), primary_key=True, comment="age bucket")
    gender: Mapped[str] = mapped_column(String(16), primary_key=True, comment="gender")
    reach: Mapped[int | None] = mapped_column(comment="people reached")


class AdBeneficiaryPayer(Base):
    __tablename__ = "ad_beneficiary_payers"
    __table_args__ = {"comment": "Meta EU beneficiary/payer declarations."}

    ad_id: Mapped[int] = _ad_fk()
    position: Mapped[int] = mapped_column(Integer, primary_key=True, comment="0-based order")
    beneficiary: Mapped[str | None] = mapped_column(Text, comment="declared beneficiary")
    payer: Mapped[str | None] = mapped_column(Text, comment="declared payer")
    current: Mapped[bool | None] = mapped_column(Boolean, comment="whether the pair is current")


class AdLanguage(Base):
    __tablename__ = "ad_languages"
    __table_args__ = {"comment": "Languages of an ad (ISO 639-1).", **_BY_AD}

    ad_id: Mapped[int] = _ad_fk()
    language: Mapped[str] = mapped_column(String(16), primary_key=True, comment="ISO 639-1")


class AdPlatform(Base):
    __tablename__ = "ad_platforms"
    __table_args__ = {
        "comment": "Publisher platforms an ad ran on (facebook, instagram, ...).",
        **_BY_AD,
    }

    ad_id: Mapped[int] = _ad_fk()
    platform: Mapped[str] = mapped_column(String(32), primary_key=True, comment="lower case")


class AdSpend(Base):
    __tablename__ = "ad_spend"
    __table_args__ = {"comment": "Every non-empty spend range of an ad, per currency.", **_BY_AD}

    ad_id: Mapped[int] = _ad_fk()
    currency: Mapped[str] = mapped_column(String(8), primary_key=True, comment="ISO 4217")
    lower: Mapped[int | None] = mapped_column(comment="spend lower bound")
    upper: Mapped[int | None] = mapped_column(comment="spend upper bound; NULL = open-ended")


class AdObservation(Base):
    __tablename__ = "ad_observations"
    __table_args__ = (
        Index("ix_ad_observations_ad_id", "ad_id", "observed_at"),
        {"comment": "History: one row at first sighting and one per observed change."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="observation id")
    ad_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ads.id", ondelete="CASCADE"), comment="the ad (ads.id)"
    )
    observed_at: Mapped[datetime] = mapped_column(comment="when adlib observed it (UTC)")
    run_id: Mapped[int | None] = mapped_column(BigId, comment="collection_runs.id")
    currency: Mapped[str | None] = mapped_column(String(8), comment="currency of spend")
    spend_lower: Mapped[int | None] = mapped_column(comment="spend lower bound")
    spend_upper: Mapped[int | None] = mapped_column(comment="spend upper bound; NULL = open")
    impressions_lower: Mapped[int | None] = mapped_column(comment="impressions lower bound")
    impressions_upper: Mapped[int | None] = mapped_column(comment="impressions upper; NULL = open")
    audience_lower: Mapped[int | None] = mapped_column(comment="audience size lower bound")
    audience_upper: Mapped[int | None] = mapped_column(comment="audience size upper; NULL = open")
    eu_total_reach: Mapped[int | None] = mapped_column(comment="Meta EU total reach")
    delivery_start: Mapped[datetime | None] = mapped_column(comment="delivery start (UTC)")
    delivery_stop: Mapped[datetime | None] = mapped_column(comment="delivery stop (UTC)")


class CollectionRun(Base):
    __tablename__ = "collection_runs"
    __table_args__ = (
        Index("ix_collection_runs_source_scope", "source", "scope", "started_at"),
        {"comment": "Bookkeeping: one row per source x scope per run."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="run id")
    source: Mapped[str] = mapped_column(String(32), comment="platform")
    scope: Mapped[str] = mapped_column(String(255), comment="scope (country, file, year, ...)")
    started_at: Mapped[datetime] = mapped_column(comment="start (UTC)")
    finished_at: Mapped[datetime | None] = mapped_column(comment="end (UTC); NULL while running")
    status: Mapped[str] = mapped_column(
        String(16), comment="running, success, failed, skipped or interrupted"
    )
    pages: Mapped[int] = mapped_column(Integer, default=0, comment="pages/batches committed")
    records: Mapped[int] = mapped_column(Integer, default=0, comment="ads received")
    new: Mapped[int] = mapped_column(Integer, default=0, comment="ads seen for the first time")
    changed: Mapped[int] = mapped_column(Integer, default=0, comment="ads whose values changed")
    observations: Mapped[int] = mapped_column(Integer, default=0, comment="observations written")
    quarantined: Mapped[int] = mapped_column(Integer, default=0, comment="records quarantined")
    error: Mapped[str | None] = mapped_column(Text, comment="error message if failed")
    notices: Mapped[list[str] | None] = mapped_column(
        JSONType, comment="warnings for the run summary (unknown columns, ...)"
    )


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    __table_args__ = {"comment": "Where each source x scope resumes; committed with its data."}

    source: Mapped[str] = mapped_column(String(32), primary_key=True, comment="platform")
    scope: Mapped[str] = mapped_column(String(255), primary_key=True, comment="scope")
    state: Mapped[dict[str, Any]] = mapped_column(comment="cursor, watermark, ETag, ... (JSON)")
    updated_at: Mapped[datetime] = mapped_column(comment="last commit (UTC)")
    report_date: Mapped[date | None] = mapped_column(
        Date, comment="the platform's own report date, if published"
    )


class QuarantinedRecord(Base):
    __tablename__ = "quarantined_records"
    __table_args__ = {"comment": "Records a collector could not normalise, kept with the reason."}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="row id")
    run_id: Mapped[int | None] = mapped_column(BigId, comment="collection_runs.id")
    source: Mapped[str] = mapped_column(String(32), comment="platform")
    scope: Mapped[str] = mapped_column(String(255), comment="scope")
    raw_record_id: Mapped[int | None] = mapped_column(BigId, comment="raw_records.id")
    raw_ref: Mapped[str | None] = mapped_column(Text, comment="member:line for bulk files")
    reason: Mapped[str] = mapped_column(Text, comment="why it could not be normalised")
    payload: Mapped[str] = mapped_column(Text, comment="the record as received (secrets removed)")
    quarantined_at: Mapped[datetime] = mapped_column(comment="when (UTC)")


class DerivedStep(Base):
    __tablename__ = "derived_steps"
    __table_args__ = {
        "comment": "Bookkeeping of the steps that rebuild tables from all the data after a "
        "collection (actors, indicators): whether each is current."
    }

    step: Mapped[str] = mapped_column(String(32), primary_key=True, comment="actors or indicators")
    pending: Mapped[bool] = mapped_column(
        comment="true when the last attempt failed (or, for a step after actors, when the "
        "actors step took written ads it has not seen): the next collection runs the step even "
        "if it brings nothing new"
    )
    succeeded_at: Mapped[datetime | None] = mapped_column(comment="last success (UTC)")
    error: Mapped[str | None] = mapped_column(Text, comment="the last failure's reason")


#: Child tables of ``ads`` that are replaced as a whole when an ad changes.
AD_CHILD_TABLES: tuple[Table, ...] = (
    table_of(AdCreative),
    table_of(AdRegion),
    table_of(AdDemographic),
    table_of(AdTargeting),
    table_of(AdReachBreakdown),
    table_of(AdBeneficiaryPayer),
    table_of(AdLanguage),
    table_of(AdPlatform),
    table_of(AdSpend),
)
