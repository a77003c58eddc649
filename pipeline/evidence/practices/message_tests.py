"""Message tests: clusters of an advertiser's near-duplicate ads with overlapping delivery.

A refresh reads every ad with a text, advertiser by advertiser (streamed in advertiser order,
so memory holds one advertiser at a time), and writes ``message_test_variants``:

1. ads whose normalised texts are equal are one text (an exact re-use is a variant too);
2. texts of one advertiser are linked when their shingle Jaccard similarity reaches
   :data:`~pipeline.evidence.practices.similarity.THRESHOLD`; linked texts form a message;
3. a message's ads are split where their delivery windows stop overlapping (sweep over start
   times): ads of one message run months apart are re-uses, not a test;
4. a group of two or more ads is a cluster; its id is its smallest ``ads.id``.

The table is rebuilt in one transaction, so readers see the old clusters or the new ones.
Batches of advertisers are independent, so when a refresh has more than one, worker processes
cluster them while this process reads the next ones and writes the results (a million ads
keep both cores busy); a small refresh runs in-process and starts no worker.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, text

from pipeline.evidence.practices.similarity import link_similar, normalise
from pipeline.sqlutil import BulkInsert
from schema.models import table_of
from schema.practice_tables import MessageTestVariant
from schema.views import render

#: Bump when the method or threshold changes (stored in every row; see docs/practices.md).
METHOD_VERSION = 1
_BATCH = 5_000
#: Ads per clustering batch. Memory per batch is dominated by the shingle sets kept for exact
#: comparisons (about 7 KB per 100-character text): 20,000 ads stay near 150 MB.
_BATCH_ADS = 20_000
#: Most worker processes a refresh starts (each holds one batch, see above).
_MAX_WORKERS = 4
_COLUMNS = ("ad_id", "cluster_id", "advertiser_id", "similarity", "refreshed_at", "method_version")

_ADS_WITH_TEXT = """
SELECT a.id, a.advertiser_id,
       @sortable_time(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at))
           AS window_start,
       @sortable_time(COALESCE(a.delivery_stop, a.last_seen_at)) AS window_stop,
       c.body
FROM ads a
JOIN ad_creatives c ON c.ad_id = a.id
WHERE a.advertiser_id IS NOT NULL AND c.body IS NOT NULL AND c.body <> ''
ORDER BY a.advertiser_id, a.id, c.position
"""


class AdText(NamedTuple):
    """One ad of an advertiser: its text (creative bodies in order) and delivery window.

    The window's ends are UTC text that sorts chronologically on both engines: a batch of
    them travels to a worker process, and text pickles far faster than aware datetimes (a
    tuple far faster than a dataclass).
    """

    ad_id: int
    start: str | None
    stop: str | None
    text: str


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a refresh wrote, and how long it took."""

    ads_compared: int
    clusters: int
    variants: int
    seconds: float


def refresh_message_tests(engine: Engine) -> RefreshResult:
    """Recompute ``message_test_variants`` from the ads and their creatives."""
    started = time.perf_counter()
    table = table_of(MessageTestVariant)
    compared = clusters = variants = 0
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(table.delete())
        insert = BulkInsert(conn, table, _COLUMNS)
        for size, found in _clustered(_batches(_advertisers(_read(conn)))):
            compared += size
            rows: list[tuple[Any, ...]] = []
            for advertiser_id, members in found:
                clusters += 1
                cluster_id = min(ad_id for ad_id, _ in members)
                rows.extend(
                    (ad_id, cluster_id, advertiser_id, score, now, METHOD_VERSION)
                    for ad_id, score in members
                )
            insert.write(rows)
            variants += len(rows)
    return RefreshResult(compared, clusters, variants, time.perf_counter() - started)


Clusters = list[tuple[int, list[tuple[int, float]]]]


def _cluster(batch: list[tuple[int, list[AdText]]]) -> tuple[int, Clusters]:
    """A batch's ad count and message tests (run in a worker process: module-level)."""
    return sum(len(ads) for _, ads in batch), list(cluster_batch(batch))


