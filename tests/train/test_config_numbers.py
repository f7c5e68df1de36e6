"""TrainConfig's real-valued settings take Python and NumPy numbers alike and refuse
anything else with a TypeError naming the option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.train import TrainConfig


def test_numpy_scalars_are_accepted_and_saved_as_plain_json() -> None:
    config = TrainConfig(
        lr=np.float32(0.5),
        momentum=np.float64(0.8),
        weight_decay=np.int64(0),
        dropout=np.float32(0.25),
    )
    saved = json.loads(json.dumps(config.to_json()))
    assert saved["lr"] == 0.5
    assert saved["momentum"] == 0.8
    assert saved["dropout"] == 0.25
    assert type(config.lr) is float


@pytest.mark.parametrize(
    "value", [True, "0.1", 0.1j, np.bool_(False)], ids=["bool", "str", "complex", "np.bool_"]
)
def test_a_non_number_lr_is_a_type_error_naming_the_option(value: Any) -> None:
    with pytest.raises(TypeError, match="train: --lr must be a real number"):
        TrainConfig(lr=value)


@pytest.mark.parametrize("sizes", [(True, 8), (16.5,), ("16",)], ids=["bool", "float", "str"])
def test_hidden_sizes_that_are_not_integers_are_a_type_error(sizes: tuple[Any, ...]) -> None:
    # (True, 8) built a hidden layer of one unit; 16.5 failed inside nn.Linear. Saved,
    # either made a checkpoint that from_json refuses: a run that cannot be resumed.
    with pytest.raises(TypeError, match=r"train: --hidden sizes must be integers"):
        TrainConfig(model="mlp", hidden=sizes)


def test_hidden_sizes_given_as_a_list_or_numpy_integers_are_saved_as_a_tuple_of_ints() -> None:
    config = TrainConfig(model="mlp", hidden=[np.int64(16), 8])  # type: ignore[arg-type]
    assert config.hidden == (16, 8)
    assert all(type(size) is int for size in config.hidden)
    assert TrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_a_data_folder_given_as_a_path_is_saved_as_its_string(tmp_path: Path) -> None:
    # A Path stayed in the config and failed the first checkpoint's json.dumps, leaving a
    # half-written run folder (an npz without its json) that no later run could use.
    config = TrainConfig(data=tmp_path / "idx")  # type: ignore[arg-type]
    assert config.data == str(tmp_path / "idx")
    assert json.loads(json.dumps(config.to_json()))["data"] == str(tmp_path / "idx")


def test_data_that_is_neither_a_name_nor_a_path_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"train: --data must be a data set's name or a folder"):
        TrainConfig(data=3)  # type: ignore[arg-type]
