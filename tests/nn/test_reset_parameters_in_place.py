"""reset_parameters (and nn.init) write into the parameters in place, as torch's: a model
whose parameters sit in a flat buffer keeps them there (so the optimizer keeps its one-call
update), and a graph that saved a parameter refuses its backward after the reset, as
torch's does, instead of differentiating values the parameter no longer holds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from chainrule import nn
from chainrule.nn.flat import buffer_of

LAYERS: dict[str, Callable[[], nn.Module]] = {
    "Linear": lambda: nn.Linear(3, 4, rng=np.random.default_rng(0)),
    "Linear_no_bias": lambda: nn.Linear(3, 4, bias=False, rng=np.random.default_rng(0)),
    "Embedding": lambda: nn.Embedding(5, 3, padding_idx=1, rng=np.random.default_rng(0)),
    "Conv2d": lambda: nn.Conv2d(2, 3, 3, rng=np.random.default_rng(0)),
    "LayerNorm": lambda: nn.LayerNorm(4),
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_reset_parameters_keeps_a_flat_buffers_views(layer: str) -> None:
    module = LAYERS[layer]()
    (buffer,) = module.flatten_parameters()
    module.reset_parameters()
    for parameter in module.parameters():
        assert buffer_of(parameter) is buffer
        assert np.shares_memory(parameter.data, buffer.data)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_a_graph_saved_before_reset_parameters_refuses_its_backward(layer: str) -> None:
    module = LAYERS[layer]()
    weight = module.weight
    saved = (weight**2).sum()  # the power saves the weight for its gradient
    module.reset_parameters()
    with pytest.raises(RuntimeError, match="modified in place"):
        saved.backward()


def test_embedding_reset_keeps_the_padding_row_zero_in_the_buffer() -> None:
    table = nn.Embedding(5, 3, padding_idx=-1, rng=np.random.default_rng(0))
    table.flatten_parameters()
    table.weight.data[...] = 7.0
    table.reset_parameters()
    np.testing.assert_array_equal(table.weight.data[4], np.zeros(3, np.float32))
    assert np.all(table.weight.data[:4] != 7.0)
