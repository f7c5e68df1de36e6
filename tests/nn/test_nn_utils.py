"""chainrule.nn.utils (clip_grad_norm_, clip_grad_value_, parameters_to_vector,
vector_to_parameters) and the Module conveniences torch users expect, against PyTorch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import (
    _flat_grad,
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)

SHAPES = [(3, 1, 2), (5,), (), (2, 7), (1,)]
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-6}


def _pairs(torch: Any, dtype: Any, scale: float = 1.0) -> tuple[list[nn.Parameter], list[Any]]:
    """Parameters of odd shapes in both libraries, equal values and gradients; the third has
    no gradient."""
    rng = np.random.default_rng(7)
    ours, theirs = [], []
    for index, shape in enumerate(SHAPES):
        values = rng.normal(size=shape).astype(dtype)
        param = nn.Parameter(values.copy())
        reference = torch.nn.Parameter(torch.from_numpy(values.copy()))
        if index != 2:
            grad = (scale * rng.normal(size=shape)).astype(dtype)
            param.grad = cr.tensor(grad.copy())
            reference.grad = torch.from_numpy(grad.copy())
        ours.append(param)
        theirs.append(reference)
    return ours, theirs


def _assert_grads_match(ours: list[nn.Parameter], theirs: list[Any], rtol: float) -> None:
    for param, reference in zip(ours, theirs, strict=True):
        if reference.grad is None:
            assert param.grad is None
            continue
        assert param.grad is not None
        assert param.grad.shape == tuple(reference.grad.shape)
        assert param.grad.dtype == reference.grad.numpy().dtype
        np.testing.assert_allclose(param.grad.data, reference.grad.numpy(), rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(torch: Any, dtype: Any, norm_type: float, max_norm: float):
    ours, theirs = _pairs(torch, dtype)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.shape == ()
    assert total.dtype == expected.numpy().dtype
    np.testing.assert_allclose(total.data, expected.numpy(), rtol=TOLERANCE[dtype])
    _assert_grads_match(ours, theirs, TOLERANCE[dtype])


@pytest.mark.parametrize("norm_type", [0.0, -math.inf, 2.0])
def test_clip_grad_norm_of_mixed_dtypes_promotes_the_total_as_torch(torch: Any, norm_type: float):
    rng = np.random.default_rng(1)
    ours, theirs = [], []
    for dtype in (np.float32, np.float64):
        grad = rng.normal(size=(3, 2)).astype(dtype)
        param = nn.Parameter(np.zeros((3, 2), dtype))
        param.grad = cr.tensor(grad.copy())
        reference = torch.nn.Parameter(torch.zeros(3, 2, dtype=torch.from_numpy(grad).dtype))
        reference.grad = torch.from_numpy(grad.copy())
        ours.append(param)
        theirs.append(reference)
    total = clip_grad_norm_(ours, 0.3, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.3, norm_type)
    assert total.dtype == expected.numpy().dtype == np.float64
    np.testing.assert_allclose(total.data, expected.numpy(), rtol=1e-12)
    _assert_grads_match(ours, theirs, 2e-6)


def test_clip_grad_norm_scales_to_max_norm_and_leaves_small_norms_alone():
    # From PyTorch's test_nn.py (test_clip_grad_norm): after clipping, the norm is max_norm
    # up to the 1e-6 guard; a norm already below max_norm leaves gradients equal.
    param = nn.Parameter(np.zeros(4))
    param.grad = cr.tensor(np.array([3.0, 4.0, 0.0, 0.0]))
    assert clip_grad_norm_(param, 1.25).item() == 5.0
    np.testing.assert_allclose(np.linalg.norm(param.grad.data), 1.25, rtol=1e-6)
    before = param.grad.data.copy()
    assert clip_grad_norm_([param], 10.0).item() == pytest.approx(1.25)
    np.testing.assert_array_equal(param.grad.data, before)


def test_clip_grad_norm_without_gradients_returns_float32_zero(torch: Any):
    param = nn.Parameter(np.ones(3))
    total = clip_grad_norm_([param], 1.0)
    expected = torch.nn.utils.clip_grad_norm_([torch.nn.Parameter(torch.ones(3))], 1.0)
    assert total.dtype == expected.numpy().dtype == np.float32
    assert total.item() == expected.item() == 0.0


def test_clip_grad_norm_warns_on_an_empty_generator():
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_norm_error_if_nonfinite_raises_before_changing_anything():
    # From PyTorch's test_nn.py (test_clip_grad_norm_error_if_nonfinite).
    param = nn.Parameter(np.zeros(2))
    param.grad = cr.tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match=r"clip_grad_norm_.*error_if_nonfinite=False"):
        clip_grad_norm_([param], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(param.grad.data, [np.inf, 1.0])
    assert np.isinf(clip_grad_norm_([param], 1.0).item())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_value_matches_torch(torch: Any, dtype: Any):
    # From PyTorch's test_nn.py (test_clip_grad_value): a single tensor and a list.
    ours, theirs = _pairs(torch, dtype, scale=3.0)
    assert clip_grad_value_(ours, 1.5) is None
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    _assert_grads_match(ours, theirs, 0.0)
    clip_grad_value_(ours[0], 0.25)
    torch.nn.utils.clip_grad_value_(theirs[0], 0.25)
    _assert_grads_match(ours, theirs, 0.0)


def test_clipping_bumps_the_gradient_version_so_a_saved_gradient_is_refused():
    param = nn.Parameter(np.ones(3))
    param.grad = cr.tensor(np.array([3.0, 4.0, 12.0]), requires_grad=True)
    weight = cr.tensor(np.ones(3), requires_grad=True)
    out = (param.grad * weight).sum()  # saves the gradient for weight's gradient
    clip_grad_norm_([param], 1.0)
    with pytest.raises(RuntimeError, match="in place"):
        out.backward()


@pytest.mark.parametrize("clip", ["norm", "norm_inf", "value"])
def test_clipping_a_flat_buffer_is_bit_identical_to_per_parameter_clipping(clip: str):
    def clipped(foreach: bool) -> list[np.ndarray]:
        rng = np.random.default_rng(3)
        model = nn.Sequential(nn.Linear(5, 7, rng=rng), nn.Tanh(), nn.Linear(7, 3, rng=rng))
        model.flatten_parameters()
        x = cr.tensor(np.random.default_rng(3).normal(size=(11, 5)))
        (model(x) ** 2).sum().backward()
        grads = [p.grad for p in model.parameters()]
        assert _flat_grad(list(model.parameters())) is not None  # one buffer slice
        if clip == "value":
            clip_grad_value_(model.parameters(), 0.1, foreach=foreach)
        else:
            norm_type = math.inf if clip == "norm_inf" else 2.0
            clip_grad_norm_(model.parameters(), 0.3, norm_type=norm_type, foreach=foreach)
        assert [p.grad for p in model.parameters()] == grads  # in place, same tensors
        return [g.data.copy() for g in grads]

    for flat, alone in zip(clipped(True), clipped(False), strict=True):
        assert flat.tobytes() == alone.tobytes()


def test_training_with_clipping_follows_torch_step_for_step(torch: Any):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)), rng.normal(size=(16, 2))
    model = nn.Sequential(
        nn.Linear(4, 8, rng=rng, dtype=np.float64), nn.Tanh(), nn.Linear(8, 2, dtype=np.float64)
    )
    reference = torch.nn.Sequential(
        torch.nn.Linear(4, 8, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 2, dtype=torch.float64),
    )
    with torch.no_grad():
        for layer, theirs in ((model[0], reference[0]), (model[2], reference[2])):
            theirs.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
            theirs.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        ((model(cr.tensor(x)) - cr.tensor(y)) ** 2).mean().backward()
        total = clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        reference_optimizer.zero_grad()
        ((reference(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean().backward()
        expected = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        reference_optimizer.step()
        np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-9)
    np.testing.assert_allclose(
        model[0].weight.data, reference[0].weight.detach().numpy().T, rtol=1e-9
    )
    np.testing.assert_allclose(model[2].bias.data, reference[2].bias.detach().numpy(), rtol=1e-9)


def test_parameters_to_vector_joins_values_and_passes_gradients_back(torch: Any):
    # From PyTorch's test_nn.py (test_vector_to_parameters): the round trip.
    ours, theirs = _pairs(torch, np.float64)
    vector = parameters_to_vector(ours)
    expected = torch.nn.utils.parameters_to_vector(theirs)
    assert vector.shape == tuple(expected.shape)
    np.testing.assert_array_equal(vector.data, expected.detach().numpy())
    for param, reference in zip(ours, theirs, strict=True):
        param.grad, reference.grad = None, None
    (vector * vector).sum().backward()
    (expected * expected).sum().backward()
    _assert_grads_match(ours, theirs, 0.0)


def test_vector_to_parameters_gives_each_parameter_its_slice(torch: Any):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    parameter = next(iter(model.parameters()))
    total = sum(p.size for p in model.parameters())
    vec = cr.tensor(np.arange(total, dtype=np.float64))
    vector_to_parameters(vec, model.parameters())
    assert next(iter(model.parameters())) is parameter
    np.testing.assert_array_equal(parameters_to_vector(model.parameters()).data, vec.data)
    np.testing.assert_array_equal(model[0].weight.data, np.arange(12.0).reshape(3, 4))


def test_vector_to_parameters_refuses_a_vector_of_the_wrong_length():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"vector_to_parameters: vec has shape \(9,\).*8 values"):
        vector_to_parameters(cr.tensor(np.zeros(9)), model.parameters())
    with pytest.raises(TypeError, match="vector_to_parameters: expected a Tensor"):
        vector_to_parameters(np.zeros(8), model.parameters())  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_vector_to_parameters_refuses_an_integer_vector_leaving_every_parameter(
    torch: Any, dtype: Any
):
    # The weight's slice is exact in float32, the bias's 16777217 is not: each slice was
    # cast on its own, so the weight took new values before the bias was refused.
    model = nn.Linear(2, 1, dtype=np.float32)
    before = [p.numpy().copy() for p in model.parameters()]
    values = np.array([1, 0, 16777217]).astype(dtype)
    with pytest.raises(RuntimeError, match="must be floating point"):
        torch.nn.utils.vector_to_parameters(
            torch.tensor(values), torch.nn.Linear(2, 1).parameters()
        )
    with pytest.raises(TypeError, match=rf"^vector_to_parameters: vec has dtype {np.dtype(dtype)}"):
        vector_to_parameters(cr.tensor(values, dtype=dtype), model.parameters())
    for param, old in zip(model.parameters(), before, strict=True):
        assert param.dtype == np.float32
        np.testing.assert_array_equal(param.numpy(), old)


def test_vector_to_parameters_adopts_a_float_vectors_dtype_as_torch(torch: Any):
    model = nn.Linear(2, 1, dtype=np.float32)
    reference = torch.nn.Linear(2, 1)
    vector_to_parameters(cr.tensor(np.arange(3.0)), model.parameters())
    torch.nn.utils.vector_to_parameters(
        torch.arange(3.0, dtype=torch.float64), reference.parameters()
    )
    assert [p.dtype for p in model.parameters()] == [np.float64] * 2
    assert {p.dtype for p in reference.parameters()} == {torch.float64}


# --- Module conveniences


def test_apply_visits_children_before_their_parent_and_returns_the_module(torch: Any):
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Linear(3, 1)))
    reference = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Linear(3, 1))
    )
    visited: list[str] = []
    expected: list[str] = []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    reference.apply(lambda m: expected.append(type(m).__name__))
    assert visited == expected == ["Linear", "Tanh", "Linear", "Sequential", "Sequential"]


def test_requires_grad_false_freezes_every_parameter():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    assert model.requires_grad_(False) is model
    assert [p.requires_grad for p in model.parameters()] == [False] * 4
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_double_and_float_convert_in_place_keeping_parameters_and_integer_buffers():
    model = nn.Sequential(nn.Linear(2, 3, dtype=np.float32), nn.BatchNorm1d(3))
    model[1].register_buffer("steps", np.array(3, dtype=np.int64))
    params = list(model.parameters())
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    model(cr.tensor(np.ones((4, 2), dtype=np.float32))).sum().backward()
    assert model.double() is model
    assert list(model.parameters()) == params
    assert {p.dtype for p in params} == {p.grad.dtype for p in params} == {np.dtype(np.float64)}
    assert model[1].running_mean.dtype == np.float64
    assert model[1].steps.dtype == np.int64
    optimizer.step()  # the optimizer still holds the same, converted parameters
    assert model.float() is model
    assert {p.dtype for p in params} == {np.dtype(np.float32)}
    assert model[1].running_var.dtype == np.float32
