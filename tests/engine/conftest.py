"""Engine test hooks: report the largest relative error seen against PyTorch per dtype."""

from __future__ import annotations

import pytest
from engine_cases import LARGEST_TORCH_ERROR


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LARGEST_TORCH_ERROR:
        worst = ", ".join(
            f"{dtype}: {error:.2e} ({op})" for dtype, (error, op) in LARGEST_TORCH_ERROR.items()
        )
        terminalreporter.write_line(f"engine vs PyTorch, largest relative error: {worst}")
