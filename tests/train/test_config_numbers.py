"""TrainConfig's real-valued settings take Python and NumPy numbers alike and refuse
anything else with a TypeError naming the option."""

from __future__ import annotations

import json
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
