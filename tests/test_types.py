"""The type annotations are checked, not decoration: mypy on collectors/, pipeline/ and schema/.

The configuration (which packages, which untyped libraries are ignored) lives in
pyproject.toml under ``[tool.mypy]``; ``make lint`` runs the same command.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.conftest import REPO


def test_mypy_finds_no_errors() -> None:
    assert importlib.util.find_spec("mypy"), "mypy is missing: pip install -e '.[test]'"
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success"), result.stdout
