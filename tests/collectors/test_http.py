"""The shared HTTP layer: Retry-After parsing, the retry policy, the client, log redaction."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from collectors.base import (
    CollectorContext,
    FatalError,
    SourceSettings,
    ThrottledError,
    TransientError,
)
from collectors.http import (
    USER_AGENT,
    Retrier,
    RetryPolicy,
    WaitTooLong,
    describe_url,
    make_client,
    parse_retry_after,
    status_error,
)
from collectors.redact import Redactor
from collectors.replicas.server import ReplicaResponse, ReplicaServer

from .conftest import RecordingSleep

SECRET = "EAAsecretTOKEN42"
LOG = logging.getLogger("adlib.test.http")


class Flaky:
    """A request function that raises the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def retrier(sleeps: RecordingSleep, max_retries: int = 3, max_wait: float = 900) -> Retrier:
    policy = RetryPolicy(max_retries=max_retries, max_wait_seconds=max_wait)
    return Retrier(policy, LOG, sleeps, Redactor([SECRET]))


# -- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), (None, None), ("", None)],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert header.endswith("GMT")
    assert parse_retry_after(header, now=now) == 90.0


def test_retry_after_date_in_the_past_means_now() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


def test_retry_after_garbage_is_ignored() -> None:
    assert parse_retry_after("soon") is None


# -- Retrier ---------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_exponential_jitter(sleeps: RecordingSleep) -> None:
    fn = Flaky(TransientError("boom"), TransientError("boom"))
    assert retrier(sleeps).call(fn, "example.org/x") == "ok"
    assert fn.calls == 3
    first, second = sleeps.calls
    assert 1 <= first <= 2  # 1 s base + up to 1 s jitter
    assert 2 <= second <= 3


def test_throttled_waits_exactly_what_the_platform_asked(sleeps: RecordingSleep) -> None:
    fn = Flaky(ThrottledError("slow down", wait_seconds=7), ThrottledError("again", 0))
    assert retrier(sleeps).call(fn, "example.org/x") == "ok"
    assert sleeps.calls == [7, 0]


def test_throttled_without_a_duration_backs_off(sleeps: RecordingSleep) -> None:
    retrier(sleeps).call(Flaky(ThrottledError("slow down")), "example.org/x")
    assert 1 <= sleeps.calls[0] <= 2


def test_backoff_is_clamped_to_max_wait(sleeps: RecordingSleep) -> None:
    fn = Flaky(*(TransientError("boom") for _ in range(6)))
    retrier(sleeps, max_retries=6, max_wait=5).call(fn, "example.org/x")
    assert max(sleeps.calls) == 5
    assert sleeps.calls[-1] == 5


def test_wait_longer_than_max_gives_up_with_a_clear_message(sleeps: RecordingSleep) -> None:
    fn = Flaky(ThrottledError("Meta error 4", wait_seconds=3600))
    with pytest.raises(WaitTooLong) as caught:
        retrier(sleeps, max_wait=900).call(fn, "example.org/x")
    assert fn.calls == 1
    assert sleeps.calls == []
    assert "throttled for 3600 s" in str(caught.value)
    assert "retry later" in str(caught.value)
    assert isinstance(caught.value, ThrottledError)
    assert caught.value.wait_seconds == 3600


def test_gives_up_after_max_retries_with_the_last_error(sleeps: RecordingSleep) -> None:
    fn = Flaky(*(TransientError(f"boom {i}") for i in range(10)))
    with pytest.raises(TransientError, match="boom 2"):
        retrier(sleeps, max_retries=2).call(fn, "example.org/x")
    assert fn.calls == 3
    assert len(sleeps.calls) == 2


def test_fatal_errors_are_not_retried(sleeps: RecordingSleep) -> None:
    fn = Flaky(FatalError("bad token"))
    with pytest.raises(FatalError):
        retrier(sleeps).call(fn, "example.org/x")
    assert fn.calls == 1
    assert sleeps.calls == []


def test_retries_are_logged_at_info_without_secrets(
    sleeps: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry that succeeds must not reach cron's warnings-only console."""
    fn = Flaky(TransientError(f"HTTP 500 for /x?access_token={SECRET}&a=1"))
    with caplog.at_level(logging.INFO, logger=LOG.name):
        retrier(sleeps).call(fn, "example.org/x")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert "attempt 1 of 4" in record.getMessage()
    assert SECRET not in record.getMessage()


def test_context_sleep_is_used(context: CollectorContext, sleeps: RecordingSleep) -> None:
    settings = SourceSettings(max_retries=1)
    Retrier.for_collector(settings, context).call(Flaky(ThrottledError("x", 3)), "example.org")
    assert sleeps.calls == [3]


# -- transport errors over real sockets --------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_errors_become_transient_without_the_query_string(
    sleeps: RecordingSleep,
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1/x?access_token={SECRET}"
    client = make_client(SourceSettings(timeout_seconds=2))
    with client, pytest.raises(TransientError) as caught:
        retrier(sleeps, max_retries=1).call(lambda: client.get(url), describe_url(url))
    message = str(caught.value)
    assert "ConnectError" in message
    assert SECRET not in message and "?" not in message
    assert caught.value.__cause__ is None  # the httpx error (holding the URL) is not chained
    assert len(sleeps.calls) == 1


def test_timeouts_become_transient(sleeps: RecordingSleep) -> None:
    slow = ReplicaServer(lambda request: ReplicaResponse(body=b"{}", delay=1.0))
    with slow, make_client(SourceSettings(timeout_seconds=0.2)) as client:
        url = f"{slow.url}/x?access_token={SECRET}"
        with pytest.raises(TransientError, match="ReadTimeout") as caught:
            retrier(sleeps, max_retries=0).call(lambda: client.get(url), describe_url(url))
    assert SECRET not in str(caught.value)


# -- client ----------------------------------------------------------------


def test_client_sends_the_user_agent_and_redacts_httpx_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ReplicaServer(lambda request: ReplicaResponse(body=b"{}")) as server:
        with make_client(SourceSettings()) as client, caplog.at_level(logging.DEBUG):
            client.get(f"{server.url}/x", params={"access_token": SECRET})
        (request,) = server.requests
    assert request.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("adlib/") and USER_AGENT.endswith("(+research)")
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_describe_url_drops_the_query() -> None:
    assert describe_url(f"https://graph.example/v1/x?access_token={SECRET}") == "graph.example/v1/x"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (304, None),
        (404, FatalError),
        (400, FatalError),
        (408, TransientError),
        (500, TransientError),
        (503, TransientError),
        (429, ThrottledError),
    ],
)
def test_one_mapping_from_http_status_to_adlib_errors(
    status: int, kind: type[Exception] | None
) -> None:
    error = status_error(status, "example.org/x", retry_after=7.0)
    if kind is None:
        assert error is None
        return
    assert type(error) is kind and f"HTTP {status}" in str(error)
    if kind is ThrottledError:
        assert isinstance(error, ThrottledError) and error.wait_seconds == 7.0
