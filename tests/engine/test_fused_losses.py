"""The fused losses (one node each) against the same loss built from primitives."""

from __future__ import annotations

import numpy as np
from engine_cases import relative_error

import chainrule as cr
from chainrule import functional
from chainrule.primitives.loss import SoftmaxCrossEntropy


def _value_and_grad(loss_fn, values):
    leaf = cr.tensor(values, requires_grad=True)
    loss = loss_fn(leaf)
    loss.backward()
    return loss.numpy(), leaf.grad.numpy()


def test_fused_mse_matches_the_composite() -> None:
    rng = np.random.default_rng(8)
    prediction, target = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    fused = _value_and_grad(lambda p: functional.mse_loss(p, target), prediction)
    composite = _value_and_grad(lambda p: ((target - p) ** 2).mean(), prediction)
    for ours, reference in zip(fused, composite, strict=True):
        assert relative_error(ours, reference) <= 1e-15


def test_fused_cross_entropy_matches_the_composite() -> None:
    rng = np.random.default_rng(9)
    logits, targets = rng.normal(size=(5, 4)) * 3, np.array([0, 3, 1, 1, 2])
    fused = _value_and_grad(lambda z: functional.cross_entropy(z, targets), logits)
    composite = _value_and_grad(
        lambda z: -cr.log_softmax(z, axis=1)[np.arange(5), targets].mean(), logits
    )
    for ours, reference in zip(fused, composite, strict=True):
        assert relative_error(ours, reference) <= 1e-14


def test_fused_linear_matches_matmul_then_add_bit_for_bit() -> None:
    rng = np.random.default_rng(10)
    x, weight, bias = rng.normal(size=(7, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)
    results = []
    for fused in (True, False):
        leaves = [cr.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        out = functional.linear(*leaves) if fused else leaves[0] @ leaves[1] + leaves[2]
        (out.tanh() * out).sum().backward()
        results.append([out.numpy()] + [leaf.grad.numpy() for leaf in leaves])
    for ours, reference in zip(*results, strict=True):
        assert ours.shape == reference.shape
        assert np.array_equal(ours, reference)


def test_linear_without_bias_is_a_plain_matmul() -> None:
    x, weight = cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((3, 4)), requires_grad=True)
    out = functional.linear(x, weight)
    assert out._node is not None
    assert out._node.primitive.name == "matmul"


def test_cross_entropy_forward_on_arrays_matches_its_tensor_path_bit_for_bit() -> None:
    # forward has a fast path for plain ndarrays (the ufuncs' own reductions) beside the
    # general one that a recorded replay takes with Tensors; both must give the same bits.
    rng = np.random.default_rng(11)
    for dtype in (np.float16, np.float32, np.float64):
        logits = (rng.normal(size=(64, 10)) * 20).astype(dtype)
        targets = rng.integers(0, 10, size=64)
        loss, (probs, _) = SoftmaxCrossEntropy.forward(logits, targets=targets)
        tensor_loss, (tensor_probs, _) = SoftmaxCrossEntropy.forward(
            cr.tensor(logits), targets=targets
        )
        assert np.asarray(loss).dtype == np.dtype(dtype)
        assert probs.shape == (64, 10)
        assert probs.dtype == np.dtype(dtype)
        assert isinstance(tensor_loss, cr.Tensor)
        assert np.array_equal(np.asarray(loss), tensor_loss.numpy())
        assert np.array_equal(probs, tensor_probs.numpy())
