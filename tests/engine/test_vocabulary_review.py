"""An adversarial review of the vocabulary ops (ops/vocabulary.py, ops/creation.py and the new
parts of functional.py) against PyTorch 2.13, on the cases their first tests did not try:
dtypes other than float64 and float32, shapes that broadcast past the op's own, values past
float64's exact integers. Each test here failed before the fix named in its docstring."""

from __future__ import annotations

import re
from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import check

TORCH = pytest.mark.torch


# ------------------------------------------------------------------ clone and nan_to_num
@TORCH
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int32, np.int64])
def test_clone_and_nan_to_num_keep_an_integer_or_bool_dtype_as_torch(
    torch: ModuleType, dtype: type
) -> None:
    """clone was x * 1, which made a bool tensor int64."""
    values = np.array([[1, 0], [0, 1]], dtype=dtype)
    x = cr.Tensor.from_numpy(values)
    for ours, theirs in (
        (x.clone(), torch.from_numpy(values).clone()),
        (cr.nan_to_num(x), torch.nan_to_num(torch.from_numpy(values))),
    ):
        assert ours.dtype == np.dtype(dtype) == theirs.numpy().dtype
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert not np.shares_memory(ours.numpy(), values)


# ------------------------------------------------------------------ round(decimals)
@TORCH
@pytest.mark.parametrize("decimals", [-2, -1, 1, 2, 3, 4])
def test_round_decimals_in_float16_matches_torch_without_overflowing(
    torch: ModuleType, decimals: int
) -> None:
    """round(decimals) scaled in float16, where 1234.5 * 100 overflows: inf came back (torch
    computes half in float32 and rounds the result back)."""
    values = np.array([1234.5678, 31415.9, 25.0, 65.5, -2.5, 0.0349, 1e-5, -0.0], np.float16)
    x = cr.tensor(values, requires_grad=True)
    rounded = x.round(decimals)
    assert rounded.dtype == np.float16
    expected = torch.from_numpy(values).round(decimals=decimals).numpy()
    np.testing.assert_array_equal(rounded.numpy(), expected)
    rounded.sum().backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float16
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(values.shape, np.float16))


# ------------------------------------------------------------------ addmm and baddbmm
@TORCH
@pytest.mark.parametrize(
    ("op", "input_shape", "left_shape", "right_shape"),
    [
        ("addmm", (2, 3, 5), (3, 4), (4, 5)),
        ("addmm", (4, 1), (3, 4), (4, 5)),
        ("baddbmm", (4, 2, 3, 5), (2, 3, 4), (2, 4, 5)),
        ("baddbmm", (2, 3, 1, 5), (2, 3, 4), (2, 4, 5)),
    ],
)
def test_addmm_and_baddbmm_refuse_an_input_that_widens_the_product_as_torch(
    torch: ModuleType,
    op: str,
    input_shape: tuple[int, ...],
    left_shape: tuple[int, ...],
    right_shape: tuple[int, ...],
) -> None:
    """input must broadcast to the product's shape; one that broadcast with it (a batch of
    inputs for one product) gave a larger result where torch refuses."""
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=shape) for shape in (input_shape, left_shape, right_shape)]
    with pytest.raises(RuntimeError):
        getattr(torch, op)(*map(torch.from_numpy, arrays))
    with pytest.raises(ValueError, match=rf"{op}: input of shape .* product's shape"):
        getattr(cr, op)(*arrays)


@TORCH
@pytest.mark.parametrize("input_shape", [(), (5,), (1, 5), (3, 1), (3, 5)])
def test_addmm_takes_an_input_that_broadcasts_to_the_product_as_torch(
    torch: ModuleType, input_shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=shape) for shape in (input_shape, (3, 4), (4, 5))]
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = cr.addmm(*ours, beta=0.5, alpha=-2.0)
    reference = torch.addmm(*theirs, beta=0.5, alpha=-2.0)
    assert out.shape == tuple(reference.shape)
    np.testing.assert_allclose(out.numpy(), reference.detach().numpy(), rtol=1e-12)
    cotangent = rng.normal(size=out.shape)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    for mine, torch_input in zip(ours, theirs, strict=True):
        assert mine.grad is not None
        np.testing.assert_allclose(mine.grad.numpy(), torch_input.grad.numpy(), rtol=1e-10)


