"""chainrule.explain on a small conv net: conv2d -> relu -> max_pool2d -> mse loss, read
with respect to the conv weight and the input."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import functional
from chainrule.explanation import Explanation
from chainrule.tensor import Tensor


@pytest.fixture
def conv_net() -> dict[str, Tensor]:
    rng = np.random.default_rng(0)
    tensors = {
        "x": chainrule.tensor(rng.normal(size=(2, 1, 6, 6)), name="x", requires_grad=True),
        "w": chainrule.tensor(rng.normal(size=(3, 1, 3, 3)), name="w", requires_grad=True),
        "b": chainrule.tensor(rng.normal(size=(3,)), name="b", requires_grad=True),
        "y": chainrule.tensor(rng.normal(size=(2, 3, 2, 2)), name="y"),
    }
    pooled = functional.max_pool2d(
        functional.conv2d(tensors["x"], tensors["w"], tensors["b"]).relu(), 2
    )
    tensors["loss"] = functional.mse_loss(pooled, tensors["y"])
    return tensors


def _explain(net: dict[str, Tensor], wrt: str) -> Explanation:
    return chainrule.explain(net["loss"], net[wrt])


def test_a_conv_step_reads_as_conv2d_of_input_weight_and_bias(conv_net: dict[str, Tensor]) -> None:
    steps = [(step.name, step.formula, step.shape) for step in _explain(conv_net, "w").steps]
    assert steps == [
        ("u1", "conv2d(x, w, b)", (2, 3, 4, 4)),
        ("u2", "relu(u1)", (2, 3, 4, 4)),
        ("u3", "max_pool2d(u2)", (2, 3, 2, 2)),
        ("loss", "mse_loss(u3, y)", ()),
    ]


def test_the_weight_link_reads_windows_of_x_correlated_with_the_upstream_gradient(
    conv_net: dict[str, Tensor],
) -> None:
    links = _explain(conv_net, "w").paths[0]
    assert [(link.output, link.input, link.rule) for link in links[-2:]] == [
        ("u2", "u1", "[u1 > 0]"),
        ("u1", "w", "windows of x correlated with ."),
    ]
    assert links[-3].rule == ". routed to each window's max of u2"
    assert links[-1].kind == "operator"
    assert (links[-1].grad_out_shape, links[-1].grad_in_shape) == ((2, 3, 4, 4), (3, 1, 3, 3))


def test_the_input_link_reads_the_weight_flipped_as_a_transposed_convolution(
    conv_net: dict[str, Tensor],
) -> None:
    link = _explain(conv_net, "x").paths[0][-1]
    assert (link.derivative, link.rule) == (
        "d conv2d(x, w, b)/dx",
        "conv_transpose(., w): w flipped, as a transposed convolution",
    )


@pytest.mark.parametrize("wrt", ["w", "x", "b"])
def test_every_local_gradient_of_the_conv_net_agrees_with_finite_differences(
    conv_net: dict[str, Tensor], wrt: str
) -> None:
    explanation = _explain(conv_net, wrt)
    assert len(explanation.checks) == 4
    for check in explanation.checks:
        assert check.passed, check
        assert check.max_rel_err < 1e-6


def test_a_flattened_conv_net_checks_its_reshape_step_too() -> None:
    # The reshape between the pooling and a linear layer returns a view of its operand: the
    # check must compare against a copy of the centre value, not against the perturbed view.
    rng = np.random.default_rng(1)
    x = chainrule.tensor(rng.normal(size=(2, 1, 5, 5)), name="x")
    w = chainrule.tensor(rng.normal(size=(2, 1, 2, 2)), name="w", requires_grad=True)
    v = chainrule.tensor(rng.normal(size=(8, 3)), name="v", requires_grad=True)
    pooled = functional.max_pool2d(functional.conv2d(x, w), 2)
    loss = functional.cross_entropy(pooled.reshape((2, -1)) @ v, np.array([0, 2]))
    checks = chainrule.explain(loss, w).checks
    assert [check.passed for check in checks] == [True] * 5


def test_the_avg_pool_link_divides_by_each_windows_count_not_a_window_size() -> None:
    # Without count_include_pad the border windows of a padded pool average fewer entries
    # than the kernel holds (here 4 of 9 at a corner): the rule read "/ window size".
    x = chainrule.tensor(np.arange(16.0).reshape(1, 1, 4, 4), name="x", requires_grad=True)
    pooled = functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    link = chainrule.explain((pooled * pooled).sum(), x).paths[0][-1]
    assert link.rule == ". / each window's count, spread over its window"
    assert pooled.numpy()[0, 0, 0, 0] == np.mean([0.0, 1.0, 4.0, 5.0])
