"""The HTTP layer every API collector shares: one client factory and one retry policy.

Why one place: politeness (back-off, honouring the platform's requested waits) and secrecy
(no token in a log line or an error message) are easy to get subtly wrong per platform. A
collector turns a response into either data or one of the errors of :mod:`collectors.base`;
:class:`Retrier` decides what happens next:

- :class:`~collectors.base.TransientError` (and httpx transport errors and timeouts, which are
  converted into it) is retried with exponential back-off plus jitter;
- :class:`~collectors.base.ThrottledError` with ``wait_seconds`` waits exactly that long, because
  the platform told us how long (Retry-After, Meta's ``estimated_time_to_regain_access``);
  a wait longer than ``max_wait_seconds`` is not sat out: :class:`WaitTooLong` ends the scope
  with "throttled for N s; retry later", so one platform cannot stall a whole run;
- anything else (:class:`~collectors.base.FatalError`) propagates at once.

The sleep function is injected (``CollectorContext.sleep``) so the pipeline can make waits
interruptible and tests can make them instant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from collectors.base import (
    CollectorContext,
    CollectorError,
    FatalError,
    SourceSettings,
    ThrottledError,
    TransientError,
)
from collectors.redact import RedactingFilter, Redactor

T = TypeVar("T")
Sleep = Callable[[float], None]

DISTRIBUTION = "adlib-collector"


def _package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


USER_AGENT = f"adlib/{_package_version()} (+research)"


def make_client(settings: SourceSettings, headers: dict[str, str] | None = None) -> httpx.Client:
    """An ``httpx.Client`` with adlib's User-Agent, the source's timeout and modest pooling.

    Paging is strictly sequential on every platform we collect, so a handful of connections is
    plenty; a short connect timeout makes a dead host fail fast while slow pages keep the full
    ``timeout_seconds``. Redirects are not followed: a redirect to another host would carry the
    query string (and with it a token) somewhere we did not choose.
    """
    _redact_httpx_logs()
    timeout = httpx.Timeout(settings.timeout_seconds, connect=min(settings.timeout_seconds, 10.0))
    return httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=False,
    )


def _redact_httpx_logs() -> None:
    """httpx logs every request URL at INFO; Meta's URLs carry the token in the query string."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in httpx_logger.filters):
        httpx_logger.addFilter(RedactingFilter(Redactor()))


def describe_url(url: str | httpx.URL) -> str:
    """``host/path`` of a URL: enough to say where a failure happened, never the query string."""
    parts = urlsplit(str(url))
    return f"{parts.netloc}{parts.path}"


def status_error(
    status: int, where: str, retry_after: float | None = None
) -> CollectorError | None:
    """adlib's error for an HTTP status, the same for every API and download path.

    ``None`` below 400. 429 is throttling (wait ``retry_after`` if the platform said how
    long); 408 and 5xx are transient (another attempt may work); any other 4xx is fatal,
    because no retry changes a missing file or a refused parameter. Platform error bodies
    (Meta's error codes) are read before this, by the platform's own module.
    """
    if status < 400:
        return None
    if status == 429:
        return ThrottledError(f"HTTP 429 Too Many Requests from {where}", retry_after)
    if status >= 500 or status == 408:
        return TransientError(f"HTTP {status} from {where}")
    return FatalError(f"HTTP {status} for {where}: no retry can fix this (check the URL)")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110).

    Returns ``None`` when the header is absent or unreadable, and never a negative number (a
    date in the past means "now").
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class WaitTooLong(ThrottledError):
    """The platform asked for a wait longer than ``max_wait_seconds``: stop the scope for now."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry; built from a source's settings.

    Waits are tenacity's exponential series with its default 1 s base (1, 2, 4, ... plus up
    to ``jitter`` seconds), scaled by ``backoff_seconds``: tenacity 9.2 deprecates ``initial``
    and versions before it lack ``multiplier``, so the scaling is ours.
    """

    max_retries: int
    max_wait_seconds: float
    jitter: float = 1.0
    backoff_seconds: float = 1.0

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> RetryPolicy:
        return cls(
            max_retries=settings.max_retries,
            max_wait_seconds=settings.max_wait_seconds,
            backoff_seconds=settings.retry_backoff_seconds,
        )

    def check_wait(self, seconds: float, what: str) -> float:
        """Return ``seconds`` if we are willing to wait that long, else raise :class:`WaitTooLong`."""
        if seconds > self.max_wait_seconds:
            raise WaitTooLong(
                f"{what}: throttled for {seconds:.0f} s (more than max_wait_seconds="
                f"{self.max_wait_seconds:.0f}); retry later",
                wait_seconds=seconds,
            )
        return max(0.0, seconds)


class _PlatformWait(wait_base):
    """Wait what a ThrottledError asks for; otherwise exponential back-off with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_exponential_jitter(max=policy.max_wait_seconds, jitter=policy.jitter)
        self._scale = policy.backoff_seconds
        self._ceiling = policy.max_wait_seconds

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, ThrottledError) and error.wait_seconds is not None:
            return max(0.0, error.wait_seconds)
        return min(self._ceiling, self._backoff(retry_state) * self._scale)


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, TransientError) and not isinstance(error, WaitTooLong)


class Retrier:
    """Runs one request function with the source's retry policy.

    ``call(fn, what)`` calls ``fn`` until it returns, raises a non-retryable error, or the
    attempts (``max_retries + 1``) are used up; the last error is then re-raised unchanged so
    the scope fails with the platform's own explanation. ``what`` names the request in logs
    and errors ("graph.facebook.com/v23.0/ads_archive (US)") and must hold no secret.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        log: logging.Logger,
        sleep: Sleep | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.policy = policy
        self.log = log
        self.sleep: Sleep = sleep or time.sleep
        self.redactor = redactor or Redactor()

    @classmethod
    def for_collector(
        cls, settings: SourceSettings, context: CollectorContext, redactor: Redactor | None = None
    ) -> Retrier:
        """The retrier a collector uses: its settings' policy, the context's log and sleep."""
        return cls(RetryPolicy.from_settings(settings), context.log, context.sleep, redactor)

    def call(self, fn: Callable[[], T], what: str) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_retries + 1),
            wait=_PlatformWait(self.policy),
            retry=retry_if_exception(_is_retryable),
            sleep=self.sleep,
            before_sleep=lambda state: self._log_retry(state, what),
            reraise=True,
        )
        return retrying(self._attempt, fn, what)

    def _attempt(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except httpx.TransportError as exc:
            # ``from None``: httpx errors hold the request, whose URL may carry a token.
            detail = self.redactor.text(str(exc)) or "no detail"
            raise TransientError(f"{type(exc).__name__} on {what}: {detail}") from None
        except WaitTooLong:
            raise
        except ThrottledError as exc:
            if exc.wait_seconds is not None:
                self.policy.check_wait(exc.wait_seconds, f"{what}: {exc}")
            raise

    def _log_retry(self, state: RetryCallState, what: str) -> None:
        """INFO, not WARNING: a retry that then succeeds needs no person, and under cron the
        console carries warnings only. Running out of retries fails the scope, logged as an
        ERROR with this same last error."""
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        self.log.info(
            "%s failed (attempt %d of %d): %s; retrying in %.1f s",
            what,
            state.attempt_number,
            self.policy.max_retries + 1,
            self.redactor.text(str(error)),
            delay,
        )