# ------------------------------------------------------------------ factories
@TORCH
def test_integer_factories_are_exact_past_two_to_the_53_as_torch(torch: ModuleType) -> None:
    """full and arange went through float64, so int64 values past 2**53 were rounded."""
    big = 2**53 + 1
    pairs = [
        (cr.full((2,), big, dtype=np.int64), torch.full((2,), big, dtype=torch.int64)),
        (cr.full_like(cr.zeros(3, dtype=np.int64), -big), torch.full((3,), -big)),
        (cr.arange(big, big + 4, dtype=np.int64), torch.arange(big, big + 4)),
        (cr.arange(big + 6, big, -3, dtype=np.int64), torch.arange(big + 6, big, -3)),
    ]
    for made, reference in pairs:
        assert made.dtype == np.int64
        np.testing.assert_array_equal(made.numpy(), reference.numpy())


@TORCH
@pytest.mark.parametrize(
    ("value", "dtype"), [(300, np.int8), (-1, np.uint8), (2**63, np.int64), (1e40, np.float32)]
)
def test_full_refuses_a_value_its_dtype_cannot_hold(
    torch: ModuleType, value: float, dtype: type
) -> None:
    """NumPy's cast wrapped 300 to 44 in int8 and made 1e40 inf in float32 (torch refuses
    both; it wraps -1 to 255 in uint8, which chainrule refuses as its operators do)."""
    if value != -1:
        with pytest.raises(RuntimeError, match="without overflow"):
            torch.full((2,), value, dtype=getattr(torch, np.dtype(dtype).name))
    message = re.escape(f"full: the value {value!r} does not fit {np.dtype(dtype)}")
    with pytest.raises(ValueError, match=message):
        cr.full((2,), value, dtype=dtype)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_full_refuses_nan_and_inf_in_an_integer_dtype(value: float) -> None:
    """NaN became the int64 minimum, silently (with a RuntimeWarning)."""
    with pytest.raises(ValueError, match=r"full: the value .* does not fit int64"):
        cr.full((2,), value, dtype=np.int64)


@TORCH
def test_full_keeps_torch_truncation_of_a_fraction_and_nan_inf_in_floats(
    torch: ModuleType,
) -> None:
    np.testing.assert_array_equal(
        cr.full((2,), -2.7, dtype=np.int64).numpy(), torch.full((2,), -2.7, dtype=torch.int64)
    )
    for value in (float("nan"), float("inf"), -float("inf")):
        np.testing.assert_array_equal(cr.full((2,), value).numpy(), torch.full((2,), value))


@pytest.mark.parametrize(
    ("start", "end", "step"), [(0, 5, 0.5), (-2.5, 2, 1), (0, 5, 1.5), (0, 4.5, 1)]
)
def test_arange_refuses_fractions_with_an_integer_dtype(
    start: float, end: float, step: float
) -> None:
    """NumPy cast the float64 range: arange(-2.5, 2, 1) was [-2, -1, 0, 0, 1] in int64, and
    arange(0, 5, 0.5) [0, 0, 1, 1, ...] (torch truncates differently, or refuses)."""
    with pytest.raises(ValueError, match="arange: with dtype int64, start, end and step"):
        cr.arange(start, end, step, dtype=np.int64)


def test_arange_takes_whole_floats_with_an_integer_dtype() -> None:
    np.testing.assert_array_equal(cr.arange(0.0, 6.0, 2.0, dtype=np.int32).numpy(), [0, 2, 4])


