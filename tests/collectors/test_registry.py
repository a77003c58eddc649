"""Contract tests over ``collectors.REGISTRY``: what every platform must bring (CONTRIBUTING.md).

A new platform is one entry in the registry; these tests then name everything else it still
needs: a demo replica (the demo test runs it end to end), a docs page linked from the README,
kill -9 trials in the reliability harness, and defaults that point at the real platform.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from collectors import RECOGNISERS, REGISTRY, collector_class
from collectors.base import Collector, SourceSettings
from collectors.replicas import DEMOS
from tests.conftest import REPO
from tests.reliability import harness

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_registered_platform_brings_everything_it_needs(name: str) -> None:
    cls = collector_class(name)
    assert cls.name == name
    assert issubclass(cls.Settings, SourceSettings) and cls.Settings is not SourceSettings
    assert name in DEMOS, f"add a demo replica for {name} to collectors.replicas.DEMOS"
    page = REPO / "docs" / "platforms" / f"{name}.md"
    assert page.is_file(), f"write {page.relative_to(REPO)}"
    assert f"docs/platforms/{name}.md" in (REPO / "README.md").read_text()
    assert name in harness.SOURCES


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_defaults_point_at_the_real_platform_never_a_replica(name: str) -> None:
    defaults = collector_class(name).Settings.model_construct()
    values = [str(v) for v in _values(defaults)]
    assert not [v for v in values if any(host in v for host in LOOPBACK)], values


def test_a_platform_whose_files_are_recognised_can_replay_them() -> None:
    """`adlib import` hands a recognised file to the collector's replay()."""
    assert set(RECOGNISERS) <= set(REGISTRY)
    for name in RECOGNISERS:
        assert collector_class(name).replay is not Collector.replay, name


def test_demos_and_the_harness_cover_exactly_the_registry() -> None:
    assert set(DEMOS) == set(REGISTRY)
    assert set(harness.SOURCES) == set(REGISTRY)


def _values(model: BaseModel) -> list[object]:
    out: list[object] = []
    for field in type(model).model_fields:
        value = getattr(model, field, None)
        out.extend(value if isinstance(value, list | tuple) else [value])
    return out
