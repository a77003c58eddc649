"""`adlib db rebuild` rate per platform, next to the collection rate measured in the same run.

    python benchmarks/rebuild.py [--ads 20000] [--pg postgresql://user@host/db]

For each platform: its replica serves N ads on loopback; ``adlib collect`` (a subprocess, as
cron runs it) fills a fresh database; then ``adlib db rebuild --to`` (a subprocess) replays that
database's raw archive into another fresh one, with no replica running. Prints both rates
(ads/s), the rebuild/collect ratio and each process's peak memory (benchmarks/measure.py). A rebuild pays no network
and no waiting on a platform, so it should run at least as fast as a collection; it must
also stream (peak memory flat in N).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from benchmarks.measure import measure  # noqa: E402
from benchmarks.scratch_pg import scratch_database  # noqa: E402

TOKEN = "benchmark-token-not-secret"

Setup = Callable[[Path, int], AbstractContextManager[dict[str, Any]]]


@contextmanager
def meta(folder: Path, n_ads: int) -> Iterator[dict[str, Any]]:
    from collectors.replicas import ReplicaServer
    from collectors.replicas.meta import MetaReplica

    replica = MetaReplica(n_ads=n_ads, countries=("US",), seed=1, token=TOKEN)
    with ReplicaServer(replica) as server:
        yield {"base_url": server.url, "access_token": TOKEN, "page_size": 500}


@contextmanager
def google(folder: Path, n_ads: int) -> Iterator[dict[str, Any]]:
    from collectors.replicas import ReplicaServer
    from collectors.replicas.google import GoogleBundleReplica

    replica = GoogleBundleReplica(folder / "google-replica", ads=n_ads, seed=1)
    with ReplicaServer(replica.handle) as server:
        yield replica.settings(server.url)


@contextmanager
def snap(folder: Path, n_ads: int) -> Iterator[dict[str, Any]]:
    from collectors.replicas import ReplicaServer
    from collectors.replicas.snap import SnapReplica

    replica = SnapReplica(folder / "snap-replica", years=(2024,), ads=n_ads)
    with ReplicaServer(replica.handle) as server:
        yield replica.settings(server.url)


PLATFORMS: dict[str, Setup] = {"meta": meta, "google": google, "snap": snap}


#: `adlib` as cron runs it, in its own process (so its peak memory is its own).
ADLIB = [sys.executable, "-m", "pipeline"]


@contextmanager
def fresh_database(engine_name: str, folder: Path, pg_url: str | None) -> Iterator[str]:
    if engine_name == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    assert pg_url is not None
    with scratch_database(pg_url, "adlib_bench_rebuild") as url:
        yield url


def ads_in(url: str) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT COUNT(*) FROM ads")).scalar_one())
    engine.dispose()
    return count


def measure_platform(
    platform: str, engine_name: str, n_ads: int, pg_url: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"adlib-rebuild-{platform}-") as tmp:
        folder = Path(tmp)
        with (
            fresh_database(engine_name, folder, pg_url) as source,
            fresh_database(engine_name, folder, pg_url) as target,
        ):
            config = folder / "config.yaml"
            with PLATFORMS[platform](folder, n_ads) as settings:
                config.write_text(
                    yaml.safe_dump(
                        {
                            "database": {"url": source},
                            "data_dir": str(folder / "data"),
                            "countries": ["US"],
                            "sources": {platform: settings},
                        }
                    )
                )
                collect = measure("collect", [*ADLIB, "collect", "--config", str(config)])
            ads = ads_in(source)
            rebuild = measure(
                "rebuild", [*ADLIB, "db", "rebuild", "--config", str(config), "--to", target]
            )
            rebuilt = ads_in(target)
    if rebuilt != ads:
        raise SystemExit(f"{platform}: rebuild has {rebuilt} ads, the collection {ads}")
    return {
        "platform": platform,
        "engine": engine_name,
        "ads": ads,
        "collect_rate": ads / collect.seconds,
        "rebuild_rate": ads / rebuild.seconds,
        "collect_mb": collect.peak_mb,
        "rebuild_mb": rebuild.peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=20_000)
    parser.add_argument("--pg", default=os.environ.get("ADLIB_TEST_PG_URL"))
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS))
    args = parser.parse_args()
    engines = ["sqlite"] + (["postgresql"] if args.pg else [])
    print(
        f"{'platform':<9} {'engine':<11} {'ads':>8} {'collect/s':>10} {'rebuild/s':>10} "
        f"{'ratio':>6} {'collect MB':>11} {'rebuild MB':>11}"
    )
    for platform in args.platform or sorted(PLATFORMS):
        for engine_name in engines:
            r = measure_platform(platform, engine_name, args.ads, args.pg)
            print(
                f"{r['platform']:<9} {r['engine']:<11} {r['ads']:>8,} "
                f"{r['collect_rate']:>10,.0f} {r['rebuild_rate']:>10,.0f} "
                f"{r['rebuild_rate'] / r['collect_rate']:>6.2f} "
                f"{r['collect_mb']:>11.0f} {r['rebuild_mb']:>11.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
