"""The function transforms against torch.func on one two-argument function, for every form of
argnums (an int, a negative int, tuples in any order): grad, value_and_grad, jacrev, jacfwd
and hessian give torch.func's values, shapes, dtypes and nesting. Then the cases around
the arguments: 0-d and NumPy-scalar inputs, float32 beside float64, results computed under
an outer no_grad, and pytree arguments with None leaves and a named tuple.

torch.func.jacfwd warns (torch.jit.script is deprecated) and, in torch 2.13, gives wrong
values for a negative argnums; its jacrev gives the same Jacobian, so it is the reference
for jacfwd and, applied twice, for hessian.
"""

from __future__ import annotations

import warnings
from collections import namedtuple
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(2026)
A = RNG.normal(size=(3,))
B = RNG.normal(size=(2, 3))


def scalar(a: Any, b: Any) -> Any:
    return ((a * b).sin() * b).sum()


def vector(a: Any, b: Any) -> Any:
    return (a * b).sin() * b


def assert_matches(got: Any, expected: Any, where: str, rtol: float = 1e-12) -> None:
    """`got` has the nesting, shapes and dtypes of torch's `expected`, and its values."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple), f"{where}: {type(got).__name__}, expected a tuple"
        assert len(got) == len(expected), where
        for index, (part, reference) in enumerate(zip(got, expected, strict=True)):
            assert_matches(part, reference, f"{where}[{index}]", rtol)
        return
    assert isinstance(got, cr.Tensor), f"{where}: {type(got).__name__}, expected a Tensor"
    reference = expected.detach().numpy()
    assert got.shape == reference.shape, f"{where}: shape {got.shape} vs {reference.shape}"
    assert got.dtype == reference.dtype, f"{where}: dtype {got.dtype} vs {reference.dtype}"
    np.testing.assert_allclose(got.numpy(), reference, rtol=rtol, atol=rtol, err_msg=where)


ARGNUMS = [0, 1, -1, -2, (0,), (1,), (0, 1), (1, 0), (-1, 0)]


def positive(argnums: int | tuple[int, ...]) -> int | tuple[int, ...]:
    return argnums % 2 if isinstance(argnums, int) else tuple(n % 2 for n in argnums)


@pytest.mark.parametrize("argnums", ARGNUMS, ids=str)
def test_every_transform_matches_torch_func_for_each_argnums(
    torch: ModuleType, argnums: int | tuple[int, ...]
) -> None:
    func = torch.func
    a, b = torch.tensor(A), torch.tensor(B)
    expected_grad = func.grad(scalar, argnums=argnums)(a, b)
    assert_matches(cr.grad(scalar, argnums=argnums)(A, B), expected_grad, "grad")

    value, gradient = cr.value_and_grad(scalar, argnums=argnums)(A, B)
    assert_matches(value, scalar(a, b), "value_and_grad value")
    assert_matches(gradient, expected_grad, "value_and_grad gradient")

    expected_jacobian = func.jacrev(vector, argnums=argnums)(a, b)
    assert_matches(cr.jacrev(vector, argnums=argnums)(A, B), expected_jacobian, "jacrev")
    assert_matches(cr.jacfwd(vector, argnums=argnums)(A, B), expected_jacobian, "jacfwd")

    # hessian = jacfwd(jacrev(f)); torch.func.jacrev twice gives the same blocks.
    expected_hessian = func.jacrev(func.jacrev(scalar, positive(argnums)), positive(argnums))(a, b)
    assert_matches(cr.hessian(scalar, argnums=argnums)(A, B), expected_hessian, "hessian")


@pytest.mark.parametrize(
    "point",
    [np.array(0.7), np.float64(0.7), np.array(0.7, np.float32), np.float32(0.7)],
    ids=["0-d float64", "np.float64", "0-d float32", "np.float32"],
)
def test_zero_dimensional_and_numpy_scalar_inputs(torch: ModuleType, point: Any) -> None:
    x = torch.tensor(np.asarray(point))
    rtol = 1e-12 if x.dtype == torch.float64 else 1e-6
    assert_matches(cr.grad(cr.sin)(point), torch.func.grad(torch.sin)(x), "grad", rtol)
    assert_matches(cr.jacrev(cr.sin)(point), torch.func.jacrev(torch.sin)(x), "jacrev", rtol)
    assert_matches(cr.jacfwd(cr.sin)(point), torch.func.jacrev(torch.sin)(x), "jacfwd", rtol)
    expected_hessian = torch.func.jacrev(torch.func.jacrev(torch.sin))(x)
    assert_matches(cr.hessian(cr.sin)(point), expected_hessian, "hessian", rtol)


def test_float32_beside_float64_gives_torch_funcs_dtypes(torch: ModuleType) -> None:
    # Reverse mode gives each argument's dtype (float32 for a), forward mode the output's
    # (float64: a * b promotes), as torch.func's jacrev and jacfwd.
    single = A.astype(np.float32)
    a, b = torch.tensor(single), torch.tensor(B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected_forward = torch.func.jacfwd(vector, argnums=(0, 1))(a, b)
    for transform, expected, f in (
        (cr.grad, torch.func.grad(scalar, argnums=(0, 1))(a, b), scalar),
        (cr.jacrev, torch.func.jacrev(vector, argnums=(0, 1))(a, b), vector),
        (cr.jacfwd, expected_forward, vector),
    ):
        got = transform(f, argnums=(0, 1))(single, B)
        assert_matches(got, expected, transform.__name__, 1e-6)


@pytest.mark.parametrize("transform", ["grad", "jacrev", "jacfwd", "hessian"])
def test_transforms_under_an_outer_no_grad_still_differentiate(
    torch: ModuleType, transform: str
) -> None:
    # As torch.func's: the transform differentiates f whatever the caller's grad mode.
    f = scalar if transform in ("grad", "hessian") else vector
    reference = {
        "grad": torch.func.grad(f),
        "jacrev": torch.func.jacrev(f),
        "jacfwd": torch.func.jacrev(f),
        "hessian": torch.func.jacrev(torch.func.jacrev(f)),
    }[transform]
    with cr.no_grad():
        got = getattr(cr, transform)(f)(A, B)
    assert not got.requires_grad
    assert_matches(got, reference(torch.tensor(A), torch.tensor(B)), transform)


Pair = namedtuple("Pair", "left right")


def test_pytree_with_none_leaves_and_a_named_tuple(torch: ModuleType) -> None:
    def loss(tree: dict[str, Any]) -> Any:
        pair = tree["pair"]
        return (tree["list"][0] * pair.left).sum() + (pair.right**3).sum()

    tree = {"pair": Pair(A, B), "skip": None, "list": [A * 2.0, None]}
    gradient = cr.grad(loss)(tree)
    assert gradient["skip"] is None
    assert gradient["list"][1] is None
    assert type(gradient["pair"]) is Pair
    # torch.func takes no None leaves; the same function without them is the reference.
    expected = torch.func.grad(loss)(
        {"pair": Pair(torch.tensor(A), torch.tensor(B)), "list": [torch.tensor(A * 2.0)]}
    )
    assert_matches(gradient["pair"].left, expected["pair"].left, "pair.left")
    assert_matches(gradient["pair"].right, expected["pair"].right, "pair.right")
    assert_matches(gradient["list"][0], expected["list"][0], "list[0]")