@TORCH
@pytest.mark.parametrize("factory", ["rand", "randn"])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_rand_and_randn_refuse_an_integer_dtype_as_torch(
    torch: ModuleType, factory: str, dtype: type
) -> None:
    """rand(dtype=int64) truncated every draw to 0, silently."""
    with pytest.raises(RuntimeError, match="not implemented"):
        getattr(torch, factory)(3, dtype=getattr(torch, np.dtype(dtype).name))
    with pytest.raises(TypeError, match=rf"{factory}: dtype must be a float dtype"):
        getattr(cr, factory)(3, rng=np.random.default_rng(0), dtype=dtype)


# ------------------------------------------------------------------ float16 norms
FLOAT16_NORMS = {
    "norm": (lambda x: x.norm(axis=1), lambda t, x: t.linalg.vector_norm(x, dim=1)),
    "norm_3": (lambda x: x.norm(ord=3, axis=1), lambda t, x: t.linalg.vector_norm(x, 3, dim=1)),
    "normalize": (lambda x: F.normalize(x), lambda t, x: t.nn.functional.normalize(x)),
    "normalize_3": (lambda x: F.normalize(x, 3), lambda t, x: t.nn.functional.normalize(x, 3.0)),
    "cosine_similarity": (
        lambda x: F.cosine_similarity(x, x[::-1]),
        lambda t, x: t.nn.functional.cosine_similarity(x, x.flip(0)),
    ),
    "pairwise_distance": (
        lambda x: F.pairwise_distance(x, x[::-1] * 0.5),
        lambda t, x: t.nn.functional.pairwise_distance(x, x.flip(0) * 0.5),
    ),
    "std": (lambda x: x.std(axis=1), lambda t, x: x.std(dim=1, correction=0)),
}


@TORCH
@pytest.mark.parametrize("scale", [300.0, 1e-4], ids=["large", "small"])
@pytest.mark.parametrize("name", sorted(FLOAT16_NORMS))
def test_float16_norms_do_not_overflow_or_underflow_in_their_powers(
    torch: ModuleType, name: str, scale: float
) -> None:
    """The norms raised float16 entries to powers in float16: 300**2 is past float16's 65504
    (norm inf, normalize 0) and 1e-4**2 below its smallest (norm 0). Values as torch (which
    computes half's norms in float32), gradients as torch in float64 on the same float16
    inputs (torch's own float16 gradient of the 3-norm overflows to inf there)."""
    ours, theirs = FLOAT16_NORMS[name]
    values = (np.random.default_rng(3).uniform(0.5, 1.0, size=(3, 4)) * scale).astype(np.float16)
    values[1] *= -1
    x = cr.tensor(values, requires_grad=True)
    out = ours(x)
    assert out.dtype == np.float16
    in_half = theirs(torch, torch.from_numpy(values)).numpy()
    np.testing.assert_allclose(out.numpy(), in_half, rtol=4e-3)
    reference_input = torch.tensor(values.astype(np.float64), requires_grad=True)
    reference = theirs(torch, reference_input)
    np.testing.assert_allclose(out.numpy(), reference.detach().numpy(), rtol=4e-3)
    cotangent = np.linspace(0.5, 1.5, out.size).reshape(out.shape).astype(np.float16)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent.astype(np.float64)))
    assert x.grad is not None
    assert x.grad.dtype == np.float16
    expected = reference_input.grad.numpy()
    np.testing.assert_allclose(
        x.grad.numpy(), expected, rtol=8e-3, atol=4e-3 * np.abs(expected).max()
    )


