"""The README stays true: every command is documented and CI runs its test command verbatim."""

from __future__ import annotations

import re

from pipeline.cli import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_every_command_is_in_the_readme() -> None:
    missing = [name for name in cli.commands if f"adlib {name}" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    test_command = next(b.strip() for b in blocks if "pytest" in b and "pip install" in b)
    assert test_command.endswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert test_command in ci


def test_the_quick_start_runs_the_demo() -> None:
    first = re.findall(r"```sh\n(.*?)```", README, flags=re.S)[0].strip()
    assert first.endswith("adlib demo") and "pip install -e ." in first
