"""Benchmark: actor resolution, its quality on the labelled set and its cost at scale.

Usage::

    python benchmarks/actors.py [--mentions 200000] [--workdir DIR] [--pg-url URL]

1. Quality, on tests/fixtures/actors/labelled_mentions.csv: pairwise precision, recall and F1
   of adlib's rules and their time; a sweep of the whole-name threshold (``MERGE_SCORE``); and a
   baseline measured in the same run: plain fuzzy matching (rapidfuzz ``token_sort_ratio`` at
   or above a threshold, all pairs, connected components), the common first attempt, which
   the precision guards must beat.
2. Scale: a database with ``--mentions`` distinct mentions (half Meta pages, half "paid for by"
   lines, one ad each, ten countries, names built from a vocabulary with realistic variants:
   case, legal forms, prefixes, typos), then, each in its own process so its peak RSS is its
   own, the baseline (the extraction's GROUP BY queries read into Python, no resolution) and
   `adlib actors resolve` (the real CLI) run twice: first resolution, then the nightly rerun.

Targets (issue 9): precision >= 0.99 and recall >= 0.90 on the labelled set; 200,000
mentions resolve in <= 60 s with <= 500 MB peak RSS on SQLite and on PostgreSQL. Exits 1 if
a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rapidfuzz import fuzz  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from benchmarks.measure import Measurement, measure  # noqa: E402
from benchmarks.scratch_pg import scratch_database  # noqa: E402
from pipeline import db  # noqa: E402
from pipeline.evidence.actors.evaluate import evaluate, load_labelled  # noqa: E402
from pipeline.evidence.actors.normalise import normalise  # noqa: E402
from pipeline.evidence.actors.resolve import MERGE_SCORE  # noqa: E402
from pipeline.sqlutil import BulkInsert  # noqa: E402
from schema.models import Ad, AdCountry, Advertiser, Funder  # noqa: E402

LABELLED = REPO / "tests" / "fixtures" / "actors" / "labelled_mentions.csv"
TARGET_PRECISION, TARGET_RECALL = 0.99, 0.90
TARGET_SECONDS, TARGET_RSS_MB = 60.0, 500.0
COUNTRIES = ("AR", "BR", "CA", "CL", "FR", "IN", "IT", "KE", "GB", "US")


def naive_scores(rows: list[dict[str, str]], threshold: float) -> tuple[float, float]:
    """Pairwise P/R of plain fuzzy matching: all pairs, token_sort_ratio >= threshold."""
    names = sorted({normalise(r["name"]) for r in rows})
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            if fuzz.token_sort_ratio(a, names[j]) >= threshold:
                parent[find(j)] = find(i)
    index = {n: i for i, n in enumerate(names)}
    got, want = defaultdict(list), defaultdict(list)
    for k, r in enumerate(rows):
        got[find(index[normalise(r["name"])])].append(k)
        want[r["actor"]].append(k)

    def pairs(groups: dict) -> set[tuple[int, int]]:
        return {(a, b) for m in groups.values() for i, a in enumerate(m) for b in m[i + 1 :]}

    p, t = pairs(got), pairs(want)
    return (len(p & t) / len(p) if p else 1.0), (len(p & t) / len(t) if t else 1.0)


def quality() -> bool:
    rows = load_labelled(LABELLED)
    started = time.perf_counter()
    scores = evaluate(rows)
    seconds = time.perf_counter() - started
    print(f"labelled set: {scores.mentions} mentions, {scores.actors} true actors")
    print(f"{'method':44} {'precision':>9} {'recall':>7} {'F1':>6}")
    print(
        f"{'adlib rules (MERGE_SCORE ' + str(MERGE_SCORE) + ')':44} {scores.precision:>9.3f} "
        f"{scores.recall:>7.3f} {scores.f1:>6.3f}   ({seconds * 1000:.0f} ms, "
        f"{scores.predicted_actors} actors found)"
    )
    for threshold in (70, 80, 85, 90, 95, 98):
        s = evaluate(rows, merge_score=threshold)
        print(
            f"{'  sweep: MERGE_SCORE ' + str(threshold):44} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}"
        )
    for threshold in (80, 85, 90, 95):
        p, r = naive_scores(rows, threshold)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(
            f"{'  baseline: token_sort_ratio >= ' + str(threshold):44} {p:>9.3f} {r:>7.3f} {f1:>6.3f}"
        )
    if scores.false_links:
        print("wrong links:", scores.false_links)
    ok = scores.precision >= TARGET_PRECISION and scores.recall >= TARGET_RECALL
    print(
        f"target: precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL}: "
        f"{'met' if ok else 'MISSED'}"
    )
    return ok


_FIRST = [
    "Jane",
    "John",
    "Maria",
    "Ana",
    "Luis",
    "Rahul",
    "Amina",
    "Kofi",
    "Chen",
    "Sofia",
    "Pierre",
    "Giulia",
    "Wanjiru",
    "Diego",
    "Priya",
]
_LAST = [
    "Okafor",
    "Silva",
    "Rossi",
    "Dupont",
    "Kumar",
    "Mwangi",
    "Smith",
    "Garcia",
    "Bianchi",
    "Martin",
    "Patel",
    "Otieno",
    "Gonzalez",
    "Ferreira",
    "Moreau",
    "Singh",
    "Kamau",
    "Lopez",
    "Romano",
    "Bernard",
]
_ORG = [
    "Action",
    "Alliance",
    "Future",
    "Progress",
    "Liberty",
    "Unity",
    "Green",
    "Citizens",
    "Workers",
    "Renewal",
]
_KIND = [
    "PAC",
    "Fund",
    "Committee",
    "Network",
    "Coalition",
    "Foundation",
    "Movement",
    "Forum",
    "Council",
    "Institute",
]
_FORMS = ("", " Inc.", " LLC", " Ltd", " SAS", " S.r.l.", " Ltda", " Pvt Ltd", " S.A.")
_PREFIXES = ("", "Paid for by ", "Pagado por ", "Payé par ", "Promoted by ")


def _base_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        n = len(names)
        pattern = n % 3
        if pattern == 0:
            name = f"Friends of {rng.choice(_FIRST)} {rng.choice(_LAST)} {n}"
        elif pattern == 1:
            name = f"{rng.choice(_ORG)} {rng.choice(_ORG)} {rng.choice(_KIND)} {n}"
        else:
            name = f"{rng.choice(_LAST)} {rng.choice(_LAST)} Media {rng.choice(_KIND)} {n}"
        names.add(name)
    return sorted(names)


def _variant(name: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return name.upper() + rng.choice(_FORMS)
    if roll < 0.6:
        return rng.choice(_PREFIXES) + name + rng.choice(_FORMS)
    if roll < 0.8:
        words = name.split()
        i = max(range(len(words)), key=lambda k: len(words[k]))
        words[i] = words[i][:2] + words[i][3:] if len(words[i]) > 6 else words[i]
        return " ".join(words)
    return name


def build(url: str, mentions: int) -> float:
    """``mentions // 2`` ads, each with its own page and byline spelling: ``mentions`` mentions."""
    started = time.perf_counter()
    rng = random.Random(9)
    engine = db.make_engine(url)
    db.ensure_schema(engine)
    ads = mentions // 2
    bases = _base_names(ads // 3, rng)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with engine.begin() as conn:
        BulkInsert(
            conn,
            Advertiser.__table__,
            ["id", "source", "source_advertiser_id", "name", "first_seen_at", "updated_at"],
        ).write(
            [
                (i + 1, "meta", str(10_000_000 + i), f"{bases[i % len(bases)]}", now, now)
                for i in range(ads)
            ]
        )
        BulkInsert(conn, Funder.__table__, ["id", "name", "first_seen_at"]).write(
            [(i + 1, f"{_variant(bases[i % len(bases)], rng)} #{i}", now) for i in range(ads)]
        )
        columns = ["id", "source", "source_ad_id", "advertiser_id", "funder_id", "currency",
                   "spend_lower", "spend_upper", "delivery_start", "delivery_stop",
                   "first_seen_at", "last_seen_at", "changed_at", "content_hash",
                   "observation_hash"]  # fmt: skip
        BulkInsert(conn, Ad.__table__, columns).write(
            [
                (
                    i + 1,
                    "meta",
                    str(i),
                    i + 1,
                    i + 1,
                    "USD",
                    100,
                    199,
                    now,
                    now,
                    now,
                    now,
                    now,
                    "x",
                    "x",
                )
                for i in range(ads)
            ]
        )
        BulkInsert(conn, AdCountry.__table__, ["ad_id", "country_code"]).write(
            [(i + 1, COUNTRIES[i % len(COUNTRIES)]) for i in range(ads)]
        )
    engine.dispose()
    return time.perf_counter() - started


def baseline(url: str) -> None:
    """The extraction's reading alone: every ad's page and byline name grouped, into Python."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        seen = 0
        for sql in (
            "SELECT v.name, c.country_code, v.source_advertiser_id, COUNT(*) FROM ads a"
            " JOIN advertisers v ON v.id = a.advertiser_id"
            " LEFT JOIN ad_countries c ON c.ad_id = a.id GROUP BY 1, 2, 3",
            "SELECT f.name, c.country_code, COUNT(*) FROM ads a JOIN funders f ON f.id = a.funder_id"
            " LEFT JOIN ad_countries c ON c.ad_id = a.id GROUP BY 1, 2",
        ):
            seen += sum(1 for _ in conn.execute(text(sql)))
    print(seen)


def scale(url: str, mentions: int, workdir: Path, label: str) -> list[Measurement]:
    print(f"\n[{label}] generating {mentions:,} mentions ...", flush=True)
    print(f"  {build(url, mentions):.1f} s", flush=True)
    config = workdir / f"config-{label}.yaml"
    config.write_text(f"database:\n  url: {url}\n")
    resolve = [sys.executable, "-m", "pipeline", "actors", "resolve", "--config", str(config)]
    results = [
        measure(
            f"{label}: GROUP BY into Python (baseline)",
            [sys.executable, __file__, "--baseline-child", url],
        ),
        measure(f"{label}: adlib actors resolve (first)", resolve),
        measure(f"{label}: adlib actors resolve (rerun)", resolve),
    ]
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT actor_id) FROM actor_mentions")
        ).one()
    engine.dispose()
    print(f"  {found[0]:,} mentions resolved to {found[1]:,} actors")
    return results


def report(results: list[Measurement]) -> bool:
    print(f"\n{'measurement':46} {'seconds':>8} {'x base':>7} {'peak MB':>8}")
    ok = True
    base: Measurement | None = None
    for r in results:
        if "baseline" in r.name:
            base = r
        ratio = r.seconds / base.seconds if base and base.seconds else float("nan")
        print(f"{r.name:46} {r.seconds:>8.1f} {ratio:>7.1f} {r.peak_mb:>8.0f}")
        if "adlib" in r.name and (r.seconds > TARGET_SECONDS or r.peak_mb > TARGET_RSS_MB):
            ok = False
    print(
        f"\ntarget: resolve <= {TARGET_SECONDS:.0f} s and <= {TARGET_RSS_MB:.0f} MB peak: "
        f"{'met' if ok else 'MISSED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--pg-url", default=os.environ.get("ADLIB_BENCH_PG_URL"))
    parser.add_argument("--baseline-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        baseline(args.baseline_child)
        return 0
    ok = quality()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="adlib-actors-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = scale(f"sqlite:///{workdir / 'bench.sqlite'}", args.mentions, workdir, "SQLite")
    if args.pg_url:
        with scratch_database(args.pg_url, "adlib_actors_bench") as url:
            results += scale(url, args.mentions, workdir, "PostgreSQL")
    ok = report(results) and ok
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