# ------------------------------------------------------------------ interpolate
@TORCH
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("scale_factor", [1.1, 1.3, 2.2, 7 / 3, 1.0, 2.0, 0.5])
@pytest.mark.parametrize("spatial", [(2,), (3, 5), (2, 3, 4)], ids=["1d", "2d", "3d"])
def test_interpolate_by_a_factor_near_1_or_2_takes_torchs_sources(
    torch: ModuleType, mode: str, scale_factor: float, spatial: tuple[int, ...]
) -> None:
    """With scale_factor 1.1 on 2 entries the output has 2 entries, and torch's 1-D and 3-D
    forward takes source floor(i / 1.1) = 0 for both; a shortcut for output size = input size
    (or twice it), which only torch's 2-D "nearest" kernel takes, took i (or i // 2) there,
    silently. The gradient is checked against central differences, not torch: torch's 1-D and
    3-D backward take that shortcut where their forward does not (its gradcheck fails)."""
    values = np.random.default_rng(2).normal(size=(2, 3, *spatial))
    x = cr.tensor(values, requires_grad=True)
    out = F.interpolate(x, scale_factor=scale_factor, mode=mode)
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(values), scale_factor=scale_factor, mode=mode
    )
    assert out.shape == tuple(reference.shape)
    np.testing.assert_array_equal(out.numpy(), reference.numpy())
    weights = np.random.default_rng(3).normal(size=out.shape)
    (out * weights).sum().backward()
    assert x.grad is not None

    def loss(given: dict[str, np.ndarray]) -> float:
        resized = F.interpolate(cr.tensor(given["x"]), scale_factor=scale_factor, mode=mode)
        return float(np.sum(resized.numpy() * weights))

    report = check.gradcheck(loss, {"x": values}, {"x": x.grad.numpy()})
    assert report.ok, report.failing


# ------------------------------------------------------------------ amax and amin
@TORCH
@pytest.mark.parametrize("op", ["amax", "amin"])
@pytest.mark.parametrize(
    "dim", [(), [], [0, -1], [1]], ids=["empty_tuple", "empty_list", "list", "one"]
)
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_and_amin_take_torchs_dim_forms(
    torch: ModuleType, op: str, dim: list[int] | tuple[int, ...], keepdim: bool
) -> None:
    """torch.amax's dim=() (its default) reduces every axis, where NumPy's axis=() reduces
    none: amax(x, ()) came back unreduced, silently; a list of dims raised NumPy's
    TypeError."""
    values = np.random.default_rng(4).normal(size=(2, 3, 4))
    values[1, 2, 3] = values[0, 0, 0]  # a tie across rows
    x = cr.tensor(values, requires_grad=True)
    reference_input = torch.tensor(values, requires_grad=True)
    out = getattr(x, op)(dim, keepdim=keepdim)
    reference = getattr(reference_input, op)(dim, keepdim=keepdim)
    assert out.shape == tuple(reference.shape)
    np.testing.assert_array_equal(out.numpy(), reference.detach().numpy())
    cotangent = np.random.default_rng(5).normal(size=out.shape)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), reference_input.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.dtype(np.int32), "float16"])
def test_view_of_a_dtype_is_refused_by_name(dtype: object) -> None:
    """torch's view(dtype) reinterprets bytes; here it raised NumPy's "'type' object is not
    iterable", which names neither the op nor the fix."""
    with pytest.raises(TypeError, match=r"view: torch's view\(dtype\).* astype"):
        cr.tensor(np.zeros((2, 3))).view(dtype)


@TORCH
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spatial", [1, 3])
def test_interpolate_to_a_size_in_1d_and_3d_takes_torchs_sources_in_the_input_dtype(
    torch: ModuleType, mode: str, dtype: type, spatial: int
) -> None:
    """torch's 1-D and 3-D kernels compute the source in the input's dtype (float64 for
    float64) and floor it as a float32; the float32 formula of the 2-D kernel, taken for every
    rank, picked a neighbouring source silently, e.g. 14 entries resized to 46 in float64
    (nearest) or 2 to 41 (nearest-exact)."""
    lead = (1,) * (spatial - 1)
    for n in range(1, 30):
        values = np.arange(n, dtype=dtype).reshape(1, 1, *lead, n)
        for m in range(1, 70):
            ours = F.interpolate(cr.tensor(values), size=(*lead, m), mode=mode).numpy()
            theirs = torch.nn.functional.interpolate(
                torch.from_numpy(values), size=(*lead, m), mode=mode
            ).numpy()
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{n} -> {m}")


