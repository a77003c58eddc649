"""Hostile arguments and configs through the real CLI: nothing runs that should not.

Every argument that reaches a query gets one payload with both quote styles, a statement
separator and a comment. Commands either reject it (exit 2, one line) or treat it as a plain
value (no match); afterwards the database holds exactly what it held before. Bad configs are
one line and exit 2, whatever the mistake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from collectors.replicas import ReplicaServer
from collectors.replicas.meta import MetaReplica
from tests.conftest import run_cli, write_config

PAYLOAD = "x' OR '1'='1\"; DROP TABLE ads; --"
TOKEN = "EAAinputSafetyTOKEN0123456789"


@pytest.fixture
def collected(database_url: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    replica = MetaReplica(n_ads=60, countries=["KE", "US"], seed=5, token=TOKEN)
    with ReplicaServer(replica) as server:
        config = write_config(
            tmp_path / "config.yaml",
            {
                "database": {"url": database_url},
                "data_dir": str(tmp_path / "data"),
                "countries": ["KE", "US"],
                "sources": {"meta": {"base_url": server.url, "access_token": TOKEN}},
            },
        )
        assert run_cli("collect", "--config", str(config)).returncode == 0
        yield config, database_url


def _state(url: str) -> tuple[int, int, int]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        state = tuple(
            int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
            for t in ("ads", "ad_countries", "collection_runs")
        )
    engine.dispose()
    return state  # type: ignore[return-value]


def test_sql_injection_through_every_query_argument_changes_nothing(
    collected: tuple[Path, str], tmp_path: Path
) -> None:
    config, url = collected
    before = _state(url)
    c = ("--config", str(config))
    runs = {
        "search text": run_cli("search", PAYLOAD, *c),
        "search source": run_cli("search", "vote", "--source", PAYLOAD, *c),
        "search country": run_cli("search", "vote", "--country", PAYLOAD, *c),
        "export country": run_cli(
            "export", "--country", PAYLOAD, "--out", str(tmp_path / "e1"), *c
        ),
        "export source": run_cli(
            "export", "--country", "KE", "--source", PAYLOAD, "--out", str(tmp_path / "e2"), *c
        ),
        "status source": run_cli("status", "--source", PAYLOAD, *c),
        "collect source": run_cli("collect", "--source", PAYLOAD, *c),
        "sql parameter": run_cli(
            "sql",
            "SELECT COUNT(*) AS n FROM ads WHERE source = :s",
            "-p",
            f"s={PAYLOAD}",
            "--json",
            *c,
        ),
    }
    for name, done in runs.items():
        assert "Traceback" not in done.stderr, name
        assert done.returncode in (0, 1, 2), (name, done.returncode, done.stderr)
        if done.returncode == 2:
            assert len(done.stderr.strip().splitlines()) == 1, (name, done.stderr)
    assert runs["search country"].returncode == 2
    assert runs["export country"].returncode == 2
    assert runs["collect source"].returncode == 2
    assert json.loads(runs["sql parameter"].stdout) == [{"n": 0}]
    assert _state(url) == before


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        ({"sources": {"meta": {"page_size": "lots"}}}, {}, "sources.meta.page_size"),
        ({"sources": {"meta": {"acces_token": "x"}}}, {}, "did you mean 'access_token'"),
        ({"database": {"url": "${ADLIB_NO_SUCH_VARIABLE}"}}, {}, "export ADLIB_NO_SUCH_VARIABLE"),
        ({"countries": "KE"}, {}, "countries"),
        (None, {}, "cannot read config file"),
    ],
)
def test_bad_configs_are_one_line_and_exit_2(
    tmp_path: Path, config: dict | None, env: dict[str, str], expected: str
) -> None:
    path = tmp_path / "config.yaml"
    if config is None:
        path.mkdir()  # unreadable as a file, whoever runs the test (root reads chmod 000)
    else:
        write_config(path, config)
    done = run_cli("collect", "--config", str(path), env=env)  # every command loads it alike
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr
