"""Fixtures of the training-loop tests."""

from __future__ import annotations

import pytest

from chainrule.train.datasets import Splits, load_splits


@pytest.fixture(scope="session")
def digits64() -> Splits:
    """The digits splits in float64, loaded once for every training test."""
    return load_splits("digits", val_fraction=0.1, dtype="float64")


@pytest.fixture(scope="session")
def digits32() -> Splits:
    """The digits splits in float32, for the runs whose config says float32."""
    return load_splits("digits", val_fraction=0.1, dtype="float32")
