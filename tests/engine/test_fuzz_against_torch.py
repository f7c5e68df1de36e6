"""Random programs (fuzz_graphs.py) run in chainrule and in PyTorch agree: every value made,
its dtype and shape, the gradient of every leaf, Hessian-vector products, a plain backward
adding into a .grad recorded by create_graph, and the functional transforms against
torch.func; and `chainrule.explain` of each leaf replays the engine's gradient.

The seeds are fixed, so CI sees the same programs on every run; to hunt, run
`python tests/engine/fuzz_graphs.py START COUNT` (it prints each disagreeing program).
"""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest
from fuzz_graphs import as_function, compare, draw_program, explain_problems, run

import chainrule as cr

# PyTorch's own performance note when an empty leaf's gradient has other strides
pytestmark = pytest.mark.filterwarnings("ignore:grad and param do not obey:UserWarning")


@pytest.fixture(scope="module")
def torch_func(torch: ModuleType) -> ModuleType:
    """torch.func, warmed up: its first forward-mode call loads decompositions through
    torch.jit.script, which warns of its own deprecation (pytest turns warnings into errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.func.jvp(torch.sin, (torch.ones(1),), (torch.ones(1),))
    return torch.func


def _agree(
    torch: ModuleType,
    seed: int,
    *,
    ties: bool = False,
    second_order: bool = False,
    create_graph_first: bool = False,
    detach_in_place: bool = False,
) -> bool:
    """Whether the program made had a detach_() step (after asserting the agreement)."""
    program = draw_program(seed, ties=ties, detach_in_place=detach_in_place)
    ours = run(
        program, "chainrule", second_order=second_order, create_graph_first=create_graph_first
    )
    theirs = run(
        program, "torch", torch, second_order=second_order, create_graph_first=create_graph_first
    )
    problems = compare(program, ours, theirs)
    assert not problems, f"{program}\n" + "\n".join(problems)
    return any(step.label == "detach_()" for step in program.steps)


@pytest.mark.parametrize("block", range(4))
def test_random_programs_give_torchs_values_and_gradients(torch: ModuleType, block: int) -> None:
    for seed in range(block * 50, block * 50 + 50):
        _agree(torch, seed)


@pytest.mark.parametrize("block", range(2))
def test_random_programs_on_ties_and_kinks_give_torchs_gradients(
    torch: ModuleType, block: int
) -> None:
    # leaves of -1, 0 and 1: max/min ties, relu, abs and clip at their kinks, 0-valued norms
    for seed in range(1000 + block * 50, 1000 + block * 50 + 50):
        _agree(torch, seed, ties=True)


def test_random_programs_give_torchs_hessian_vector_products(torch: ModuleType) -> None:
    for seed in range(2000, 2060):
        _agree(torch, seed, second_order=True)


# PyTorch's warning that backward(create_graph=True) ties each leaf to its .grad in a cycle
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_random_programs_accumulate_into_a_recorded_grad_as_torch_does(
    torch: ModuleType,
) -> None:
    # backward(create_graph=True), then a plain backward adding into the recorded .grad
    for seed in range(5000, 5060):
        _agree(torch, seed, create_graph_first=True)


# PyTorch's warning that backward(create_graph=True) ties each leaf to its .grad in a cycle
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("how", ["plain", "second order", "create_graph first"])
def test_random_programs_detaching_in_place_agree_with_torch(torch: ModuleType, how: str) -> None:
    # detach_() of computed values: the ops recorded before keep their graph, later ones
    # read a constant, and an op that saved the value refuses (or, where chainrule's rule
    # does not read it, gives the gradient of the values each op read)
    seeds = {"plain": range(7000, 7150), "second order": range(9000, 9060)}
    detached = sum(
        _agree(
            torch,
            seed,
            second_order=how == "second order",
            create_graph_first=how == "create_graph first",
            detach_in_place=True,
        )
        for seed in seeds.get(how, range(8000, 8060))
    )
    assert detached >= 10


def test_random_programs_are_explained_with_the_engines_gradient() -> None:
    explained = 0
    for seed in [*range(6000, 6040), 10556, 10806, 11316]:  # + pairwise_distance(x, x)
        program = draw_program(seed)
        problems = explain_problems(program)
        if problems is None:
            continue
        assert not problems, f"{program}\n" + "\n".join(problems)
        explained += 1
    assert explained >= 30


def test_random_programs_under_grad_jvp_and_hessian_match_torch_func(
    torch: ModuleType, torch_func: ModuleType
) -> None:
    checked = 0
    for seed in range(3000, 3045):
        program = draw_program(seed)
        if any(step.kind == "inplace" or step.dtype == "float32" for step in program.steps):
            continue
        if any(step.label.startswith(("astype", "norm(", "std(")) for step in program.steps):
            continue
        ours, arrays = as_function(program, "chainrule")
        theirs, _ = as_function(program, "torch")
        argnums = tuple(range(len(arrays)))
        inputs = [torch.tensor(a) for a in arrays]
        with np.errstate(all="ignore"):
            grads = cr.grad(ours, argnums=argnums)(*arrays)
            hessians = cr.hessian(ours, argnums=argnums)(*arrays) if seed % 4 == 0 else None
        expected = torch_func.grad(theirs, argnums=argnums)(*inputs)
        for got, want in zip(grads, expected, strict=True):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
            assert got.shape == tuple(want.shape)
        # torch.func.jvp differentiates through torch.no_grad (it stops only reverse mode), so
        # its jvp is not grad . t there; chainrule's is (see test_no_grad_stops_jvp_as_grad)
        if not any(step.label.startswith("no_grad") for step in program.steps):
            tangents = [np.random.default_rng(seed).uniform(-1, 1, a.shape) for a in arrays]
            with np.errstate(all="ignore"):
                _, got_t = cr.jvp(ours, tuple(arrays), tuple(tangents))
            _, want_t = torch_func.jvp(
                theirs, tuple(inputs), tuple(torch.tensor(t) for t in tangents)
            )
            np.testing.assert_allclose(got_t.numpy(), want_t.numpy(), rtol=1e-10, atol=1e-12)
        if hessians is not None:
            expected_h = torch_func.hessian(theirs, argnums=argnums)(*inputs)
            for a in argnums:
                for b in argnums:
                    got_h, want_h = hessians[a][b].numpy(), expected_h[a][b].numpy()
                    assert got_h.shape == want_h.shape
                    np.testing.assert_allclose(got_h, want_h, rtol=1e-9, atol=1e-10)
        checked += 1
    assert checked >= 25


def test_no_grad_stops_jvp_as_grad() -> None:
    """On purpose unlike torch.func.jvp: a value computed under no_grad() is a constant for
    every transform, so jvp(f)(x, t) = <grad f(x), t>; PyTorch's forward mode ignores
    torch.no_grad and differentiates through it, though its grad does not."""

    def f(x: cr.Tensor) -> cr.Tensor:
        with cr.no_grad():
            scale = x * 2.0
        return (scale * x.sin()).sum()

    x, t = np.array([0.3, -1.2]), np.array([1.0, 0.5])
    _, tangent = cr.jvp(f, (x,), (t,))
    gradient = cr.grad(f)(x)
    assert tangent.shape == ()
    np.testing.assert_allclose(tangent.numpy(), gradient.numpy() @ t, rtol=1e-15)
    np.testing.assert_allclose(gradient.numpy(), 2 * x * np.cos(x), rtol=1e-15)


def test_random_programs_on_array_api_strict_match_numpy() -> None:
    """The same programs on array_api_strict leaves give NumPy's values and gradients, or
    refuse by name (in-place changes need NumPy or CuPy arrays; array_api_strict takes no
    out-of-range slice bounds and no arithmetic between two bools). (JAX, hunted locally,
    agrees too, but compiles each new shape: too slow for CI.)"""
    convert = pytest.importorskip("array_api_strict").asarray
    compared = 0
    for seed in range(4000, 4040):
        program = draw_program(seed)
        expected = run(program, "chainrule")
        got = run(program, "chainrule", library=convert)
        if got.error is not None and got.error.startswith("forward"):
            continue
        problems = compare(program, got, expected)
        assert not problems, f"{program}\n" + "\n".join(problems)
        compared += 1
    assert compared >= 30
