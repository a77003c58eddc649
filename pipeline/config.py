"""Load and validate ``config.yaml``.

Values may reference environment variables as ``${NAME}`` (or ``${NAME:-default}``), so tokens
stay out of the file. Every problem becomes a :class:`ConfigError` whose message is one line
naming the key and the fix. A variable that is not set inside ``sources.<name>`` does not stop
the run: that source is skipped with the reason (a fresh machine has no Meta token, and Google
and Snap need none); anywhere else it is an error.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url

from collectors import REGISTRY, collector_class
from collectors.base import SourceSettings

DEFAULT_CONFIG = "config.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A configuration problem; the message names the key and the fix (exit code 2)."""


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = "sqlite:///data/adlib.sqlite"


class LogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    file: str | None = None


class StatusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stale_after_hours: float = Field(default=48, gt=0)


class SchedulerSettings(BaseModel):
    """``scheduler`` in ``config.yaml``: how `adlib schedule` reads the sources' cron lines."""

    model_config = ConfigDict(extra="forbid")
    #: The zone the sources' ``schedule`` expressions are read in (an IANA name).
    timezone: str = "UTC"
    #: How late a run may still start (the machine was suspended, the clock jumped); later
    #: than this it is skipped with a warning and the next scheduled time is kept.
    misfire_grace_hours: float = Field(default=6, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
            ) from None
        return value


class ActorsSettings(BaseModel):
    """``actors`` in ``config.yaml``: the actors layer (docs/actors.md)."""

    model_config = ConfigDict(extra="forbid")
    #: The curated registry, relative to config.yaml; a missing file means no curation.
    registry: str = Field(default="actors.yaml", min_length=1)


class ImportSettings(BaseModel):
    """``import`` in ``config.yaml``: the inbox `adlib schedule` imports downloaded files from."""

    model_config = ConfigDict(extra="forbid")
    #: A folder; files dropped there are imported like `adlib import` (then moved aside).
    inbox: str | None = None
    #: How often the daemon looks into the inbox; a file must keep its size for one interval.
    poll_seconds: float = Field(default=60, gt=0)


class AppSettings(BaseModel):
    """The top level of ``config.yaml``; ``sources`` are validated per collector."""

    model_config = ConfigDict(extra="forbid")
    database: DatabaseSettings = DatabaseSettings()
    data_dir: str = "data"
    countries: list[str] = Field(default_factory=list)
    log: LogSettings = LogSettings()
    status: StatusSettings = StatusSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    actors: ActorsSettings = ActorsSettings()
    import_: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("countries")
    @classmethod
    def _iso_countries(cls, value: list[str]) -> list[str]:
        codes = []
        for code in value:
            upper = str(code).strip().upper()
            if not re.fullmatch(r"[A-Z]{2}", upper):
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 code (e.g. US, KE)")
            codes.append("GB" if upper == "UK" else upper)
        return codes


@dataclass
class Config:
    """A validated configuration, paths resolved against the config file's folder."""

    path: Path | None
    database_url: str
    data_dir: Path
    countries: list[str]
    log: LogSettings
    status: StatusSettings
    sources: dict[str, SourceSettings]
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    #: source name -> why it cannot run (an environment variable it needs is not set)
    unavailable: dict[str, str] = field(default_factory=dict)
    #: the curated actors registry (``actors.registry``, resolved against the config's folder)
    actors_registry: Path = Path("actors.yaml")
    #: ``import.inbox`` resolved against the config file's folder, and its poll interval.
    inbox: Path | None = None
    inbox_poll_seconds: float = 60

    def enabled_sources(self) -> list[str]:
        return [name for name, settings in self.sources.items() if settings.enabled]


def config_path(explicit: str | None) -> Path:
    """``--config``, else ``$ADLIB_CONFIG``, else ``./config.yaml``."""
    return Path(explicit or os.environ.get("ADLIB_CONFIG") or DEFAULT_CONFIG)


