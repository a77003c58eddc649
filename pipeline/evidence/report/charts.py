"""The report's charts: matplotlib figures rendered to SVG and embedded as data URIs.

SVG keeps the page self-contained and sharp when printed. Text is drawn as paths (matplotlib's
default ``svg.fonttype``), so the file needs no font and no label can become markup; labels
come from strangers, so ``$`` is escaped to keep matplotlib from reading them as math. The
charts are ``<img>`` elements: an SVG loaded as an image never runs a script.
"""

from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pipeline.evidence.report.queries import Table

plt.rcParams.update(
    {
        "svg.hashsalt": "adlib-report",  # stable element ids: same data, same bytes
        "svg.fonttype": "path",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)
_SVG_METADATA = {"Date": None, "Creator": "adlib report"}


@dataclass(frozen=True, slots=True)
class Chart:
    """One embedded chart: what it shows, its data file, and the SVG as a data URI."""

    title: str
    caption: str
    data_file: str
    uri: str


def label(value: Any) -> str:
    """A stranger's text as a plain chart label (no mathtext, bounded length)."""
    text = "(none)" if value is None else str(value)
    text = text if len(text) <= 40 else text[:39] + "…"
    return text.replace("$", r"\$")


def _uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=_SVG_METADATA)
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def spend_charts(table: Table) -> list[Chart]:
    """Spend per month and platform, one chart per currency: a band from lower to upper sums."""
    by_currency: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in table.records():
        by_currency[row["currency"]][row["source"]].append(row)
    charts = []
    for currency, sources in sorted(by_currency.items()):
        months = _calendar(r["month"] for rows in sources.values() for r in rows)
        xs = list(range(len(months)))
        figure, axes = plt.subplots(figsize=(7, 2.8))
        for source, rows in sorted(sources.items()):
            lower = _by_month(months, rows, "spend_lower")
            (line,) = axes.plot(xs, lower, marker="o", label=f"{label(source)} (lower bound)")
            upper = _by_month(months, rows, "spend_upper")
            if any(not math.isnan(u) for u in upper):
                axes.fill_between(
                    xs,
                    lower,
                    upper,
                    alpha=0.25,
                    color=line.get_color(),
                    label=f"{label(source)} lower to upper",
                )
        _month_axis(axes, months)
        axes.set_ylabel(label(currency))
        axes.legend(fontsize=7, frameon=False)
        charts.append(
            Chart(
                f"Spend per month, {currency}",
                "Lines are sums of lower bounds; bands reach the sums of upper bounds (missing "
                "where an open upper bound leaves the month unbounded). A gap is a month "
                "without a delivering ad of that platform.",
                "spend_monthly.csv",
                _uri(figure),
            )
        )
    return charts


def targeting_chart(table: Table) -> Chart | None:
    """Share of each platform's ads that used each targeting kind."""
    rows = table.records()
    if not rows:
        return None
    kinds = sorted({r["kind"] for r in rows})
    sources = sorted({r["source"] for r in rows})
    height = 0.8 / len(sources)
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(kinds) + 1))
    for offset, source in enumerate(sources):
        share = {r["kind"]: r["ads_using"] / r["ads"] for r in rows if r["source"] == source}
        axes.barh(
            [k + offset * height for k in range(len(kinds))],
            [share.get(kind, 0.0) for kind in kinds],
            height=height,
            label=label(source),
        )
    axes.set_yticks([k + 0.4 - height / 2 for k in range(len(kinds))], [label(k) for k in kinds])
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of the platform's ads in this report")
    axes.legend(fontsize=7, frameon=False)
    return Chart(
        "Targeting kinds used",
        "Share of ads naming at least one criterion of each kind.",
        "targeting_kinds.csv",
        _uri(figure),
    )


