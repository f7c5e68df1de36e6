"""How backward stores into `.grad`: an existing `.grad` that a graph uses is never changed
under that graph."""

import numpy as np
import pytest

import chainrule as cr


def test_backward_adds_into_a_recorded_grad_in_place_as_torch_does() -> None:
    w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w**3).sum().backward(create_graph=True)
    first_grad = w.grad
    assert first_grad is not None
    penalty = (first_grad * first_grad).sum()
    penalty.backward()
    # torch: the accumulation runs under no_grad, into the same tensor, which keeps its
    # grad_fn: w.grad is first_grad, now 3w^2 + 36 w^3
    assert w.grad is first_grad
    assert first_grad.requires_grad
    np.testing.assert_allclose(w.grad.data, np.array([3.0 + 36.0, 12.0 + 288.0]), rtol=1e-12)


def test_a_graph_that_saved_a_recorded_grad_sees_a_later_backward_change_it() -> None:
    w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w**3).sum().backward(create_graph=True)
    assert w.grad is not None
    penalty = (w.grad * w.grad).sum()
    (w**2).sum().backward()
    with pytest.raises(RuntimeError, match="modified in place"):
        penalty.backward()  # torch: "modified by an inplace operation"


def test_accumulating_into_a_grad_that_a_graph_saved_is_detected() -> None:
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (a * 2).sum().backward()
    assert a.grad is not None
    b = cr.tensor(np.array([1.0, 1.0]), requires_grad=True)
    uses_grad = (b * a.grad).sum()
    (a * 3).sum().backward()
    with pytest.raises(RuntimeError, match="modified in place"):
        uses_grad.backward()


@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "sqrt"])
def test_changing_an_output_its_op_saved_is_detected(op: str) -> None:
    x = cr.tensor(np.array([0.5, 1.0]), requires_grad=True)
    out = getattr(x, op)()
    with cr.no_grad():
        out.mul_(2)
    with pytest.raises(RuntimeError, match=rf"output of {op} .* modified in place"):
        out.sum().backward()


def test_changing_an_intermediate_output_its_op_saved_is_detected() -> None:
    x = cr.tensor(np.array([0.5, 1.0]), requires_grad=True)
    hidden = x.tanh()
    hidden.data += 1  # before its consumers are built, so only tanh's own record can tell
    loss = (hidden * 3).sum()
    with pytest.raises(RuntimeError, match=r"output of tanh .* modified in place"):
        loss.backward()


def test_changing_an_output_its_op_did_not_save_is_allowed() -> None:
    x = cr.tensor(np.array([0.5, 1.0]), requires_grad=True)
    out = x * 2
    with cr.no_grad():
        out.add_(1)
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, np.array([2.0, 2.0]))


@pytest.mark.parametrize(
    ("param_dtype", "grad_dtype"),
    [(np.float32, np.float64), (np.float64, np.float32)],
)
def test_assigning_a_gradient_of_another_dtype_is_refused_naming_both(
    param_dtype: type, grad_dtype: type
) -> None:
    # As PyTorch ("attempting to assign a gradient with dtype 'double' to a tensor with
    # grad_dtype 'Float'"): accepted, the optimizers mixed a float64 gradient into float32
    # updates and state without a word.
    param = cr.tensor(np.zeros(3, param_dtype), requires_grad=True)
    message = (
        f"gradient of dtype {np.dtype(grad_dtype)} to a tensor of dtype {np.dtype(param_dtype)}"
    )
    with pytest.raises(TypeError, match=message):
        param.grad = cr.tensor(np.ones(3, grad_dtype))
    assert param.grad is None


def test_a_gradient_refused_for_its_dtype_names_the_conversion() -> None:
    param = cr.tensor(np.zeros(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match=r"grad\.astype\('float32'\)"):
        param.grad = cr.tensor(np.ones(3))
    param.grad = cr.tensor(np.ones(3)).astype("float32")
    assert param.grad is not None
    assert param.grad.dtype == np.float32


def test_a_float64_seed_gradient_still_fills_a_float32_leaf_in_its_dtype() -> None:
    # As PyTorch: backward's seed is cast to the output's dtype; only `.grad =` is strict.
    leaf = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    (leaf * 2).sum().backward(cr.tensor(np.array(1.0)))
    assert leaf.grad is not None
    assert leaf.grad.dtype == np.float32
    np.testing.assert_array_equal(leaf.grad.data, np.full(3, 2.0, np.float32))


def test_assigning_a_gradient_of_another_library_is_refused_naming_both_devices() -> None:
    # As PyTorch (a gradient on another device than its tensor is refused): accepted, SGD
    # updated the NumPy parameter through the other library's array.
    strict = pytest.importorskip("array_api_strict")
    param = cr.tensor(np.zeros(3), requires_grad=True)
    grad = cr.tensor(strict.asarray(np.ones(3)))
    with pytest.raises(TypeError, match=r"gradient on array_api_strict:\S+ to a tensor on cpu"):
        param.grad = grad
    param.grad = grad.to(param.device)
    assert param.grad is not None
    assert param.grad.device == "cpu"
