"""`cr.hessian` (forward over reverse) and `cr.hvp` over the shared op table, against torch's
Hessian: L = sum(c * op(x)**2) with every input an argument, one variant per op (its last,
mostly the broadcasting or axis-reducing one), in float64. The Hessian-vector product is
checked against torch's Hessian times v, not torch's hvp, which is NaN for logcumsumexp."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from engine_cases import OpCase, relative_error
from test_second_order_sweep import FLOAT64_CASES, _loss_weights, draw

import chainrule as cr

pytestmark = pytest.mark.torch

TOLERANCE = 1e-10


@pytest.mark.parametrize("case", FLOAT64_CASES, ids=[case.name for case in FLOAT64_CASES])
def test_hessian_and_hvp_transforms_match_torch(torch: ModuleType, case: OpCase) -> None:
    arrays, params = draw(case, case.variants[-1])
    numbers = tuple(range(len(arrays)))

    def ours_loss(*xs):
        out = case.chainrule(*xs, **params)
        return (cr.tensor(_loss_weights(out.shape)) * out * out).sum()

    def torch_loss(*xs):
        out = case.torch(torch, *xs, **params)
        return (torch.from_numpy(_loss_weights(tuple(out.shape))) * out * out).sum()

    points = tuple(torch.from_numpy(a) for a in arrays)
    theirs = torch.autograd.functional.hessian(torch_loss, points)
    slopes = torch.autograd.functional.jacobian(torch_loss, points)
    # Where the Hessian vanishes (sqrt(x)**2 = x) both sides are rounding noise on the size
    # of the first gradient's terms.
    scale = max(
        max(float(np.max(np.abs(block.numpy()), initial=0.0)) for row in theirs for block in row),
        max(float(np.max(np.abs(slope.numpy()), initial=0.0)) for slope in slopes),
    )
    ours = cr.hessian(ours_loss, argnums=numbers)(*arrays)
    for i in numbers:
        for j in numbers:
            block = np.asarray(ours[i][j].numpy())
            reference = theirs[i][j].numpy()
            assert block.shape == reference.shape
            assert block.dtype == np.float64
            error = relative_error(block, reference, floor=scale)
            assert error <= TOLERANCE, f"{case.name} {params}: block ({i}, {j}) off by {error}"

    rng = np.random.default_rng(3)
    directions = tuple(rng.normal(size=a.shape) for a in arrays)
    products = cr.hvp(lambda xs: ours_loss(*xs), tuple(arrays), directions)
    for i, product in enumerate(products):
        expected = sum(
            np.tensordot(theirs[i][j].numpy(), v, axes=v.ndim) for j, v in enumerate(directions)
        )
        got = np.asarray(product.numpy())
        assert got.shape == arrays[i].shape
        assert got.dtype == np.float64
        size = max(float(np.max(np.abs(v), initial=0.0)) for v in directions)
        error = relative_error(got, expected, floor=scale * size)
        assert error <= TOLERANCE, f"{case.name} {params}: hvp of input {i} off by {error}"
