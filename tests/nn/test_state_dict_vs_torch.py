"""state_dict and load_state_dict against torch.nn.Module's: a state saved by torch loads into
the same architecture and gives torch's outputs, strict=False reports what torch reports,
and a value NumPy cannot read is refused by its key."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from chainrule import nn


def _torch_model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        torch.nn.BatchNorm1d(6),
        torch.nn.ReLU(),
        torch.nn.LayerNorm(6),
        torch.nn.Linear(6, 3),
    ).double()
    model.train()
    for _ in range(2):  # running statistics and num_batches_tracked away from their defaults
        model(torch.randn(8, 4, dtype=torch.float64))
    return model.eval()


def _our_model() -> nn.Sequential:
    rng = np.random.default_rng(1)
    return nn.Sequential(
        nn.Linear(4, 6, rng=rng, dtype=np.float64),
        nn.BatchNorm1d(6, dtype=np.float64),
        nn.ReLU(),
        nn.LayerNorm(6, dtype=np.float64),
        nn.Linear(6, 3, rng=rng, dtype=np.float64),
    ).eval()


def _as_ours(state: dict[str, torch.Tensor], linear_weights: set[str]) -> dict[str, np.ndarray]:
    """torch's state as NumPy arrays, Linear weights transposed to chainrule's layout."""
    return {
        key: value.numpy().T if key in linear_weights else value.numpy()
        for key, value in state.items()
    }


def test_a_state_saved_by_torch_gives_torch_outputs() -> None:
    theirs, ours = _torch_model(), _our_model()
    state = _as_ours(theirs.state_dict(), {"0.weight", "4.weight"})
    assert list(state) == list(ours.state_dict())
    assert ours.load_state_dict(state) == ([], [])
    x = np.random.default_rng(2).standard_normal((5, 4))
    expected = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours(x).data, expected, rtol=1e-12, atol=1e-14)
    assert ours[1].num_batches_tracked.dtype == np.int64
    assert int(ours[1].num_batches_tracked) == 2


def test_loaded_values_do_not_alias_the_callers_arrays() -> None:
    ours = _our_model()
    state = {key: np.array(value + 1) for key, value in ours.state_dict().items()}
    ours.load_state_dict(state)
    for key, value in ours.state_dict().items():
        state[key][...] = 0
        assert not np.shares_memory(value, state[key]), key
    assert np.all(ours[0].weight.data != 0)


def test_strict_false_reports_the_keys_torch_reports() -> None:
    theirs, ours = _torch_model(), _our_model()
    state = {key: value for key, value in theirs.state_dict().items() if key != "0.bias"}
    state["extra"] = torch.zeros(1)
    state["1.extra"] = torch.zeros(1)
    torch_result = theirs.load_state_dict(state, strict=False)
    our_result = ours.load_state_dict(_as_ours(state, {"0.weight", "4.weight"}), strict=False)
    assert our_result.missing_keys == torch_result.missing_keys == ["0.bias"]
    assert set(our_result.unexpected_keys) == set(torch_result.unexpected_keys)


@pytest.mark.parametrize(
    "value",
    [
        torch.zeros(4, 6, dtype=torch.float64, requires_grad=True),
        [[1.0, 2.0], [3.0]],
    ],
    ids=["torch-tensor-requiring-grad", "ragged-list"],
)
def test_a_value_numpy_cannot_read_is_refused_by_its_key(value: Any) -> None:
    ours = _our_model()
    state = ours.state_dict()
    state["0.weight"] = value
    before = ours.state_dict()
    with pytest.raises(ValueError, match=r"0\.weight holds a .* nothing was loaded"):
        ours.load_state_dict(state)
    for key, array in ours.state_dict().items():
        np.testing.assert_array_equal(array, before[key])


def test_the_load_result_prints_as_torchs() -> None:
    theirs, ours = _torch_model(), _our_model()
    state = theirs.state_dict()
    assert repr(ours.load_state_dict(_as_ours(state, {"0.weight", "4.weight"}))) == repr(
        theirs.load_state_dict(state)
    )
    partial = {key: value for key, value in ours.state_dict().items() if key != "0.bias"}
    assert repr(ours.load_state_dict(partial, strict=False)) == (
        "IncompatibleKeys(missing_keys=['0.bias'], unexpected_keys=[])"
    )
