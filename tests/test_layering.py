"""The layering DESIGN.md describes is a checked rule, not a hope (import-linter contracts).

``collectors`` knows platforms and nothing of adlib's database or orchestration; ``schema``
knows neither. The contracts live in pyproject.toml under ``[tool.importlinter]``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_the_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is missing: pip install -e '.[test]'"
    result = subprocess.run(
        [lint_imports], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
