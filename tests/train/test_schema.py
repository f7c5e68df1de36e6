"""The run checkpoint schema: every checkpoint a run writes fits it; an entry that does not is
named by its path."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from training_helpers import fit

from chainrule.train import TrainConfig, Trainer, load_checkpoint
from chainrule.train.checkpoint import save_checkpoint
from chainrule.train.datasets import Splits
from chainrule.train.schema import SchemaError, validate_meta

SMALL = TrainConfig(model="mlp", hidden=(16, 8), epochs=1, batch_size=64, seed=3, dtype="float64")


@pytest.mark.parametrize(
    "changes",
    [
        {"dropout": 0.2, "diagnostics": True},
        {"engine": "manual", "optimizer": "sgd", "schedule": "constant"},
        {"optimizer": "momentum", "weight_decay": 0.1},
        {"optimizer": "adamw", "model": "seed", "dtype": "float32"},
    ],
    ids=["adam-dropout-diagnostics", "manual-sgd", "momentum", "adamw-seed"],
)
def test_the_checkpoints_of_a_run_fit_the_schema(
    tmp_path: Path, digits64: Splits, digits32: Splits, changes: dict[str, Any]
) -> None:
    config = dataclasses.replace(SMALL, **changes)
    splits = digits32 if config.dtype == "float32" else digits64
    save_checkpoint(
        tmp_path / "start", Trainer(config, tmp_path / "start", splits=splits).snapshot()
    )
    fit(config, tmp_path / "trained", splits)
    assert load_checkpoint(tmp_path / "start").meta["epoch"] == 0
    assert load_checkpoint(tmp_path / "trained").meta["epoch"] == 1


def test_a_schema_error_names_the_entry_and_what_it_must_be(
    tmp_path: Path, digits64: Splits
) -> None:
    meta = Trainer(SMALL, tmp_path, splits=digits64).snapshot()
    validate_meta(meta)
    meta["loader"]["batch_size"] = 0
    with pytest.raises(
        SchemaError,
        match=r"^meta/loader/batch_size must be an integer >= 1, "
        r"got 0$",
    ):
        validate_meta(meta)


def test_a_checkpoint_of_several_ranks_fits_the_schema(tmp_path: Path, digits64: Splits) -> None:
    meta = Trainer(SMALL, tmp_path, splits=digits64).snapshot()
    meta["ranks"] = 2
    meta["dropout_rngs_by_rank"] = [meta["dropout_rngs"], meta["dropout_rngs"]]
    validate_meta(meta)


def test_a_checkpoint_of_several_ranks_needs_each_ranks_dropout_generators(
    tmp_path: Path, digits64: Splits
) -> None:
    meta = Trainer(SMALL, tmp_path, splits=digits64).snapshot()
    meta["ranks"] = 2
    with pytest.raises(
        SchemaError,
        match=r"^meta/dropout_rngs_by_rank must be the dropout "
        r"generators of 2 ranks",
    ):
        validate_meta(meta)
    meta["dropout_rngs_by_rank"] = [meta["dropout_rngs"]]
    with pytest.raises(SchemaError, match=r"^meta/dropout_rngs_by_rank must be a list of 2 "):
        validate_meta(meta)


def test_a_checkpoint_of_no_ranks_is_refused(tmp_path: Path, digits64: Splits) -> None:
    meta = Trainer(SMALL, tmp_path, splits=digits64).snapshot()
    meta["ranks"] = 0
    with pytest.raises(SchemaError, match=r"^meta/ranks must be an integer >= 1, got 0$"):
        validate_meta(meta)


def test_optimizer_flags_newer_than_a_checkpoint_are_optional_and_checked(
    tmp_path: Path, digits64: Splits
) -> None:
    # Checkpoints written before SGD and Adam took `maximize` and `amsgrad` lack them; a
    # checkpoint that has them holds booleans.
    meta = Trainer(SMALL, tmp_path, splits=digits64).snapshot()
    group = meta["optimizer"]["param_groups"][0]
    assert group["amsgrad"] is False
    assert group["maximize"] is False
    del group["amsgrad"], group["maximize"]
    validate_meta(meta)
    group["maximize"] = "no"
    with pytest.raises(SchemaError, match=r"param_groups/0/maximize must be"):
        validate_meta(meta)