def _cores() -> int:
    """Cores this process may run on (Linux honours CPU affinity; macOS has no such call)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _clustered(
    batches: Iterator[list[tuple[int, list[AdText]]]],
) -> Iterator[tuple[int, Clusters]]:
    """:func:`_cluster` of each batch, in order; in worker processes when there are several.

    At most one batch per worker waits beside the running ones, so memory stays bounded
    whatever the number of ads. Workers are spawned, not forked: they inherit no database
    connection. A worker that dies fails the refresh (``BrokenProcessPool``), and workers exit
    with this process (their task queue closes).
    """
    head = list(itertools.islice(batches, 2))
    workers = min(_MAX_WORKERS, _cores())
    if len(head) < 2 or workers < 2:
        yield from map(_cluster, itertools.chain(head, batches))
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future[tuple[int, Clusters]]] = deque()
    try:
        for batch in itertools.chain(head, batches):
            pending.append(pool.submit(_cluster, batch))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _read(conn: Connection) -> Iterator[tuple[int, int, Any, Any, str]]:
    """Rows of ``_ADS_WITH_TEXT``, streamed (a server-side cursor on PostgreSQL).

    The writing transaction reads them too: it only changes ``message_test_variants``, so
    the ads it reads are a consistent snapshot on both engines.
    """
    result = conn.execute(
        text(render(_ADS_WITH_TEXT, conn.dialect.name)),
        execution_options={"stream_results": True, "yield_per": _BATCH},
    )
    yield from result


def _advertisers(
    rows: Iterable[tuple[int, int, Any, Any, str]],
) -> Iterator[tuple[int, list[AdText]]]:
    """Per advertiser, its ads with their creative bodies joined in position order."""
    for advertiser_id, adv_rows in itertools.groupby(rows, key=lambda r: r[1]):
        ads: list[AdText] = []
        for ad_id, ad_rows in itertools.groupby(adv_rows, key=lambda r: r[0]):
            first, *rest = ad_rows
            body = "\n".join([first[4], *(r[4] for r in rest)])
            ads.append(AdText(ad_id, first[2], first[3], body))
        yield advertiser_id, ads


def _batches(
    advertisers: Iterable[tuple[int, list[AdText]]],
) -> Iterator[list[tuple[int, list[AdText]]]]:
    """Advertisers grouped until a batch holds :data:`_BATCH_ADS` ads (numpy works per batch)."""
    batch: list[tuple[int, list[AdText]]] = []
    size = 0
    for advertiser in advertisers:
        batch.append(advertiser)
        size += len(advertiser[1])
        if size >= _BATCH_ADS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def cluster_batch(
    batch: list[tuple[int, list[AdText]]],
) -> Iterator[tuple[int, list[tuple[int, float]]]]:
    """The message tests of a batch of advertisers: ``(advertiser_id, [(ad_id, similarity)])``."""
    texts: list[str] = []
    groups: list[int] = []
    ads_of_text: list[list[AdText]] = []
    for group, (_, ads) in enumerate(batch):
        by_text: dict[str, list[AdText]] = {}
        for ad in ads:
            key = normalise(ad.text)
            if key:
                by_text.setdefault(key, []).append(ad)
        texts.extend(by_text)
        groups.extend([group] * len(by_text))
        ads_of_text.extend(by_text.values())
    roots, scores = link_similar(texts, groups)
    messages: dict[int, list[tuple[AdText, float]]] = {}
    for index, ads in enumerate(ads_of_text):
        score = 1.0 if len(ads) > 1 else scores[index]
        messages.setdefault(roots[index], []).extend((ad, score) for ad in ads)
    for root, members in messages.items():
        advertiser_id = batch[groups[root]][0]
        for run in _overlapping(members):
            yield advertiser_id, run


def _overlapping(members: list[tuple[AdText, float]]) -> Iterator[list[tuple[int, float]]]:
    """Split one message's ads into runs whose delivery windows chain-overlap (2+ ads each)."""
    ordered = sorted(
        (m for m in members if m[0].start is not None), key=lambda m: (m[0].start, m[0].ad_id)
    )
    run: list[tuple[int, float]] = []
    reach: Any = None
    for ad, score in ordered:
        if run and ad.start > reach:
            if len(run) > 1:
                yield run
            run = []
        if not run:
            reach = ad.stop if ad.stop is not None else ad.start
        else:
            reach = max(reach, ad.stop) if ad.stop is not None else reach
        run.append((ad.ad_id, score))
    if len(run) > 1:
        yield run
