"""The code base stays ruff-clean and mypy-clean; these run the same checks a reviewer would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(tool, path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.fail(f"{tool} is not installed in this environment: pip install -e '.[test]'")
    return subprocess.run([executable, *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)


def test_ruff_finds_no_problems() -> None:
    folders = [name for name in ("src", "tests", "benchmarks") if (ROOT / name).is_dir()]
    result = _run("ruff", "check", *folders)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_no_type_errors_in_src() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
