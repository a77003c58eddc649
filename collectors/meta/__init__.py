"""Meta (Facebook/Instagram) Ad Library API: ``GET /<version>/ads_archive``, one scope per country.

Facts and citations: ``docs/platforms/meta.md`` (the user-facing page) and the research notes it
cites. What this module does about them, and why:

Paging (notes §1.4). Only ``paging.cursors.after`` is used, always against the configured
``base_url``; ``paging.next`` is never followed because it carries the access token and could
point anywhere. A pass ends on an empty ``data`` or a missing ``after``. A cursor seen twice in
one pass (the server "would serve the same URL in the ``next`` field over and over", WMP) stops
the loop: the page's ads are kept, the pass stays open at the last good cursor and the scope
fails, so the next run resumes there instead of advancing the watermark past unread ads.

Incremental passes. A scope's checkpoint holds a date ``watermark`` and, while a pass is under
way, the pass itself (its ``since``, the ``after`` cursor, the page size, the day it started). A
new pass asks for ``ad_delivery_date_min = watermark - overlap_days`` (``--since`` and
``backfill_since`` override / seed it), because spend and impressions of recently delivered
ads keep changing. Completing a pass moves the watermark to the day it started. Each fetch runs
at most one pass: a run that resumes an interrupted pass finishes it, and the next run starts
fresh from the advanced watermark (the overlap covers the gap).

Errors (notes §1.5-1.6). Codes 1, 2, ``is_transient``, HTML pages, 5xx, resets, timeouts and
broken JSON are transient; 4, 17, 613, 80004 and HTTP 429 are throttling, waited out for as long
as Meta says (``estimated_time_to_regain_access`` minutes, else Retry-After, else
``throttle_wait_seconds``); 190, 10/2332002 and 100 are fatal with a message saying what to do.
"Please reduce the amount of data" halves the page size and retries the same cursor (LEJO, MOZ);
the size grows back by 1.25x after a run of successes.

Usage (notes §1.5). Every response's ``x-business-use-case-usage`` header is read; above 75 %
we pause before the next request with WMP's ladder (5/10/30/90 s at 75/80/90/95 %), and a
non-zero ``estimated_time_to_regain_access`` pauses for that long, so the limit is rarely hit.

Secrets. The token sits in the request URL, in ``paging.next`` and in every ``ad_snapshot_url``;
archived URLs and bodies, quarantined records, log lines and error messages all pass through
the :class:`~collectors.redact.Redactor`. ``ad_url`` is the public no-token library link.

One job per module: ``settings`` (config keys and API bounds), ``normalise`` (records),
``responses`` (answers, errors, usage), ``state`` (checkpoints, page size), ``collector`` (the
passes) and ``token`` (expiry check).
"""

from collectors.meta.collector import MetaCollector
from collectors.meta.normalise import normalise, strip_token
from collectors.meta.settings import FIELDS, SOURCE, MetaSettings
from collectors.meta.token import token_expiry

__all__ = [
    "FIELDS",
    "SOURCE",
    "MetaCollector",
    "MetaSettings",
    "normalise",
    "strip_token",
    "token_expiry",
]
