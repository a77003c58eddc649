"""Asking Graph's ``debug_token`` when the configured token expires (for `adlib status`)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from collectors.base import (
    FatalError,
    TokenRejected,
    TransientError,
)
from collectors.http import describe_url, make_client
from collectors.meta.responses import GraphResponses
from collectors.meta.settings import TOKEN_HELP, MetaSettings
from collectors.redact import Redactor


def token_expiry(settings: MetaSettings, client: httpx.Client | None = None) -> datetime | None:
    """When the configured token expires, from Graph's ``debug_token`` (opop999's daily check).

    Returns ``None`` for a token that never expires (``expires_at`` 0). Raises
    :class:`~collectors.base.TokenRejected` when Meta says the token is invalid (or refuses
    it, codes 190 and 10), :class:`~collectors.base.FatalError` when there is no token or the
    answer cannot be read,
    :class:`~collectors.base.TransientError` when Meta cannot be reached. One attempt only:
    this is a status check, not a collection.
    """
    token = settings.access_token
    if not token:
        raise FatalError("no access token: set META_ACCESS_TOKEN (see README, 'Collect for real')")
    url = f"{settings.base_url}/{settings.api_version}/debug_token"
    what = describe_url(url)
    redactor = Redactor([token])
    own_client = client is None
    http = client or make_client(settings)
    try:
        response = http.get(url, params={"input_token": token, "access_token": token})
    except httpx.TransportError as exc:
        raise TransientError(f"{type(exc).__name__} on {what}: {redactor.text(str(exc))}") from None
    finally:
        if own_client:
            http.close()
    data = GraphResponses(redactor, settings.throttle_wait_seconds).body(response, what).get("data")
    if not isinstance(data, dict):
        raise TransientError(f"response from {what} has no data object")
    if not data.get("is_valid"):
        raise TokenRejected(
            f"Meta says the access token is not valid: create a new long-lived token ({TOKEN_HELP})"
        )
    expires_at = data.get("expires_at")
    if not isinstance(expires_at, int) or expires_at <= 0:
        return None
    return datetime.fromtimestamp(expires_at, UTC)
