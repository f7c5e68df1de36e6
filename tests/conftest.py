"""Shared fixtures. PyTorch is the reference oracle: optional on a laptop, required in CI."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import settings

from chainrule import manual

Network = tuple[
    npt.NDArray[np.floating], npt.NDArray[np.floating], dict[str, npt.NDArray[np.floating]]
]

IN_CI = bool(os.environ.get("CI"))

# In CI, hypothesis draws the same examples on every run, so a red build is reproducible and
# never depends on the luck of the draw; locally it keeps exploring new ones.
settings.register_profile("ci", derandomize=True, database=None)
if IN_CI:
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    """The `torch` module; skips locally when it is missing, fails the run in CI."""
    try:
        import torch as torch_module
    except ImportError:
        if IN_CI:
            pytest.fail(
                "PyTorch is the reference oracle and must be installed in CI: "
                "pip install torch==2.13.0"
            )
        pytest.skip("PyTorch not installed (pip install torch==2.13.0)")
    return torch_module


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


@pytest.fixture
def make_network(rng: np.random.Generator) -> Callable[..., Network]:
    """make_network(n_examples, n_in, n_hidden, n_out, dtype) -> (x, y, params).

    He-initialised weights and small random (nonzero) biases, so every gradient is exercised.
    """

    def make(
        n_examples: int, n_in: int, n_hidden: int, n_out: int, dtype: npt.DTypeLike = np.float64
    ) -> Network:
        params = manual.init_params(n_in, n_hidden, n_out, rng=rng, dtype=dtype)
        params["b1"] = (0.1 * rng.standard_normal(n_hidden)).astype(dtype)
        params["b2"] = (0.1 * rng.standard_normal(n_out)).astype(dtype)
        x = rng.random((n_examples, n_in)).astype(dtype)
        y = rng.standard_normal((n_examples, n_out)).astype(dtype)
        return x, y, params

    return make


def network_loss(arrays: Mapping[str, npt.NDArray[np.floating]]) -> float:
    """The tutorial loss as gradcheck calls it: every array by name in one mapping."""
    return manual.forward(arrays["x"], arrays["y"], arrays)[0]


@pytest.fixture
def loss_of_arrays() -> Callable[[Mapping[str, npt.NDArray[np.floating]]], float]:
    return network_loss


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: the reference tests must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line(
            "CI: tests were skipped; in CI every test, the PyTorch "
            "reference tests included, must run.",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
