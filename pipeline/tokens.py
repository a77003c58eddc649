"""Access-token care: warn before a token expires, and call a rejected token by its name.

A platform token can lapse (Meta's user tokens live about 60 days), and then every nightly run
fails until a person makes a new one. `adlib status` and the run log therefore ask each
collector that ``checks_credential`` (:meth:`collectors.base.Collector.credential_expiry`)
and warn :data:`WARN_DAYS` days ahead. The check
is advisory: when Meta cannot be reached the answer is ``unknown``, never an error, so a
monitoring probe does not fail because of a network blip.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from collectors import collector_class
from collectors.base import CollectorContext, CollectorError, FatalError, TokenRejected
from pipeline.config import Config
from pipeline.runner import RunReport

WARN_DAYS = 7
#: A status probe must answer quickly even when Meta does not.
CHECK_TIMEOUT_SECONDS = 10.0

TokenState = Literal["ok", "expiring", "no_expiry", "rejected", "unknown"]


@dataclass(frozen=True, slots=True)
class TokenHealth:
    """What is known about one source's configured token."""

    source: str
    state: TokenState
    expires_at: datetime | None
    detail: str

    @property
    def problem(self) -> bool:
        """A rejected token fails every run: `status --check` reports it."""
        return self.state == "rejected"

    @property
    def warning(self) -> bool:
        return self.state in ("expiring", "unknown")

    def line(self) -> str:
        return f"{self.source} token: {self.detail}"

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "state": self.state,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "detail": self.detail,
        }


def check_tokens(config: Config, sources: list[str], now: datetime) -> list[TokenHealth]:
    """The health of the token of every source in ``sources`` that uses one."""
    return [health for name in sources if (health := _check(config, name, now)) is not None]


def _check(config: Config, name: str, now: datetime) -> TokenHealth | None:
    if name not in config.sources or name in config.unavailable:
        return None
    cls = collector_class(name)
    if not cls.checks_credential:
        return None
    quick = config.sources[name].model_copy(update={"timeout_seconds": CHECK_TIMEOUT_SECONDS})
    context = CollectorContext(
        countries=config.countries, data_dir=config.data_dir, log=logging.getLogger("adlib")
    )
    collector = cls(quick, context)
    if collector.skip_reason():
        return None  # nothing configured to check; `collect` reports the skip
    try:
        expires_at = collector.credential_expiry()
    except TokenRejected as exc:
        return TokenHealth(name, "rejected", None, f"REJECTED: {exc}")
    except FatalError as exc:
        return TokenHealth(name, "unknown", None, f"expiry unknown: {exc}")
    except (CollectorError, OSError) as exc:
        return TokenHealth(name, "unknown", None, f"expiry unknown (token check failed: {exc})")
    finally:
        collector.close()
    return _expiry_health(name, expires_at, now)


def _expiry_health(name: str, expires_at: datetime | None, now: datetime) -> TokenHealth:
    if expires_at is None:
        return TokenHealth(name, "no_expiry", None, "valid, does not expire")
    left = expires_at - now
    when = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if left <= timedelta(days=WARN_DAYS):
        days = max(left.total_seconds(), 0) / 86400
        return TokenHealth(
            name,
            "expiring",
            expires_at,
            f"expires {when} (in {days:.1f} days): create a new long-lived token now "
            "(docs/platforms/meta.md, 'Getting a token')",
        )
    return TokenHealth(name, "ok", expires_at, f"valid until {when} ({left.days} days)")


def log_tokens(health: list[TokenHealth], log: logging.Logger) -> None:
    """Put token health in the run log: a warning when it needs a person, else one info line."""
    for item in health:
        level = logging.ERROR if item.problem else logging.WARNING if item.warning else logging.INFO
        # The source goes in ``extra``: text lines then read "meta token: ...".
        log.log(
            level, "token: %s", item.detail, extra={"source": item.source, "event": "token_check"}
        )


def log_tokens_after_run(config: Config, report: RunReport, log: logging.Logger) -> None:
    """The run log's token line, for each source that just succeeded somewhere.

    Sources whose every scope failed are left out: their failure already says why (a rejected
    token is reported by the collector as such), and asking Meta again would only add noise.
    """
    if report.interrupted:
        return
    succeeded = sorted({o.source for o in report.outcomes if o.status == "success"})
    log_tokens(check_tokens(config, succeeded, datetime.now(UTC)), log)
