"""`adlib status` shows the collectors' advisories (an API version two years old) as warnings."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.pipeline.ops_helpers import ops_config


def test_an_old_api_version_is_a_warning_not_a_problem(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    old = {"meta": {"api_version": "v18.0", "access_token": "${ADLIB_TEST_UNSET_TOKEN}"}}
    config = ops_config(tmp_path, database_url, old)
    assert run_cli("db", "upgrade", "--config", str(config)).returncode == 0
    result = run_cli("status", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "warning meta: sources.meta.api_version v18.0 was released before 2024-01-23" in (
        result.stdout
    )
    current = {"meta": {"access_token": "${ADLIB_TEST_UNSET_TOKEN}"}}
    fresh = run_cli("status", "--config", str(ops_config(tmp_path, database_url, current)))
    assert "api_version" not in fresh.stdout
