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
        """Byte-level variant for raw payloads (secrets are ASCII in practice)."""
        for secret in self._secrets:
            raw = secret.encode()
            if raw in value:
                value = value.replace(raw, REDACTED.encode())
        if b"token=" in value or b"secret=" in value or b"proof=" in value:
            value = redact_url(value.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape"
            )
        return value


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