def load_config(path: Path) -> Config:
    """Read, interpolate and validate the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found: pass --config PATH, set ADLIB_CONFIG, "
            "or copy config.yaml from the adlib repository"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}: fix the syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of keys (database, countries, sources)")
    return parse_config(data, base_dir=path.resolve().parent, path=path)


def parse_config(data: Mapping[str, Any], base_dir: Path, path: Path | None = None) -> Config:
    """Validate an already-parsed config mapping (also used by ``adlib demo`` and tests)."""
    label = str(path) if path else "config"
    missing: dict[str, str] = {}
    resolved = _interpolate(dict(data), "", missing)
    for where, name in missing.items():
        if not where.startswith("sources."):
            raise ConfigError(f"{label}: {where} uses ${{{name}}}, which is not set: export {name}")
    _reject_unknown(resolved, AppSettings, "", label)
    try:
        app = AppSettings.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, "", label)) from None
    sources: dict[str, SourceSettings] = {}
    unavailable: dict[str, str] = {}
    for name, raw in app.sources.items():
        if name not in REGISTRY:
            hint = _did_you_mean(name, REGISTRY)
            raise ConfigError(f"{label}: sources.{name} is not a known source{hint}")
        settings_cls = collector_class(name).Settings
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{label}: sources.{name} must be a mapping of settings")
        _reject_unknown(raw, settings_cls, f"sources.{name}.", label)
        try:
            sources[name] = settings_cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc, f"sources.{name}.", label)) from None
        needed = [f"{var} (sources.{name}.{key})" for key, var in _missing_under(missing, name)]
        if needed:
            unavailable[name] = "environment variable " + ", ".join(needed) + " is not set"
    return Config(
        path=path,
        database_url=_resolve_sqlite(app.database.url, base_dir, label),
        data_dir=_resolve_dir(app.data_dir, base_dir),
        countries=app.countries,
        log=app.log,
        status=app.status,
        sources=sources,
        scheduler=app.scheduler,
        unavailable=unavailable,
        actors_registry=base_dir / app.actors.registry,
        inbox=_resolve_dir(app.import_.inbox, base_dir) if app.import_.inbox else None,
        inbox_poll_seconds=app.import_.poll_seconds,
    )


def _interpolate(value: Any, where: str, missing: dict[str, str]) -> Any:
    """Replace ``${NAME}`` references; unset ones are dropped and recorded in ``missing``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            sub = f"{where}{key}"
            result = _interpolate(item, sub + ".", missing)
            if result is not _UNSET:
                out[key] = result
        return out
    if isinstance(value, list):
        return [_interpolate(item, where, missing) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    unset: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        env = os.environ.get(name)
        if env:
            return env
        if default is not None:
            return default
        unset.append(name)
        return ""

    result = _ENV_REF.sub(substitute, value)
    if unset:
        missing[where.rstrip(".")] = unset[0]
        return _UNSET
    return result


_UNSET = object()


def _missing_under(missing: dict[str, str], source: str) -> list[tuple[str, str]]:
    prefix = f"sources.{source}."
    return [
        (where[len(prefix) :], var) for where, var in missing.items() if where.startswith(prefix)
    ]


def _reject_unknown(
    data: Mapping[str, Any], model: type[BaseModel], prefix: str, label: str
) -> None:
    """Unknown keys are typos more often than not: name the closest known key."""
    known = {field.alias or name: field for name, field in model.model_fields.items()}
    for key in data:
        if key not in known:
            hint = _did_you_mean(str(key), known)
            raise ConfigError(f"{label}: unknown key {prefix}{key}{hint}")


def _did_you_mean(word: str, choices: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(sorted(choices))}"


def _one_line(exc: ValidationError, prefix: str, label: str) -> str:
    error = exc.errors()[0]
    key = prefix + ".".join(str(part) for part in error["loc"])
    got = error.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{label}: {key}: {error['msg']}{shown}: fix this value"


def _resolve_sqlite(url: str, base_dir: Path, label: str) -> str:
    """Relative SQLite paths are relative to the config file, so cron's cwd does not matter."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(
            f"{label}: database.url {url!r} is not a database URL: "
            "use sqlite:///data/adlib.sqlite or postgresql://user:pass@host/db"
        ) from None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    if parsed.database == ":memory:" or Path(parsed.database).is_absolute():
        return url
    return parsed.set(database=str(base_dir / parsed.database)).render_as_string(
        hide_password=False
    )


def _resolve_dir(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path
