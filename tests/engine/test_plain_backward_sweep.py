"""A plain `backward()` (no create_graph, no anomaly mode) sweeps the graph in one loop of
its own (`graph._sweep_to_leaves`); every other backward goes through the generic sweep.
Both must give the same gradients bit for bit and refuse the same things."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.graph import READ


def _leaves(dtype: type) -> tuple[cr.Tensor, cr.Tensor, cr.Tensor]:
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.standard_normal((4, 3)).astype(dtype), requires_grad=True)
    w = cr.tensor(rng.standard_normal((3, 3)).astype(dtype), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3).astype(dtype), requires_grad=True)
    return x, w, b


def _fan_out_loss(x: cr.Tensor, w: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
    # x reaches the loss through four consumers (the order of their additions matters for
    # the bits), the bias broadcasts, exp and tanh save their outputs, x * x uses one
    # leaf twice in one op.
    h = x @ w + b
    e = h.exp()
    t = (x * x).tanh()
    loss: cr.Tensor = (e * h).sum() + t.mean() + (x @ w).relu().sum() + (x * 3.0).sum()
    return loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_plain_backward_gives_the_generic_sweeps_gradients_bit_for_bit(dtype: type) -> None:
    plain = _leaves(dtype)
    _fan_out_loss(*plain).backward()
    generic = _leaves(dtype)
    with cr.detect_anomaly():  # anomaly mode takes the generic sweep
        _fan_out_loss(*generic).backward()
    for fast, slow in zip(plain, generic, strict=True):
        assert fast.grad is not None
        assert slow.grad is not None
        assert fast.grad.dtype == slow.grad.dtype == dtype
        np.testing.assert_array_equal(fast.grad.data, slow.grad.data)


def test_a_plain_backward_matches_torch_on_a_graph_with_fan_out(torch: ModuleType) -> None:
    ours = _leaves(np.float64)
    _fan_out_loss(*ours).backward()
    theirs = [torch.tensor(t.data, requires_grad=True) for t in ours]
    x, w, b = theirs
    h = x @ w + b
    loss = (h.exp() * h).sum() + (x * x).tanh().mean() + (x @ w).relu().sum() + (x * 3.0).sum()
    loss.backward()
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.grad is not None
        assert reference.grad is not None
        np.testing.assert_allclose(mine.grad.data, reference.grad.numpy(), rtol=1e-12)


def test_a_plain_backward_refuses_an_output_its_vjp_reads_modified_in_place() -> None:
    # Changed before its consumer used it, so only exp's own check can see it.
    x = cr.tensor([0.5, 1.0], requires_grad=True)
    e = x.exp()
    e.data[0] = 7.0
    e.increment_version()
    loss = (e * 2.0).sum()
    with pytest.raises(RuntimeError, match=r"output of exp .* modified in place"):
        loss.backward()


def test_grad_mode_is_back_on_after_a_plain_backward_that_raised() -> None:
    # Ported in our words from PyTorch's test_autograd (grad mode restored after errors).
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    x.data[0] = 5.0
    x.increment_version()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
    assert cr.is_grad_enabled()
    assert (x * 2.0).requires_grad


def test_a_second_plain_backward_through_a_freed_graph_names_the_op() -> None:
    # PyTorch's test_autograd: backward twice without retain_graph raises; ours names the op.
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = x.tanh().sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="graph through sum was already freed"):
        loss.backward()


def test_two_plain_backwards_with_retain_graph_accumulate() -> None:
    # PyTorch's test_autograd test_accumulate_grad, in our words: .grad adds up.
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [4.0, -8.0])


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda t: (READ.version(t), t.version), id="version"),
        pytest.param(lambda t: (READ.grad_fn(t), t.grad_fn), id="grad_fn"),
        pytest.param(lambda t: (READ.data(t), t.data), id="data"),
    ],
)
def test_the_sweeps_slot_readers_agree_with_the_public_properties(
    read: Callable[[cr.Tensor], tuple[object, object]],
) -> None:
    base = cr.tensor(np.arange(4.0), requires_grad=True)
    view = (base * 1.0).reshape(2, 2)
    view.data[0, 0] = 3.0
    view.increment_version()
    for tensor in (base, view):
        fast, public = read(tensor)
        assert fast is public or fast == public


def test_an_op_promotes_integers_by_the_dtypes_it_meets_each_time() -> None:
    # The promotion is remembered per combination of input dtypes, not per op.
    counts = cr.tensor(np.array([1, 2], dtype=np.int64))
    single = counts + cr.tensor(np.array([0.5, 0.5], dtype=np.float32))
    double = counts + cr.tensor(np.array([0.5, 0.5], dtype=np.float64))
    assert (single.dtype, double.dtype) == (np.float32, np.float64)
    assert (counts + counts).dtype == np.float32  # into a float-valued op: PyTorch's default


def test_nn_relu_records_relu_and_is_zero_below_zero_in_its_gradient() -> None:
    x = cr.tensor(np.array([[-1.0, 0.0, 2.0]], dtype=np.float32), requires_grad=True)
    out = nn.ReLU()(x)
    assert out.grad_fn is not None
    assert out.grad_fn.primitive.name == "relu"
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, np.array([[0.0, 0.0, 1.0]], dtype=np.float32))


def test_the_remembered_promotion_never_compares_dtypes_of_two_libraries() -> None:
    # array_api_strict warns (an error under our filterwarnings) when its dtypes meet
    # NumPy's; a key of one library must differ from the other's before their dtypes.
    xp = pytest.importorskip("array_api_strict")
    on_numpy = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    on_strict = cr.tensor(xp.asarray([1.0, 2.0], dtype=xp.float64), requires_grad=True)
    assert (on_numpy + on_numpy).dtype == np.float64
    assert (on_strict + on_strict).dtype == np.float64
