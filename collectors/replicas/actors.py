"""Organisations the replicas publish under each platform's spelling, so the actors layer has
real cross-platform work in `adlib demo` and the tests.

Names follow the real cases in docs/actors.md: Snap's ``OrganizationName`` is often the agency
(Middle Seat Consulting for a Texas campaign, Havas Media France for the European Parliament,
Bully Pulpit Interactive for Climate Power), and one committee is spelt differently by its Meta
page, its "paid for by" line, its Google advertiser account and its Snap payer line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spellings:
    """One organisation as each platform field spells it ("" where it does not appear)."""

    meta_page: str
    meta_byline: str
    google_advertiser: str
    google_public_ids: str
    snap_payer: str


#: Payers and pages that appear on two or three platforms.
CROSS_PLATFORM: tuple[Spellings, ...] = (
    Spellings(
        "Friends of Jane Okafor",
        "FRIENDS OF JANE OKAFOR",
        "Friends Of Jane Okafor, Inc.",
        "FEC ID C00871234",
        "Paid for by Friends of Jane Okafor",
    ),
    Spellings(
        "Climate Power",
        "Climate Power Inc.",
        "CLIMATE POWER",
        "EIN ID 84-2312345",
        "Climate Power",
    ),
    Spellings(
        "Climate Power Action",  # a different organisation: must stay apart from Climate Power
        "Climate Power Action",
        "",
        "",
        "Climate Power Action",
    ),
    Spellings(
        "Beto for Texas",
        "Beto for Texas",
        "BETO FOR TEXAS",
        "FEC ID C00501197",
        "Beto For Texas",
    ),
)

#: Snap organisations (the Ads Manager accounts that created the ads): agencies.
SNAP_AGENCIES: tuple[str, ...] = (
    "Middle Seat Consulting LLC",
    "Havas Media France SAS",
    "Bully Pulpit Interactive",
    "Middle Seat Consulting",
    "Initiative Media GmbH",
)
