"""chainrule.explain on the tutorial network (u1 .. u5, loss) and on a graph with reuse."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule
from chainrule.explanation import Explanation, tutorial_network
from chainrule.tensor import Tensor

N, N_IN, N_HIDDEN, N_OUT = 4, 3, 5, 2

SUBSTITUTIONS = [
    ("u1", "x @ w1 + b1", (N, N_HIDDEN)),
    ("u2", "relu(u1)", (N, N_HIDDEN)),
    ("u3", "u2 @ w2 + b2", (N, N_OUT)),
    ("u4", "y - u3", (N, N_OUT)),
    ("u5", "u4**2", (N, N_OUT)),
    ("loss", "mean(u5)", ()),
]

# (output, input, derivative, rule, shape of the factor or None for a map)
TOP = [
    ("loss", "u5", "d mean(u5)/du5", f"1/{N * N_OUT}", ()),
    ("u5", "u4", "d(u4**2)/du4", "2 * u4", (N, N_OUT)),
    ("u4", "u3", "d(y - u3)/du3", "-1", ()),
]
TO_U2 = ("u3", "u2", "d(u2 @ w2 + b2)/du2", ". @ w2.T", None)
TO_U1 = ("u2", "u1", "d relu(u1)/du1", "[u1 > 0]", (N, N_HIDDEN))
CHAINS = {
    "w1": [*TOP, TO_U2, TO_U1, ("u1", "w1", "d(x @ w1 + b1)/dw1", "x.T @ .", None)],
    "b1": [*TOP, TO_U2, TO_U1, ("u1", "b1", "d(x @ w1 + b1)/db1", "sum(., axis=0)", None)],
    "x": [*TOP, TO_U2, TO_U1, ("u1", "x", "d(x @ w1 + b1)/dx", ". @ w1.T", None)],
    "w2": [*TOP, ("u3", "w2", "d(u2 @ w2 + b2)/dw2", "u2.T @ .", None)],
    "b2": [*TOP, ("u3", "b2", "d(u2 @ w2 + b2)/db2", "sum(., axis=0)", None)],
    "u2": [*TOP, TO_U2],
}


@pytest.fixture
def network(rng: np.random.Generator) -> dict[str, Tensor]:
    tensors = tutorial_network(N, N_IN, N_HIDDEN, N_OUT, rng=rng)
    tensors["x"].requires_grad_()
    return tensors


def _explain(network: dict[str, Tensor], wrt: str) -> Explanation:
    return chainrule.explain(network["loss"], network[wrt])


def test_tutorial_network_is_built_as_the_tutorial_writes_it(network: dict[str, Tensor]) -> None:
    x, w1, b1 = (network[k].data for k in ("x", "w1", "b1"))
    w2, b2, y = (network[k].data for k in ("w2", "b2", "y"))
    u3 = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    expected = np.mean((y - u3) ** 2)
    assert network["loss"].item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("wrt", list(CHAINS))
def test_substitutions_are_the_tutorials_u1_to_u5_and_loss(
    network: dict[str, Tensor], wrt: str
) -> None:
    explanation = _explain(network, wrt)
    assert [(s.name, s.formula, s.shape) for s in explanation.steps] == SUBSTITUTIONS


@pytest.mark.parametrize("wrt", list(CHAINS))
def test_the_chain_has_the_tutorials_local_rules(network: dict[str, Tensor], wrt: str) -> None:
    explanation = _explain(network, wrt)
    assert len(explanation.paths) == 1
    got = [
        (link.output, link.input, link.derivative, link.rule, link.shape)
        for link in explanation.paths[0]
    ]
    assert got == CHAINS[wrt]


@pytest.mark.parametrize("wrt", list(CHAINS))
def test_every_local_gradient_agrees_with_finite_differences(
    network: dict[str, Tensor], wrt: str
) -> None:
    explanation = _explain(network, wrt)
    assert len(explanation.checks) == len(CHAINS[wrt])
    for check in explanation.checks:
        assert check.passed, check
        assert len(check.entries) - check.kinks >= 1
        assert check.max_rel_err < 1e-6


def test_operator_links_give_the_map_between_gradient_shapes(network: dict[str, Tensor]) -> None:
    link = _explain(network, "w1").paths[0][-1]
    assert link.kind == "operator"
    assert (link.grad_out_shape, link.grad_in_shape) == ((N, N_HIDDEN), (N_IN, N_HIDDEN))


def test_the_product_reads_outermost_first(network: dict[str, Tensor]) -> None:
    explanation = _explain(network, "w1")
    assert explanation.product(explanation.paths[0]) == (
        "dloss/du5 · du5/du4 · du4/du3 · du3/du2 · du2/du1 · du1/dw1"
    )
    assert "dloss/dw1 = dloss/du5 · du5/du4" in str(explanation)


def test_the_chain_stops_at_an_intermediate(network: dict[str, Tensor]) -> None:
    explanation = _explain(network, "u2")
    on_path = [step.name for step in explanation.steps if step.on_path]
    assert on_path == ["u3", "u4", "u5", "loss"]


def test_a_wrong_rule_fails_its_check(
    network: dict[str, Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = chainrule.primitives.ReLU.vjp

    def wrong_vjp(saved: object, grad_out: object, needs: tuple[bool, ...]) -> object:
        return (2 * original(saved, grad_out, needs)[0],)

    monkeypatch.setattr(chainrule.primitives.ReLU, "vjp", staticmethod(wrong_vjp))
    explanation = chainrule.explain(network["loss"], network["w1"], samples=N * N_HIDDEN)
    relu_check = next(c for c in explanation.checks if c.output == "u2")
    assert not relu_check.passed
    assert not explanation.passed
    assert "FAILED" in str(explanation)


def test_reuse_shows_both_paths_and_their_sum() -> None:
    a = chainrule.tensor([1.0, -2.0, 3.0], requires_grad=True, name="a", dtype=np.float64)
    b = chainrule.tensor([0.5, 4.0, -1.0], requires_grad=True, name="b", dtype=np.float64)
    explanation = chainrule.explain((a * b + a).sum(), a)
    assert [(s.name, s.formula) for s in explanation.steps] == [
        ("u1", "a * b"),
        ("u2", "u1 + a"),
        ("loss", "sum(u2)"),
    ]
    products = sorted(explanation.product(path) for path in explanation.paths)
    assert products == ["dloss/du2 · du2/da", "dloss/du2 · du2/du1 · du1/da"]
    assert explanation.path_count == 2
    text = str(explanation)
    assert "path 1:" in text
    assert "path 2:" in text
    assert "sum:    dloss/da = dloss/du2 · du2/da + dloss/du2 · du2/du1 · du1/da" in text
    assert explanation.passed


def test_a_tensor_used_twice_in_one_op_gives_two_links() -> None:
    a = chainrule.tensor([1.5, -2.0], requires_grad=True, name="a", dtype=np.float64)
    explanation = chainrule.explain((a * a).sum(), a)
    assert sorted(link.position for link in explanation.links if link.output == "u1") == [0, 1]
    assert explanation.path_count == 2


def test_each_use_of_a_reused_operand_says_which_use_it_is() -> None:
    """d(a * a)/da is 2a: the link through one use alone, a, must not read as d(a * a)/da."""
    a = chainrule.tensor([1.5, -2.0], requires_grad=True, name="a", dtype=np.float64)
    explanation = chainrule.explain((a * a).sum(), a)
    lines = {f"{link.short} = {link.derivative} = {link.rule}" for link in explanation.links}
    assert "du1/da (as operand 1) = d(a * a)/da (as operand 1) = a" in lines
    assert "du1/da (as operand 2) = d(a * a)/da (as operand 2) = a" in lines
    assert "d(a * a)/da = a" not in str(explanation)
    assert r"\frac{\partial u_{1}}{\partial a}\ \text{(as operand 2)}" in explanation.to_latex()


def test_markdown_has_the_tables_and_the_product(network: dict[str, Tensor]) -> None:
    markdown = _explain(network, "w1").to_markdown()
    assert "| `u2` | `relu(u1)` | `(4, 5)` |" in markdown
    assert "`d relu(u1)/du1 = [u1 > 0]`" in markdown
    assert "`dloss/dw1 = dloss/du5 · du5/du4" in markdown


def test_latex_has_the_substitutions_and_fractions(network: dict[str, Tensor]) -> None:
    latex = _explain(network, "w1").to_latex()
    assert latex.startswith(r"\begin{aligned}")
    assert r"u_{2} &= \operatorname{relu}(u_{1})" in latex
    assert r"\frac{\partial\, (y - u_{3})}{\partial u_{3}} &= -1" in latex
    assert r"&= x^\top (\cdot)" in latex
    assert r"\frac{\partial \mathrm{loss}}{\partial w_{1}} &=" in latex


def test_unnamed_tensors_are_numbered_and_literals_shown() -> None:
    a = chainrule.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    explanation = chainrule.explain((2 * a).exp().mean(), a)
    assert [s.formula for s in explanation.steps] == ["2 * leaf1", "exp(u1)", "mean(u2)"]


def test_a_float32_graph_is_checked_in_float64(rng: np.random.Generator) -> None:
    w = chainrule.tensor(rng.normal(size=(3, 2)).astype(np.float32), requires_grad=True, name="w")
    x = chainrule.tensor(rng.normal(size=(4, 3)).astype(np.float32), name="x")
    explanation = chainrule.explain(chainrule.tanh(x @ w).sum(), w)
    assert explanation.passed


def test_output_must_be_scalar(network: dict[str, Tensor]) -> None:
    with pytest.raises(ValueError, match=r"explain: the output has shape \(4, 2\), not a scalar"):
        chainrule.explain(network["u5"], network["w1"])


def test_wrt_outside_the_graph_is_named() -> None:
    a = chainrule.tensor([1.0], requires_grad=True, name="a")
    stray = chainrule.tensor([1.0], requires_grad=True, name="stray")
    with pytest.raises(ValueError, match="wrt 'stray' is not in the graph"):
        chainrule.explain((a * 2).sum(), stray)


def test_wrt_must_require_grad(network: dict[str, Tensor]) -> None:
    with pytest.raises(ValueError, match="wrt 'y' does not require grad"):
        chainrule.explain(network["loss"], network["y"])


def test_explain_works_after_backward_freed_the_graph(network: dict[str, Tensor]) -> None:
    network["loss"].backward()
    assert _explain(network, "b2").passed


def test_latex_of_a_broadcast_operand_says_its_gradient_is_summed_back() -> None:
    # b (2,) broadcast against (4, 2): the factor -1 meets a (4, 2) gradient, and only the
    # sum over the batch axis has b's shape; the LaTeX must say so, as the text does
    rng = np.random.default_rng(0)
    x = chainrule.tensor(rng.normal(size=(4, 2)), name="x")
    b = chainrule.tensor(rng.normal(size=(2,)), requires_grad=True, name="b")
    explanation = chainrule.explain(((x - b) ** 2).sum(), b)
    (link,) = [link for link in explanation.links if link.input == "b"]
    assert link.rule == "-1, summed back to (2,)"
    assert link.rule_latex == r"-1 \text{, summed back to (2,)}"
    assert r"-1 \text{, summed back to (2,)}" in explanation.to_latex()


@pytest.mark.parametrize(
    ("literal", "written"), [(0.3, "0.3"), (1.5, "1.5"), (1e-6, "1e-06"), (-0.25, "(-0.25)")]
)
def test_latex_writes_a_literal_number_as_written(literal: float, written: str) -> None:
    # a decimal point or an exponent is no subscript: 0.3 is not 0._3, 1e-06 not 1e-_06
    x = chainrule.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True, name="x")
    explanation = chainrule.explain((x * literal).sum(), x)
    (link,) = [link for link in explanation.links if link.input == "x"]
    assert link.rule == written
    assert link.rule_latex == written
    assert rf"x \odot {written}" in explanation.to_latex()


@pytest.mark.parametrize(
    "op",
    ["logaddexp", "hypot", "arctan2", "fmod", "remainder", "lerp weight", "add", "maximum"],
)
def test_every_broadcasting_binary_op_says_the_gradient_is_summed_back(op: str) -> None:
    rng = np.random.default_rng(1)
    x = chainrule.tensor(rng.uniform(0.5, 2.0, size=(4, 2)), name="x")
    b = chainrule.tensor(rng.uniform(0.5, 2.0, size=(2,)), requires_grad=True, name="b")
    ops = {
        "logaddexp": chainrule.logaddexp,
        "hypot": chainrule.hypot,
        "arctan2": chainrule.arctan2,
        "fmod": chainrule.fmod,
        "remainder": chainrule.remainder,
        "lerp weight": lambda a, w: chainrule.lerp(a, a * 2.0, w),
        "add": lambda a, w: a + w,
        "maximum": chainrule.maximum,
    }
    explanation = chainrule.explain(ops[op](x, b).sum(), b)
    (link,) = [link for link in explanation.links if link.input == "b"]
    assert link.rule.endswith(", summed back to (2,)")
    assert link.rule_latex.endswith(r"\text{, summed back to (2,)}")
    assert explanation.passed


def test_explain_refuses_a_graph_whose_intermediate_was_detached_in_place() -> None:
    # Before: x was taken for a constant, and d(out)/d(a) silently lost the path through x.
    a = Tensor(np.array([0.5, -1.0]), requires_grad=True, name="a")
    x = (a * 3).tanh()
    out = (x * 2 + a).sum()
    x.detach_()
    with pytest.raises(ValueError, match=r"detached in place .*mul"):
        chainrule.explain(out, a)


def test_relu_and_maximum_at_nan_say_their_gradient_passes_as_torchs() -> None:
    # [x > 0] reads 0 at NaN, but the engine (as PyTorch) passes a NaN entry's gradient: the
    # rule says so where an operand holds NaN, and only there.
    torch = pytest.importorskip("torch")
    values = np.array([1.0, np.nan, -2.0])
    x = chainrule.tensor(values, requires_grad=True, name="x")
    floor = chainrule.tensor(np.zeros(3), name="floor")
    loss = chainrule.maximum(x.relu(), floor).sum()
    loss.backward()
    t = torch.tensor(values, requires_grad=True)
    torch.maximum(t.relu(), torch.zeros(3, dtype=t.dtype)).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert x.grad.numpy()[1] == 1.0
    rules = {link.output: link.rule for link in chainrule.explain(loss, x).links}
    assert rules["u1"] == "[x > 0] (1 where x is NaN, as PyTorch)"
    assert rules["u2"] == "[u1 > floor] (1/2 on ties) (1 where u1 or floor is NaN, as PyTorch)"
    clean = chainrule.tensor(np.array([1.0, -2.0]), requires_grad=True, name="x")
    (link,) = chainrule.explain(clean.relu().sum(), clean).links[-1:]
    assert link.rule == "[x > 0]"


@pytest.mark.parametrize(
    ("low", "high", "rule"),
    [(None, 2.0, "[a <= 2]"), (1.5, None, "[1.5 <= a]"), (1.5, 2.5, "[1.5 <= a <= 2.5]")],
)
def test_clip_with_one_bound_writes_the_mask_of_that_bound(
    low: float | None, high: float | None, rule: str
) -> None:
    values = np.array([1.0, 1.5, 2.0, 2.5, 3.0])
    a = chainrule.tensor(values, requires_grad=True, name="a", dtype=np.float64)
    loss = a.clip(low, high).sum()
    (link,) = [link for link in chainrule.explain(loss, a).links if link.input == "a"]
    assert link.rule == rule
    loss.backward()
    assert a.grad is not None
    # [l <= a <= h] read as NumPy: each "<=" compared entry by entry
    terms = [values if term == "a" else float(term) for term in rule.strip("[]").split(" <= ")]
    mask = np.ones(values.shape, dtype=bool)
    for left, right in itertools.pairwise(terms):
        mask &= np.less_equal(left, right)
    np.testing.assert_array_equal(a.grad.data, mask.astype(np.float64))


def test_the_output_with_respect_to_itself_reads_one() -> None:
    w = chainrule.tensor(2.0, requires_grad=True, name="w", dtype=np.float64)
    loss = (w * 3).sum()
    explanation = chainrule.explain(loss, loss)
    assert "  dloss/dloss = 1   scalar" in str(explanation).splitlines()
    assert explanation.to_markdown().rstrip().endswith("`dloss/dloss = 1`")
    assert r"\frac{\partial \mathrm{loss}}{\partial \mathrm{loss}} &= 1" in explanation.to_latex()


@pytest.mark.parametrize(("shift", "axis"), [(1, None), ((1, 2), (0, 1)), ((-2,), (1,))])
def test_the_roll_rule_rolls_back_as_numpy_reads_it(
    shift: int | tuple[int, ...], axis: tuple[int, ...] | None
) -> None:
    values = np.arange(6.0).reshape(2, 3)
    upstream = np.arange(6.0).reshape(2, 3) ** 2
    a = chainrule.tensor(values, requires_grad=True, name="a", dtype=np.float64)
    loss = (chainrule.roll(a, shift, axis) * upstream).sum()
    (link,) = [link for link in chainrule.explain(loss, a).links if link.input == "a"]
    expression = link.rule.replace("(.,", "(upstream,")
    printed = eval(expression, {"__builtins__": {}}, {"roll": np.roll, "upstream": upstream})
    loss.backward()
    assert a.grad is not None
    np.testing.assert_array_equal(printed, a.grad.data)


@pytest.mark.parametrize("samples", [0, -1, 2.5, True])
def test_explain_refuses_a_sample_count_that_checks_nothing(samples: object) -> None:
    """samples=0 printed "ok: 0 entries vs finite differences" for every link and "all local
    gradients agree": a pass that checked nothing. Refused, as `explore` refuses it."""
    x = chainrule.tensor(np.ones((2, 3)))
    w = chainrule.tensor(np.ones((3, 2)), requires_grad=True)
    loss = (x @ w).sum()
    with pytest.raises(ValueError, match=r"explain: samples=.*give an integer >= 1"):
        chainrule.explain(loss, w, samples=samples)  # type: ignore[arg-type]
