"""Reading Graph API answers: usage headers, error codes, throttling and what each means for a run."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from collectors.base import (
    CollectorError,
    FatalError,
    ThrottledError,
    TokenRejected,
    TransientError,
)
from collectors.http import parse_retry_after, status_error
from collectors.meta.settings import THROTTLE_CODES, TOKEN_HELP, USAGE_LIMIT, USAGE_PAUSES
from collectors.records import (
    JsonDict,
)
from collectors.redact import Redactor


@dataclass(frozen=True, slots=True)
class Usage:
    """Meta's ``x-business-use-case-usage``: the highest percentage and the wait it imposes."""

    percent: float
    regain_minutes: float

    def pause_seconds(self) -> float:
        """How long to pause before the next request so as not to hit the limit."""
        if self.regain_minutes > 0:
            return self.regain_minutes * 60
        return next((pause for level, pause in USAGE_PAUSES if self.percent >= level), 0.0)


def parse_usage(header: str | None) -> Usage | None:
    """Read the header's JSON ``{"<buc id>": [{"call_count": 3, "total_time": 37, ...}]}``.

    ``object_count_pct`` is the 2019 name of ``call_count`` (WMP). A malformed header is
    ignored rather than failing a page that otherwise arrived fine.
    """
    if not header:
        return None
    try:
        parsed = json.loads(header)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    percent = regain = 0.0
    for entries in parsed.values():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            for key in ("call_count", "object_count_pct", "total_cputime", "total_time"):
                percent = max(percent, _number_or_zero(entry.get(key)))
            regain = max(regain, _number_or_zero(entry.get("estimated_time_to_regain_access")))
    return Usage(percent, regain)


def _number_or_zero(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class ReduceData(TransientError):
    """Meta's code 1 "Please reduce the amount of data you're asking for": ask for fewer ads."""


class CursorRejected(FatalError):
    """Meta refused the ``after`` cursor (code 100 on a request that carried one)."""


class FieldRemoved(FatalError):
    """Meta's code 100 "Tried accessing nonexisting field (NAME)": this version lacks a field.

    Fatal as it stands (the same request fails again), but the collector can drop ``field``
    from its request and go on, instead of failing every night after a version removed it.
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


#: Graph's wording, e.g. "(#100) Tried accessing nonexisting field (br_total_reach) on node
#: type (ArchivedAd)" (the same text for any node type).
_NONEXISTING_FIELD = re.compile(r"nonexisting field \(([A-Za-z0-9_]+)\)")


class GraphResponses:
    """Turns a Graph API response into its JSON body or the matching collector error.

    Every message that quotes Meta goes through the redactor: a code-190 message can quote
    the malformed token itself.
    """

    def __init__(self, redactor: Redactor, throttle_wait_seconds: float) -> None:
        self.redactor = redactor
        self.throttle_wait_seconds = throttle_wait_seconds

    def body(self, response: httpx.Response, what: str) -> JsonDict:
        status = response.status_code
        parsed = self._json(response)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            raise self._graph_error(response, parsed["error"], what)
        if parsed is None:
            if _is_html(response):
                raise TransientError(f"HTTP {status} HTML error page from {what}")
            if status < 400:
                raise TransientError(f"truncated or invalid JSON from {what} (HTTP {status})")
        wait = self._throttle_wait(response) if status == 429 else None
        if (error := status_error(status, what, wait)) is not None:
            raise error
        if not isinstance(parsed, dict):
            raise FatalError(f"unexpected HTTP {status} response from {what}: not a JSON object")
        return parsed

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            return None

    def _throttle_wait(self, response: httpx.Response) -> float:
        usage = parse_usage(response.headers.get("x-business-use-case-usage"))
        if usage is not None and usage.regain_minutes > 0:
            return usage.regain_minutes * 60
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return self.throttle_wait_seconds if retry_after is None else retry_after

    def _graph_error(
        self, response: httpx.Response, error: Mapping[str, Any], what: str
    ) -> CollectorError:
        code = error.get("code")
        subcode = error.get("error_subcode")
        message = self.redactor.text(str(error.get("message") or "no message"))
        status = response.status_code
        codes = f"{code}/{subcode}" if subcode else f"{code}"
        label = f"Meta error {codes} (HTTP {status}) from {what}"
        if code == 190:
            return TokenRejected(
                f"Meta rejected the access token (code 190): create a new long-lived token "
                f"({TOKEN_HELP}) and set META_ACCESS_TOKEN. Meta said: {message}"
            )
        if code == 10 or subcode == 2332002:
            return TokenRejected(
                f"Meta refused access to the Ad Library API (code {codes}): confirm "
                f"your identity at facebook.com/ID, accept the terms at "
                f"facebook.com/ads/library/api with the account that owns the token, then "
                f"create a new token ({TOKEN_HELP}). Meta said: {message}"
            )
        if code in THROTTLE_CODES or status == 429 or _usage_exhausted(response):
            return ThrottledError(f"{label}: {message}", self._throttle_wait(response))
        if code == 1 and "reduce the amount of data" in message.lower():
            return ReduceData(f"{label}: {message}")
        if code in (1, 2) or error.get("is_transient") is True or status >= 500:
            return TransientError(f"{label}: {message}")
        removed = _NONEXISTING_FIELD.search(message) if code == 100 else None
        if removed is not None:
            return FieldRemoved(f"{label}: {message}", removed.group(1))
        if code == 100 and "after" in response.request.url.params:
            return CursorRejected(f"{label}: cursor rejected: {message}")
        if code == 100:
            return FatalError(
                f"{label}: Meta rejected a request parameter ({message}); check sources.meta "
                f"(api_version, ad_type, search_terms, extra_fields)"
            )
        return FatalError(f"{label}: {message}")


def _usage_exhausted(response: httpx.Response) -> bool:
    """An error that arrives with usage at the limit is throttling, whatever its code."""
    usage = parse_usage(response.headers.get("x-business-use-case-usage"))
    return usage is not None and (usage.percent >= USAGE_LIMIT or usage.regain_minutes > 0)


def _is_html(response: httpx.Response) -> bool:
    """Meta's "Sorry, something went wrong" page arrives as HTML, sometimes with HTTP 400."""
    content_type = response.headers.get("content-type", "")
    return "html" in content_type or response.content.lstrip().startswith(b"<")
