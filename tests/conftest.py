"""Shared fixtures. PyTorch is the reference oracle: optional on a laptop, required in CI."""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np
import pytest

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    """The `torch` module; skips locally when it is missing, fails the run in CI."""
    try:
        import torch as torch_module
    except ImportError:
        if IN_CI:
            pytest.fail("PyTorch is the reference oracle and must be installed in CI: "
                        "pip install torch==2.13.0")
        pytest.skip("PyTorch not installed (pip install torch==2.13.0)")
    return torch_module


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: the reference tests must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("CI: tests were skipped; in CI every test, the PyTorch "
                            "reference tests included, must run.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