def heatmap(table: Table) -> Chart | None:
    """Impressions (lower bounds) by age and gender, as shares of the total."""
    rows = table.records()
    total = sum(float(r["impressions_lower"] or 0) for r in rows)
    if not rows or total <= 0:
        return None
    ages = sorted({r["age_range"] for r in rows})
    genders = sorted({r["gender"] for r in rows})
    grid = [[0.0] * len(genders) for _ in ages]
    for r in rows:
        grid[ages.index(r["age_range"])][genders.index(r["gender"])] = (
            float(r["impressions_lower"] or 0) / total
        )
    figure, axes = plt.subplots(figsize=(1.2 * len(genders) + 2.5, 0.4 * len(ages) + 1.2))
    image = axes.imshow(grid, cmap="Blues", aspect="auto", vmin=0)
    axes.set_xticks(range(len(genders)), [label(g) for g in genders])
    axes.set_yticks(range(len(ages)), [label(a) for a in ages])
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            axes.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes, fraction=0.05)
    return Chart(
        "Delivery by age and gender",
        "Share of impressions (sums of lower-bound estimates) per cell.",
        "demographics.csv",
        _uri(figure),
    )


def bar_chart(table: Table, key: str, title: str, caption: str, top: int = 15) -> Chart | None:
    """Horizontal bars of ``impressions_lower`` per ``key`` with the upper bound as a tick."""
    rows = table.records()[:top]
    if not rows:
        return None
    rows.reverse()
    figure, axes = plt.subplots(figsize=(7, 0.3 * len(rows) + 1))
    lower = [float(r["impressions_lower"] or 0) for r in rows]
    axes.barh(range(len(rows)), lower, label="lower bound")
    upper = [
        (i, float(r["impressions_upper"]))
        for i, r in enumerate(rows)
        if r["impressions_upper"] is not None
    ]
    if upper:
        axes.scatter(
            [u for _, u in upper],
            [i for i, _ in upper],
            marker="|",
            s=120,
            color="black",
            label="upper bound",
        )
    axes.set_yticks(range(len(rows)), [label(r[key]) for r in rows])
    axes.set_xlabel("impressions")
    axes.legend(fontsize=7, frameon=False)
    return Chart(title, caption, f"{table.name}.csv", _uri(figure))


def concentration_chart(table: Table) -> Chart | None:
    """Top-10 share per month on lower and on upper bounds, per platform and currency."""
    rows = [r for r in table.records() if r["unit"] == "advertiser"]
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7, 2.8))
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        series[(r["source"], r["currency"])].append(r)
    months = _calendar(r["month"] for r in rows)
    xs = list(range(len(months)))
    for (source, currency), points in sorted(series.items()):
        name = f"{label(source)} {label(currency)}"
        lower = _by_month(months, points, "top10_share_lower")
        axes.plot(xs, lower, marker="o", label=f"{name} (lower bounds)")
        upper = _by_month(months, points, "top10_share_upper")
        if any(not math.isnan(u) for u in upper):
            axes.plot(xs, upper, marker="s", linestyle="--", label=f"{name} (upper bounds)")
    _month_axis(axes, months)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("top-10 share")
    axes.legend(fontsize=7, frameon=False)
    return Chart(
        "Spend concentration",
        "Share of the month's spend by the 10 biggest advertisers, on each bound.",
        "concentration.csv",
        _uri(figure),
    )


def _calendar(months: Iterable[str]) -> list[str]:
    """Every month (``YYYY-MM``) from the first to the last of ``months``: a month without
    data keeps its place on the axis, so a gap shows as a gap."""
    present = sorted(set(months))
    if not present:
        return []
    year, month = map(int, present[0].split("-"))
    calendar = []
    while (label_ := f"{year:04d}-{month:02d}") <= present[-1]:
        calendar.append(label_)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return calendar


def _by_month(months: list[str], rows: list[dict[str, Any]], column: str) -> list[float]:
    """``column`` of ``rows`` at each month of ``months``; NaN (a break in the line) where a
    month has no row or the value is open (NULL)."""
    values = {r["month"]: r[column] for r in rows}
    return [float("nan") if values.get(m) is None else float(values[m]) for m in months]


#: At most this many month labels on an axis: beyond a year or so, one per month is a smear.
MONTH_LABELS = 12


def _month_axis(axes: Axes, months: list[str]) -> None:
    """Months along x (one position each), labelled every few months so labels stay legible."""
    step = max(1, -(-len(months) // MONTH_LABELS))
    shown = range(0, len(months), step)
    axes.set_xticks(list(shown), [label(months[i]) for i in shown], rotation=45, ha="right")
