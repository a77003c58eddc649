"""Config loading: interpolation, validation, one-line errors, and skipped sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, parse_config
from tests.conftest import REPO, write_config


def test_the_shipped_config_yaml_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("META_ACCESS_TOKEN", raising=False)
    config = load_config(REPO / "config.yaml")
    assert config.countries[:2] == ["AR", "BR"]
    assert config.sources["meta"].base_url == "https://graph.facebook.com"  # type: ignore[attr-defined]
    assert "META_ACCESS_TOKEN" in config.unavailable["meta"]
    assert config.database_url.endswith(str(REPO / "data" / "adlib.sqlite"))


def test_env_interpolation_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOKEN_X", "abc123456")
    monkeypatch.delenv("DB_FILE", raising=False)
    path = write_config(
        tmp_path / "c.yaml",
        {
            "database": {"url": "sqlite:///${DB_FILE:-x.sqlite}"},
            "sources": {"meta": {"access_token": "${TOKEN_X}"}},
        },
    )
    config = load_config(path)
    assert config.sources["meta"].access_token == "abc123456"  # type: ignore[attr-defined]
    assert config.database_url == f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert config.unavailable == {}


def test_missing_env_outside_sources_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_URL", raising=False)
    path = write_config(tmp_path / "c.yaml", {"database": {"url": "${NOPE_URL}"}})
    with pytest.raises(ConfigError, match=r"database.url uses \$\{NOPE_URL\}.*export NOPE_URL"):
        load_config(path)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"contries": ["US"]}, r"unknown key contries; did you mean 'countries'\?"),
        (
            {"sources": {"meta": {"acess_token": "x"}}},
            r"unknown key sources.meta.acess_token; did you mean 'access_token'",
        ),
        ({"sources": {"metta": {}}}, r"sources.metta is not a known source; did you mean 'meta'"),
        ({"countries": ["USA"]}, r"countries.*not an ISO 3166-1 alpha-2"),
        (
            {"sources": {"meta": {"timeout_seconds": "soon"}}},
            r"sources.meta.timeout_seconds: .*'soon'",
        ),
        ({"database": {"url": "mysql://x/y"}}, None),
    ],
)
def test_bad_values_give_one_line_naming_the_key(
    data: dict, pattern: str | None, tmp_path: Path
) -> None:
    if pattern is None:  # accepted by the config, refused when the engine is made
        parse_config(data, base_dir=tmp_path)
        return
    with pytest.raises(ConfigError, match=pattern) as info:
        parse_config(data, base_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found: pass --config PATH"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [meta\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)


def test_uk_is_stored_as_gb(tmp_path: Path) -> None:
    assert parse_config({"countries": ["uk", "ke"]}, base_dir=tmp_path).countries == ["GB", "KE"]


def test_postgresql_without_its_driver_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        {"database": {"url": "postgresql://adlib@127.0.0.1:1/adlib"}, "sources": {}},
    )
    # As on an SQLite-only install: the driver cannot be imported.
    hide = "import sys; sys.modules['psycopg'] = None; from pipeline.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide, "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "pip install 'adlib-collector[postgres]'" in result.stderr
