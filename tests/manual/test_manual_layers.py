"""Hand-written layers: the same gradients as the functional network, clear misuse errors."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule import manual
from chainrule.check import compare, numerical_grad


def tutorial_model(params: dict[str, np.ndarray]) -> manual.Sequential:
    first = manual.Linear(
        params["w1"].shape[0], params["w1"].shape[1], rng=np.random.default_rng(0)
    )
    second = manual.Linear(
        params["w2"].shape[0], params["w2"].shape[1], rng=np.random.default_rng(0)
    )
    first.weight, first.bias = params["w1"].copy(), params["b1"].copy()
    second.weight, second.bias = params["w2"].copy(), params["b2"].copy()
    return manual.Sequential(first, manual.ReLU(), second)


@pytest.mark.parametrize("n_out", [1, 3])
def test_layers_give_the_functional_networks_loss_and_gradients(make_network, n_out: int) -> None:
    x, y, params = make_network(12, 5, 7, n_out)
    loss, cache = manual.forward(x, y, params)
    expected = manual.backward(cache)
    model, criterion = tutorial_model(params), manual.MSE()
    model_loss = criterion.forward(model.forward(x), y)
    grad_x = model.backward(criterion.backward())
    got = {
        "x": grad_x,
        **{
            name: model.gradients()[key]
            for name, key in [
                ("w1", "0.weight"),
                ("b1", "0.bias"),
                ("w2", "2.weight"),
                ("b2", "2.bias"),
            ]
        },
    }
    assert model_loss == pytest.approx(loss, rel=1e-15)
    for name, grad in got.items():
        result = compare(name, grad, expected[name], rtol=1e-12, atol=0)
        assert result.close, str(result)


def test_deeper_stack_matches_finite_differences(rng: np.random.Generator) -> None:
    model = manual.Sequential(
        manual.Linear(4, 6, rng=rng),
        manual.ReLU(),
        manual.Linear(6, 5, rng=rng),
        manual.ReLU(),
        manual.Linear(5, 2, rng=rng),
    )
    x, y = rng.random((9, 4)), rng.standard_normal((9, 2))
    criterion = manual.MSE()
    criterion.forward(model.forward(x), y)
    model.backward(criterion.backward())
    middle = model.layers[2]
    assert isinstance(middle, manual.Linear)

    def loss_at(weight: np.ndarray) -> float:
        original = middle.weight
        middle.weight = weight
        loss = manual.MSE().forward(model.forward(x), y)
        middle.weight = original
        return loss

    expected = numerical_grad(loss_at, middle.weight)
    result = compare("2.weight", model.gradients()["2.weight"], expected, rtol=1e-6, atol=1e-10)
    assert result.close, str(result)


def test_linear_has_pytorch_style_attributes_and_he_scaled_weights(
    rng: np.random.Generator,
) -> None:
    layer = manual.Linear(400, 300, rng=rng)
    assert layer.weight.shape == (400, 300)
    assert layer.bias.shape == (300,)
    assert np.all(layer.bias == 0)
    assert layer.weight.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert layer.grad_weight is None
    assert layer.grad_bias is None


def test_linear_backward_fills_grad_weight_and_grad_bias(rng: np.random.Generator) -> None:
    layer = manual.Linear(3, 2, rng=rng)
    x = rng.random((5, 3))
    grad_out = rng.standard_normal((5, 2))
    layer.forward(x)
    grad_in = layer.backward(grad_out)
    assert np.array_equal(layer.grad_weight, x.T @ grad_out)
    assert np.array_equal(layer.grad_bias, grad_out.sum(axis=0))
    assert np.array_equal(grad_in, grad_out @ layer.weight.T)


@pytest.mark.parametrize(
    "layer",
    [manual.Linear(3, 2, rng=np.random.default_rng(0)), manual.ReLU()],
    ids=["Linear", "ReLU"],
)
def test_backward_before_forward_says_to_call_forward_first(layer) -> None:
    with pytest.raises(RuntimeError, match=r"backward called before .*forward.*call forward"):
        layer.backward(np.ones((1, 2)))


def test_mse_backward_before_forward_says_to_call_forward_first() -> None:
    with pytest.raises(RuntimeError, match=r"MSE.backward called before MSE.forward"):
        manual.MSE().backward()


def test_mse_rejects_flat_targets_instead_of_broadcasting() -> None:
    with pytest.raises(ValueError, match=r"target of shape \(4,\).*\(N, N\).*reshape target"):
        manual.MSE().forward(np.zeros((4, 1)), np.zeros(4))


def test_linear_rejects_inputs_with_the_wrong_width(rng: np.random.Generator) -> None:
    with pytest.raises(
        ValueError,
        match=r"Linear\(3, 2\).forward got x of shape \(5, 4\), "
        r"expected \(N, 3\)",
    ):
        manual.Linear(3, 2, rng=rng).forward(np.ones((5, 4)))


def test_linear_rejects_grad_out_of_the_wrong_shape(rng: np.random.Generator) -> None:
    layer = manual.Linear(3, 2, rng=rng)
    layer.forward(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 5\), expected \(5, 2\)"):
        layer.backward(np.ones((2, 5)))


def test_sequential_names_parameters_like_pytorch(rng: np.random.Generator) -> None:
    model = manual.Sequential(
        manual.Linear(3, 4, rng=rng), manual.ReLU(), manual.Linear(4, 1, rng=rng)
    )
    assert list(model.parameters()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_gradients_before_backward_is_an_error(rng: np.random.Generator) -> None:
    with pytest.raises(RuntimeError, match=r"before backward"):
        manual.Sequential(manual.Linear(3, 4, rng=rng)).gradients()


@pytest.mark.torch
def test_mse_gradient_has_the_prediction_dtype_whatever_the_target_dtype(
    torch: ModuleType,
) -> None:
    # PyTorch's mse_loss of float32 predictions and int64 or float64 targets gives a float32
    # gradient; ours was float64 (NumPy promoted the residual), so every float32 layer below
    # got float64 gradients.
    pred = np.array([[0.5], [-1.25], [2.0]], dtype=np.float32)
    for target in (np.array([[1], [0], [3]]), np.array([[1.0], [0.1], [3.0]])):
        criterion = manual.MSE()
        criterion.forward(pred, target)
        grad_pred = criterion.backward()
        theirs = torch.tensor(pred, requires_grad=True)
        torch.nn.functional.mse_loss(theirs, torch.tensor(target)).backward()
        assert grad_pred.dtype == np.float32
        np.testing.assert_allclose(grad_pred, theirs.grad.numpy(), rtol=1e-6)


def test_linear_gradients_keep_each_variables_dtype_when_a_float64_input_meets_float32(
    rng: np.random.Generator,
) -> None:
    # As the engine (and PyTorch's .grad): the weight's and bias's gradients are float32 like
    # them, the input's float64 like it, even though the products were promoted to float64.
    layer = manual.Linear(3, 2, rng=rng, dtype=np.float32)
    layer.bias = rng.standard_normal(2).astype(np.float32)
    x = rng.standard_normal((5, 3))
    grad_out = rng.standard_normal((5, 2))
    layer.forward(x)
    grad_in = layer.backward(grad_out)
    x_t = cr.tensor(x, requires_grad=True)
    weight_t = cr.tensor(layer.weight, requires_grad=True)
    bias_t = cr.tensor(layer.bias, requires_grad=True)
    (x_t @ weight_t + bias_t).backward(grad_out)
    for ours, engine in ((layer.grad_weight, weight_t), (layer.grad_bias, bias_t), (grad_in, x_t)):
        assert engine.grad is not None
        assert ours is not None
        assert ours.dtype == engine.grad.dtype
        np.testing.assert_allclose(ours, engine.grad.numpy(), rtol=1e-6)
    assert (layer.grad_weight.dtype, grad_in.dtype) == (np.float32, np.float64)


def test_layers_take_lists_as_numpy_does_and_give_the_arrays_results(rng) -> None:
    # A list stopped with AttributeError ('list' object has no attribute 'ndim') or, in
    # ReLU, a TypeError about comparing a list with an int.
    x = [[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]
    model = manual.Sequential(
        manual.Linear(2, 3, rng=rng), manual.ReLU(), manual.Linear(3, 1, rng=rng)
    )
    criterion = manual.MSE()
    loss = criterion.forward(model.forward(x), [[1.0], [0.0], [2.0]])
    grad_x = model.backward(criterion.backward())
    grads = model.gradients()
    expected_loss = criterion.forward(model.forward(np.array(x)), np.array([[1.0], [0.0], [2.0]]))
    assert loss == expected_loss
    np.testing.assert_array_equal(grad_x, model.backward(criterion.backward()))
    for name, grad in grads.items():
        np.testing.assert_array_equal(grad, model.gradients()[name])
    assert manual.ReLU().forward([1.0, -2.0, 0.0]).tolist() == [1.0, 0.0, 0.0]
    criterion_ce = manual.SoftmaxCrossEntropy()
    assert criterion_ce.forward([[2.0, 0.0]], [0]) == pytest.approx(np.log1p(np.exp(-2.0)))


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (
            lambda rng: manual.Linear(2, 1, rng=rng).forward(np.ones((1, 2), complex)),
            "Linear.forward",
        ),
        (lambda rng: manual.ReLU().forward(np.array([["a"]])), "ReLU.forward"),
        (lambda rng: manual.MSE().forward(np.ones(2, complex), np.ones(2)), "MSE.forward"),
        (
            lambda rng: manual.SoftmaxCrossEntropy().forward(np.ones((1, 2), complex), [0]),
            "SoftmaxCrossEntropy.forward",
        ),
    ],
    ids=["Linear", "ReLU", "MSE", "SoftmaxCrossEntropy"],
)
def test_layers_refuse_values_that_are_not_real_numbers_by_name(rng, call, where) -> None:
    with pytest.raises(TypeError, match=rf"{where}: .* has dtype .*not a real number type"):
        call(rng)
