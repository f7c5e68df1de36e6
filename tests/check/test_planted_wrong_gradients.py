"""Planted wrong gradients, each built from PyTorch's right one: gradcheck fails every one,
names the array and the entry, and diagnoses the mistake; the right gradients pass with no
diagnosis. PyTorch's own gradcheck, given the same wrong rules in an autograd.Function, is
the oracle for the failures it can see at its tolerances."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest
import torch

from chainrule.check import Mistake, gradcheck

TorchLoss = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]
_RNG = np.random.default_rng(20261202)
_WEIGHTS = _RNG.standard_normal((3, 5))

FUNCTIONS: dict[str, tuple[TorchLoss, dict[str, np.ndarray]]] = {
    "sin times y": (
        lambda a: (torch.sin(a["x"]) * a["y"]).sum(),
        {"x": _RNG.standard_normal(5), "y": _RNG.standard_normal(5)},
    ),
    "exp(20 x)": (lambda a: torch.exp(20 * a["x"]).sum(), {"x": _RNG.uniform(-0.5, 0.5, 4)}),
    "squared matmul": (
        lambda a: ((a["A"] @ a["B"]) ** 2).sum(),
        {"A": _RNG.standard_normal((3, 4)), "B": _RNG.standard_normal((4, 3))},
    ),
    "tanh of a square matrix": (
        lambda a: torch.tanh(a["S"] @ a["v"]).sum() + (a["S"] ** 3).sum(),
        {"S": _RNG.standard_normal((4, 4)), "v": _RNG.standard_normal(4)},
    ),
    "logsumexp rows": (
        lambda a: torch.logsumexp(a["x"], 1).sum(),
        {"x": _RNG.standard_normal((3, 4))},
    ),
    "outer product output": (
        lambda a: (torch.outer(a["p"], a["q"]) * torch.from_numpy(_WEIGHTS)).sum(),
        {"p": _RNG.standard_normal(3), "q": _RNG.standard_normal(5)},
    ),
    "bias broadcast": (
        lambda a: (torch.tanh(a["X"] + a["b"]) ** 2).mean(),
        {"X": _RNG.standard_normal((6, 3)), "b": _RNG.standard_normal(3)},
    ),
    "norm": (lambda a: torch.linalg.norm(a["x"]), {"x": _RNG.standard_normal(6)}),
}

CASES = [(function, name) for function, (_, arrays) in FUNCTIONS.items() for name in arrays]


def _torch_gradients(function: str) -> dict[str, np.ndarray]:
    loss, arrays = FUNCTIONS[function]
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in arrays.items()}
    loss(leaves).backward()
    return {name: leaf.grad.numpy().copy() for name, leaf in leaves.items()}


def _loss_of_arrays(function: str) -> Callable[[Mapping[str, np.ndarray]], float]:
    loss, _ = FUNCTIONS[function]

    def loss_of_arrays(arrays: Mapping[str, np.ndarray]) -> float:
        with torch.no_grad():
            return float(loss({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}))

    return loss_of_arrays


def _torch_gradcheck(function: str, grads: Mapping[str, np.ndarray]) -> bool:
    """torch.autograd.gradcheck of the loss with `grads` as its backward (right at the point)."""
    loss, arrays = FUNCTIONS[function]
    names = list(arrays)

    class Planted(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs: torch.Tensor) -> torch.Tensor:
            return loss(dict(zip(names, inputs, strict=True))).detach()

        @staticmethod
        def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return tuple(grad_out * torch.from_numpy(grads[name]) for name in names)

    inputs = [torch.tensor(arrays[name], requires_grad=True) for name in names]
    return torch.autograd.gradcheck(Planted.apply, inputs, raise_exception=False)


def _check(function: str, grads: Mapping[str, np.ndarray]):
    return gradcheck(_loss_of_arrays(function), FUNCTIONS[function][1], grads)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_right_gradients_pass_with_no_diagnosis_as_in_torch(function: str) -> None:
    grads = _torch_gradients(function)
    report = _check(function, grads)
    assert report.ok, report
    assert all(row.diagnosis is None and row.kinks == 0 for row in report.rows)
    assert _torch_gradcheck(function, grads)


@pytest.mark.parametrize(("function", "name"), CASES)
@pytest.mark.parametrize(
    ("mistake", "kind", "factor"),
    [(-1.0, Mistake.SIGN_FLIPPED, -1.0), (2.0, Mistake.SCALED, 2.0)],
    ids=["sign", "twice"],
)
def test_a_scaled_gradient_fails_named_and_diagnosed_as_torch_fails_it(
    function: str, name: str, mistake: float, kind: Mistake, factor: float
) -> None:
    grads = _torch_gradients(function)
    wrong = {**grads, name: mistake * grads[name]}
    report = _check(function, wrong)
    assert report.failing == (name,), report
    row = report[name]
    assert row.status == "FAIL"
    assert row.diagnosis is not None
    assert row.diagnosis.kind is kind, row.diagnosis
    assert row.diagnosis.factor == pytest.approx(factor, rel=1e-6)
    assert " * expected" not in str(row.diagnosis)  # the factor named, with its usual cause
    assert not _torch_gradcheck(function, wrong)


@pytest.mark.parametrize(("function", "name"), CASES)
@pytest.mark.parametrize("where", ["largest", "smallest"])
def test_one_entry_off_by_1e_4_relative_fails_at_that_entry(
    function: str, name: str, where: str
) -> None:
    grads = _torch_gradients(function)
    magnitudes = np.abs(grads[name])
    # the smallest entry that is not a thousand times below the largest: smaller ones are
    # judged on absolute error (atol = 1e-3 * rtol * max|grad|), as documented
    eligible = np.where(magnitudes >= 1e-3 * magnitudes.max(), magnitudes, np.inf)
    flat = int(np.argmax(magnitudes)) if where == "largest" else int(np.argmin(eligible))
    entry = tuple(int(i) for i in np.unravel_index(flat, magnitudes.shape))
    wrong = {**grads, name: grads[name].copy()}
    wrong[name][entry] *= 1 + 1e-4
    report = _check(function, wrong)
    assert report.failing == (name,), report
    row = report[name]
    assert (row.status, row.worst_index) == ("FAIL", entry), row
    assert row.worst_values is not None
    assert row.worst_values[0] == wrong[name][entry]
    assert row.worst_values[1] == pytest.approx(grads[name][entry], rel=1e-6)
    assert row.max_rel_err == pytest.approx(1e-4, rel=1e-2)


@pytest.mark.parametrize(("function", "name"), [("tanh of a square matrix", "S")])
def test_a_transposed_square_gradient_is_diagnosed_as_such(function: str, name: str) -> None:
    grads = _torch_gradients(function)
    wrong = {**grads, name: grads[name].T.copy()}
    row = _check(function, wrong)[name]
    assert row.status == "FAIL"
    assert row.diagnosis is not None
    assert row.diagnosis.kind is Mistake.TRANSPOSED
    assert not _torch_gradcheck(function, wrong)


@pytest.mark.parametrize(
    ("function", "name"), [c for c in CASES if FUNCTIONS[c[0]][1][c[1]].ndim == 1]
)
def test_a_column_for_a_vector_is_a_shape_mismatch_with_the_right_values(
    function: str, name: str
) -> None:
    grads = _torch_gradients(function)
    row = _check(function, {**grads, name: grads[name].reshape(-1, 1)})[name]
    assert (row.status, row.grad_shape) == ("SHAPE MISMATCH", (grads[name].size, 1))
    assert row.diagnosis is not None
    assert row.diagnosis.kind is Mistake.SHAPE
    assert "the values are right" in str(row.diagnosis)
