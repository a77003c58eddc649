"""Tables for the parts of Google's transparency bundle that are not ads.

Google reports spend per advertiser, week, country and state in one column per currency, and
the set of currency columns changes every year or two (HRK dropped in 2023, BRL…MXN added by
2025). These tables are therefore long: one row per ``currency`` with a published amount, so a
new currency is a new value, never a migration. Every currency column is a published, rounded
conversion, so ``0`` is stored like any amount (spend below the rounding step; a row of zeros
still says the advertiser was listed that week); only an empty cell is absent.

Advertisers are referred to by Google's own id (``source_advertiser_id``, the same column as in
``advertisers``; join on ``advertisers.source = 'google'``). Renumbered ids are already mapped
to the advertiser's first id (see ``google_id_mappings``). Key columns that Google may leave
empty (a subdivision) hold ``''`` because a primary key cannot be NULL.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schema.models import Base


def _advertiser_key() -> Mapped[str]:
    return mapped_column(
        String(64),
        primary_key=True,
        comment="Google advertiser id (AR...), renumbered ids mapped to the first one",
    )


def _currency_key() -> Mapped[str]:
    return mapped_column(String(8), primary_key=True, comment="ISO 4217 currency of the amount")


class GoogleAdvertiserSpend(Base):
    __tablename__ = "google_advertiser_spend"
    __table_args__ = {
        "comment": "Google advertiser-stats: an advertiser's total political-ad spend, per currency."
    }

    source_advertiser_id: Mapped[str] = _advertiser_key()
    currency: Mapped[str] = _currency_key()
    spend: Mapped[int | None] = mapped_column(comment="total spend in currency (rounded by Google)")


class GoogleAdvertiserWeeklySpend(Base):
    __tablename__ = "google_advertiser_weekly_spend"
    __table_args__ = {
        "comment": "Google advertiser-weekly-spend: spend per advertiser, week and currency."
    }

    source_advertiser_id: Mapped[str] = _advertiser_key()
    week_start_date: Mapped[date] = mapped_column(
        Date, primary_key=True, comment="first day (Sunday) of the week"
    )
    currency: Mapped[str] = _currency_key()
    spend: Mapped[int | None] = mapped_column(comment="spend that week, in increments of 100")
    election_cycle: Mapped[str | None] = mapped_column(
        String(64), comment="Election_Cycle (deprecated by Google; e.g. US-Federal-2018)"
    )


class GoogleGeoSpend(Base):
    __tablename__ = "google_geo_spend"
    __table_args__ = {"comment": "Google geo-spend: all advertisers' spend per area and currency."}

    country: Mapped[str] = mapped_column(
        String(8), primary_key=True, comment="ISO alpha-2 country ('' if not reported)"
    )
    subdivision_primary: Mapped[str] = mapped_column(
        String(255), primary_key=True, comment="state or region (e.g. US-CA); '' if none"
    )
    subdivision_secondary: Mapped[str] = mapped_column(
        String(255), primary_key=True, comment="district within it (e.g. CA-12); '' if none"
    )
    currency: Mapped[str] = _currency_key()
    spend: Mapped[int | None] = mapped_column(comment="spend in currency")


class GoogleAdvertiserGeoSpend(Base):
    __tablename__ = "google_advertiser_geo_spend"
    __table_args__ = {
        "comment": "Google advertiser-geo-spend: an advertiser's spend per area and currency."
    }

    source_advertiser_id: Mapped[str] = _advertiser_key()
    country: Mapped[str] = mapped_column(String(8), primary_key=True, comment="ISO alpha-2")
    subdivision_primary: Mapped[str] = mapped_column(
        String(255), primary_key=True, comment="state or region as Google writes it; '' if none"
    )
    currency: Mapped[str] = _currency_key()
    spend: Mapped[int | None] = mapped_column(comment="spend in currency")


class GoogleAdvertiserDeclaredStats(Base):
    __tablename__ = "google_advertiser_declared_stats"
    __table_args__ = {
        "comment": "Google advertiser-declared-stats: what advertisers declare per region "
        "(California committees, New Zealand promoter statements)."
    }

    source_advertiser_id: Mapped[str] = _advertiser_key()
    region: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="region the declaration is for (e.g. US-CA, NZ)"
    )
    declared_name: Mapped[str | None] = mapped_column(Text, comment="declared advertiser name")
    regulatory_id: Mapped[str | None] = mapped_column(
        Text, comment="declared regulatory id (e.g. a California committee id)"
    )
    declared_scope: Mapped[str | None] = mapped_column(Text, comment="declared scope")
    promoter_name: Mapped[str | None] = mapped_column(Text, comment="declared promoter name")
    promoter_address: Mapped[str | None] = mapped_column(Text, comment="declared promoter address")


class GoogleTopKeywords(Base):
    __tablename__ = "google_top_keywords"
    __table_args__ = {
        "comment": "Google top-keywords-history (frozen since Dec 2019): weekly top six keywords."
    }

    election_cycle: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="election cycle (e.g. US-Federal-2018)"
    )
    report_date: Mapped[date] = mapped_column(
        Date, primary_key=True, comment="start of the week the spend was reported for"
    )
    region: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="region of the ranking; '' in the 2018 files"
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True, comment="1 = most spend")
    keyword: Mapped[str | None] = mapped_column(Text, comment="the keyword")
    spend_usd: Mapped[int | None] = mapped_column(comment="spend on the keyword, USD")
    elections: Mapped[str | None] = mapped_column(Text, comment="elections the ranking covers")


class GoogleIdMapping(Base):
    __tablename__ = "google_id_mappings"
    __table_args__ = {
        "comment": "Google's renumbered advertiser and creative ids (old id -> new id)."
    }

    kind: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="advertiser or creative"
    )
    old_id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="the earlier id")
    new_id: Mapped[str] = mapped_column(String(64), comment="the id that replaced it")
