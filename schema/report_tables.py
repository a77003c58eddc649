"""Meta's Ad Library Report: the per-country spend files downloaded by hand (`adlib import`).

One row per row of a report file, exactly as published: a Page and "paid for by" pair's amount
spent (``meta_report_spend``) or a region's amount (``meta_report_locations``). The report's
identity (date, country, period, region) comes from the file name; the report day is the
Pacific-time day Meta names the file by. ``≤100`` is stored as ``spend_lower = 0, spend_upper =
100``; an exact amount has lower = upper; a currency neither the file nor its README states is
NULL. Rows are keyed by ``row_key`` (report, region, line), so importing the same report twice,
or a zip and then a CSV extracted from it, overwrites instead of duplicating. ``file_sha256``
joins ``raw_records.content_hash`` (source ``meta``, kind ``file``): the kept original.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schema.models import Base


def _row_key() -> Mapped[str]:
    return mapped_column(
        String(32),
        primary_key=True,
        comment="identity of the row: digest of report date, country, period, region or part, line",
    )


def _report_date() -> Mapped[date]:
    return mapped_column(Date, comment="report day from the file name (Pacific time, as named)")


def _country() -> Mapped[str]:
    return mapped_column(String(2), comment="country of the report, ISO alpha-2")


def _period() -> Mapped[str]:
    return mapped_column(
        String(16),
        comment="last_day, last_7_days, last_30_days, last_90_days, lifelong; "
        "to_date or this_week (2019 reports)",
    )


def _currency() -> Mapped[str | None]:
    return mapped_column(
        String(8), comment="ISO 4217 currency as the file or its README states it; NULL if neither"
    )


def _lower() -> Mapped[int]:
    return mapped_column(comment="amount spent, lower bound (0 for '≤100')")


def _upper() -> Mapped[int]:
    return mapped_column(comment="amount spent, upper bound (100 for '≤100'; = lower if exact)")


def _sha() -> Mapped[str | None]:
    return mapped_column(
        String(64), comment="sha256 of the imported file (raw_records.content_hash)"
    )


def _member() -> Mapped[str | None]:
    return mapped_column(Text, comment="file name, or zip member, the row was read from")


def _line() -> Mapped[int]:
    return mapped_column(Integer, comment="line of the row in that file (the header is line 1)")


class MetaReportSpend(Base):
    __tablename__ = "meta_report_spend"
    __table_args__ = (
        Index("ix_meta_report_spend_report", "country_code", "period", "report_date"),
        Index("ix_meta_report_spend_page_id", "page_id"),
        {
            "comment": "Meta Ad Library Report: amount spent per Page and disclaimer, per report.",
            "info": {"source": "meta"},
        },
    )

    row_key: Mapped[str] = _row_key()
    report_date: Mapped[date] = _report_date()
    country_code: Mapped[str] = _country()
    period: Mapped[str] = _period()
    region: Mapped[str | None] = mapped_column(
        Text, comment="region of a per-region file; NULL for the country-wide advertisers file"
    )
    page_id: Mapped[str | None] = mapped_column(
        String(64), comment="Facebook Page id, as text; NULL in 2019 files (no Page ID column)"
    )
    page_name: Mapped[str | None] = mapped_column(Text, comment="Page name as published")
    disclaimer: Mapped[str | None] = mapped_column(
        Text, comment='"paid for by" text as published ("These ads ran without a disclaimer")'
    )
    currency: Mapped[str | None] = _currency()
    spend_lower: Mapped[int] = _lower()
    spend_upper: Mapped[int] = _upper()
    ads_in_library: Mapped[int | None] = mapped_column(
        comment="number of ads in the Library; NULL in per-region files (no such column)"
    )
    file_sha256: Mapped[str | None] = _sha()
    member: Mapped[str | None] = _member()
    line: Mapped[int] = _line()


class MetaReportLocation(Base):
    __tablename__ = "meta_report_locations"
    __table_args__ = (
        Index("ix_meta_report_locations_report", "country_code", "period", "report_date"),
        {
            "comment": "Meta Ad Library Report: amount spent per location (region), per report.",
            "info": {"source": "meta"},
        },
    )

    row_key: Mapped[str] = _row_key()
    report_date: Mapped[date] = _report_date()
    country_code: Mapped[str] = _country()
    period: Mapped[str] = _period()
    location: Mapped[str] = mapped_column(Text, comment="location (region) name as published")
    currency: Mapped[str | None] = _currency()
    spend_lower: Mapped[int] = _lower()
    spend_upper: Mapped[int] = _upper()
    file_sha256: Mapped[str | None] = _sha()
    member: Mapped[str | None] = _member()
    line: Mapped[int] = _line()
