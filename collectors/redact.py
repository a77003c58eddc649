"""Keep secrets out of everything adlib writes.

Meta embeds the caller's access token in ``paging.next`` and ``ad_snapshot_url``; error
messages and exception reprs can carry request URLs. Two layers: ``redact_url`` removes token
query parameters wherever a URL is stored, and ``Redactor`` replaces every known secret string
wherever text leaves the process (archive, logs, error messages).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "REDACTED"

_TOKEN_PARAM = re.compile(
    r"(?i)((?:access_token|input_token|client_secret|fb_exchange_token|appsecret_proof)=)[^&#\s\"'\\]*"
)


_PARAM_NAMES_BYTES = (
    b"access_token=",
    b"input_token=",
    b"client_secret=",
    b"fb_exchange_token=",
    b"appsecret_proof=",
)
_VALUE_END = re.compile(rb"[&#\s\"'\\]|$")


def _unredacted_values(value: bytes) -> list[tuple[int, int]]:
    """Spans of token parameter values in ``value`` that are not ``REDACTED`` yet."""
    lowered = value.lower()
    spans = []
    for name in _PARAM_NAMES_BYTES:
        found = lowered.find(name)
        while found != -1:
            start = found + len(name)
            end_match = _VALUE_END.search(value, start)
            end = end_match.start() if end_match else len(value)
            if value[start:end] != REDACTED.encode():
                spans.append((start, end))
            found = lowered.find(name, end)
    return sorted(spans)


def redact_url(text: str) -> str:
    """Replace the value of every token-carrying query parameter in ``text``."""
    return _TOKEN_PARAM.sub(r"\1" + REDACTED, text)


class Redactor:
    """Replaces known secret strings (and token query parameters) in text and bytes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secrets; strings shorter than 6 characters are ignored as unsafe."""
        for secret in secrets:
            if secret and len(secret) >= 6 and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def text(self, value: str) -> str:
        """Return ``value`` with every secret and token parameter replaced."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return redact_url(value)

    def bytes(self, value: bytes) -> bytes:
        """Byte-level variant for raw payloads (secrets are ASCII in practice).

        Pages are megabytes with one already-redacted token URL per ad, so parameters are
        found with plain substring search on a lower-cased copy and only values that are not
        ``REDACTED`` yet are patched (a case-insensitive regex over the page was the cost).
        """
        for secret in self._secrets:
            raw = secret.encode()
            if raw in value:
                value = value.replace(raw, REDACTED.encode())
        spans = _unredacted_values(value)
        if not spans:
            return value
        pieces, position = [], 0
        for start, end in spans:
            pieces += [value[position:start], REDACTED.encode()]
            position = end
        pieces.append(value[position:])
        return b"".join(pieces)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self.redactor.text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor.text(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True