@TORCH
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interpolate_in_2d_takes_torchs_formula_on_either_side_of_its_size_switch(
    torch: ModuleType, mode: str, dtype: type
) -> None:
    """torch's 2-D kernel computes the sources in float32 while the output's height plus
    width is at most 128, and as its 1-D and 3-D kernels past that: scale_factor 3.7 on 35
    entries (129 out) picks source 30 for output 111 in float64, on 34 entries (125 out) 29.
    Following float32 always picked a neighbouring source silently past the switch."""
    rng = np.random.default_rng(5)
    cases = [((n, 1), {"scale_factor": (3.7, 1.0)}) for n in (33, 34, 35, 36)]
    for _ in range(150):
        ins = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        if rng.random() < 0.5:
            factors = tuple(float(rng.choice([0.7, 1.0, 1.7, 2.0, 2.3, 3.1, 3.7])) for _ in ins)
            if all(int(n * f) > 0 for n, f in zip(ins, factors, strict=True)):
                cases.append((ins, {"scale_factor": factors}))
        else:
            cases.append((ins, {"size": (int(rng.integers(1, 140)), int(rng.integers(1, 140)))}))
    for ins, given in cases:
        values = rng.normal(size=(1, 2, *ins)).astype(dtype)
        ours = F.interpolate(cr.tensor(values), mode=mode, **given).numpy()
        theirs = torch.nn.functional.interpolate(
            torch.from_numpy(values), mode=mode, **given
        ).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{ins} {given}")


# ------------------------------------------------------------------ Python data beside a tensor
def test_matrix_products_take_python_data_in_the_tensors_dtype_as_the_operator() -> None:
    """mm, matmul, bmm, addmm and baddbmm made a list or a float operand float32 (as
    chainrule.tensor does) before multiplying a float64 tensor: 0.1 came back as
    0.10000000149011612, where x @ [[0.1]] keeps 0.1 (the number takes the tensor's dtype)."""
    x = cr.tensor(np.ones((1, 1)))
    batch = cr.tensor(np.ones((1, 1, 1)))
    results = [
        x @ [[0.1]],
        x.mm([[0.1]]),
        x.matmul([[0.1]]),
        batch.bmm([[[0.1]]]),
        cr.addmm(0.1, x, np.zeros((1, 1))),
        cr.addmm([0.1], x, np.zeros((1, 1))),
        cr.addmm(np.zeros((1, 1)), [[0.1]], x),
        cr.baddbmm(0.1, batch, np.zeros((1, 1, 1))),
        cr.baddbmm(np.zeros(1), [[[0.1]]], batch),
    ]
    for result in results:
        assert result.dtype == np.float64
        assert result.numpy().item() == 0.1


@TORCH
@pytest.mark.parametrize("op", ["cosine_similarity", "pairwise_distance", "cdist"])
def test_distances_take_python_data_in_the_other_operands_dtype(torch: ModuleType, op: str) -> None:
    """A list beside a float64 array was made float32 first: 0.1 became 0.10000000149, and
    the distances came back off in float64's seventh digit, silently."""
    left = np.array([[0.1, 0.3, -0.7]])
    right = [[0.2, 0.1, 0.4]]
    ours = getattr(F, op)(left, right)
    functional = torch if op == "cdist" else torch.nn.functional
    theirs = getattr(functional, op)(
        torch.from_numpy(left), torch.tensor(right, dtype=torch.float64)
    )
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-14)
    flipped = getattr(F, op)(right, left)
    np.testing.assert_allclose(
        flipped.numpy(),
        getattr(functional, op)(
            *reversed([torch.from_numpy(left), torch.tensor(right, dtype=torch.float64)])
        ).numpy(),
        rtol=1e-14,
    )
