"""Random small programs run in chainrule and in PyTorch, for differential testing.

`draw_program(seed)` draws a program: leaves (float64, some requiring grad), then steps taken
from a table of ops (broadcasting binaries, element-wise maps, reductions, views and
indexing, matmul, dtype mixes, detach, no_grad, in-place changes). Operands are drawn from
every value made so far, so intermediates are read by several consumers. `run(program, lib)`
replays it in one library and returns each step's value and the gradient of every leaf of
the scalar loss sum_i <w_i, value_i> (fixed random weights w_i), so any wrong link shows;
`run(..., create_graph_first=True)` backpropagates with create_graph first, then plainly
into the recorded `.grad`; `explain_problems(program)` checks `chainrule.explain` of every
leaf against the engine's gradient. `draw_program(seed, detach_in_place=True)` also draws
detach_() of computed values (a table entry of its own, so the other programs stay as
they were).

What differs on purpose between the two libraries (kept out of the table, or mapped here):
chainrule refuses in-place changes of tensors that require grad outside no_grad (PyTorch
allows them on non-leaves), comparisons give NumPy boolean arrays, and a 0-d float64 tensor
beside a float32 one promotes to float64 (NumPy's rule; PyTorch keeps float32). So the
programs only mix dtypes in shapes of one or more dimensions and change in place only
tensors that do not require grad (constants, a detached view, a leaf under no_grad).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

import chainrule as cr

Fn = Callable[..., Any]


@dataclass(frozen=True)
class Step:
    """One line of a program: `out = fn(*values[inputs])`, written once per library.

    kind "leaf" makes a new input from `array`; "inplace" changes values[inputs[0]] in place
    (and returns nothing); "op" appends a new value.
    """

    label: str
    inputs: tuple[int, ...]
    chainrule: Fn
    torch: Fn
    kind: str = "op"
    array: np.ndarray | None = None
    requires_grad: bool = False
    dtype: str = "float64"


@dataclass
class Program:
    seed: int
    steps: list[Step] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"program seed={self.seed}"]
        value = 0
        for step in self.steps:
            if step.kind == "inplace":
                lines.append(f"        v{step.inputs[0]}.{step.label}")
                continue
            args = ", ".join(f"v{i}" for i in step.inputs)
            if step.kind == "leaf":
                assert step.array is not None
                lines.append(
                    f"  v{value} = leaf {step.array.shape} {step.dtype}"
                    f"{' requires_grad' if step.requires_grad else ''}"
                )
            else:
                lines.append(f"  v{value} = {step.label}({args})")
            value += 1
        return "\n".join(lines)


@dataclass
class Shadow:
    """What the generator knows of a value: shape, dtype kind, whether it carries grad."""

    shape: tuple[int, ...]
    kind: str  # "f64", "f32", "int", "bool"
    grad: bool
    alias: int = -1  # values sharing memory share this number


SHAPES: tuple[tuple[int, ...], ...] = ((), (1,), (3,), (2, 3), (3, 1), (1, 3), (2, 1, 3), (2, 3, 4))


class Generator:
    def __init__(
        self, seed: int, n_steps: int, *, ties: bool = False, detach_in_place: bool = False
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.ties = ties
        self.detach_in_place = detach_in_place
        self.leaves: set[int] = set()  # the values made by "leaf" steps
        self.program = Program(seed)
        self.shadows: list[Shadow] = []
        self.n_steps = n_steps
        # alias groups holding a view that one library makes and the other copies (chainrule's
        # flip and reshape follow NumPy; the fuzzer's negative-step slices copy in torch):
        # nothing in them is changed in place
        self.ambiguous: set[int] = set()

    # ---------------------------------------------------------------- helpers
    def add(self, step: Step, shadow: Shadow, view: str = "copy") -> None:
        """view: "copy" (new memory), "view" (a view in both libraries), "ambiguous"."""
        self.program.steps.append(step)
        if step.kind == "inplace":
            return
        if view == "copy" or not step.inputs:
            shadow.alias = len(self.shadows)
        else:
            shadow.alias = self.shadows[step.inputs[0]].alias
            if view == "ambiguous":
                self.ambiguous.add(shadow.alias)
        self.shadows.append(shadow)

    def leaf(self, shape: tuple[int, ...], *, grad: bool, kind: str = "f64") -> int:
        if kind == "int":
            array = self.rng.integers(-3, 4, size=shape).astype(np.int64)
        elif kind == "bool":
            array = self.rng.random(shape) < 0.5
        else:
            array = self.rng.uniform(-2.0, 2.0, size=shape)
            if self.ties:
                # small integers: ties and kinks (max of equals, relu and abs at 0) everywhere
                array = self.rng.integers(-1, 2, size=shape).astype(np.float64)
            if kind == "f32":
                array = array.astype(np.float32)
        dtype = {"f64": "float64", "f32": "float32", "int": "int64", "bool": "bool"}[kind]
        self.add(
            Step(
                "leaf", (), _none, _none, kind="leaf", array=array, requires_grad=grad, dtype=dtype
            ),
            Shadow(shape, kind, grad),
        )
        self.leaves.add(len(self.shadows) - 1)
        return len(self.shadows) - 1

    def pick(self, predicate: Callable[[Shadow], bool] = lambda s: True) -> int | None:
        choices = [i for i, s in enumerate(self.shadows) if predicate(s)]
        if not choices:
            return None
        # favour recent values, so programs grow deep as well as wide
        weights = np.arange(1, len(choices) + 1, dtype=float) ** 1.5
        return int(self.rng.choice(choices, p=weights / weights.sum()))

    def float_value(self) -> int | None:
        return self.pick(lambda s: s.kind in ("f64", "f32"))

    # ---------------------------------------------------------------- drawing
    def draw(self) -> Program:
        for _ in range(int(self.rng.integers(1, 4))):
            self.leaf(SHAPES[self.rng.integers(len(SHAPES))], grad=bool(self.rng.random() < 0.8))
        if not any(s.grad for s in self.shadows):
            self.leaf(SHAPES[self.rng.integers(len(SHAPES))], grad=True)
        table = {**OPS, "detach_": (op_detach_in_place, 3.0)} if self.detach_in_place else OPS
        names = list(table)
        weights = np.array([table[name][1] for name in names], dtype=float)
        made = 0
        tries = 0
        while made < self.n_steps and tries < 20 * self.n_steps:
            tries += 1
            name = names[self.rng.choice(len(names), p=weights / weights.sum())]
            if table[name][0](self):
                made += 1
        return self.program


def _none(*args: Any) -> Any:
    return None


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _kind_of(a: str, b: str) -> str:
    order = ["bool", "int", "f32", "f64"]
    return order[max(order.index(a), order.index(b))]


# ---------------------------------------------------------------------- the op table
UNARY: dict[str, tuple[Fn, Fn]] = {
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh()),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: x.sigmoid()),
    "sin": (lambda x: cr.sin(x), lambda x: x.sin()),
    "cos": (lambda x: x.cos(), lambda x: x.cos()),
    "square": (lambda x: x.square(), lambda x: x.square()),
    "neg": (lambda x: -x, lambda x: -x),
    "abs": (lambda x: x.abs(), lambda x: x.abs()),
    "relu": (lambda x: x.relu(), lambda x: x.relu()),
    "exp_tanh": (lambda x: x.tanh().exp(), lambda x: x.tanh().exp()),
    "log1p_sq": (lambda x: (x * x).log1p(), lambda x: (x * x).log1p()),
    "sqrt_1p_sq": (lambda x: (x * x + 1.0).sqrt(), lambda x: (x * x + 1.0).sqrt()),
    "pow3": (lambda x: x**3, lambda x: x**3),
    "rsub_scalar": (lambda x: 2.0 - x, lambda x: 2.0 - x),
    "rdiv_scalar": (lambda x: 1.0 / (x * x + 1.0), lambda x: 1.0 / (x * x + 1.0)),
    "clip": (lambda x: x.clip(-0.7, 0.9), lambda x: x.clamp(-0.7, 0.9)),
    "silu": (lambda x: cr.silu(x), lambda x: _nnf().silu(x)),
    "gelu": (lambda x: cr.gelu(x), lambda x: _nnf().gelu(x)),
    "gelu_tanh": (
        lambda x: cr.gelu(x, approximate="tanh"),
        lambda x: _nnf().gelu(x, approximate="tanh"),
    ),
    "softplus": (lambda x: cr.softplus(x), lambda x: _nnf().softplus(x)),
    "elu": (lambda x: cr.elu(x, 0.7), lambda x: _nnf().elu(x, 0.7)),
    "leaky_relu": (lambda x: cr.leaky_relu(x, 0.1), lambda x: _nnf().leaky_relu(x, 0.1)),
    "hardtanh": (lambda x: cr.hardtanh(x), lambda x: _nnf().hardtanh(x)),
    "hardswish": (lambda x: cr.hardswish(x), lambda x: _nnf().hardswish(x)),
    # PyTorch's hardsigmoid backward multiplies by float32's 1/6 even in float64
    # (0.16666667163...): the oracle is hardtanh(x + 3, 0, 6) / 6, exact and with the
    # same zero slope on the kinks
    "hardsigmoid": (lambda x: cr.hardsigmoid(x), lambda x: _nnf().hardtanh(x + 3, 0, 6) / 6),
    "logsigmoid": (lambda x: cr.logsigmoid(x), lambda x: _nnf().logsigmoid(x)),
    "mish": (lambda x: cr.mish(x), lambda x: _nnf().mish(x)),
    "selu": (lambda x: cr.selu(x), lambda x: _nnf().selu(x)),
    # PyTorch's celu backward loses digits in float64 for alpha != 1 (its exp(x / alpha) is
    # 2e-8 off at alpha=1.3); the oracle is alpha * elu(x / alpha), exact, where x <= 0
    "celu": (
        lambda x: cr.celu(x, 1.3),
        lambda x: _torch().where(x > 0, x, _nnf().elu(x / 1.3) * 1.3),
    ),
    "softsign": (lambda x: cr.softsign(x), lambda x: _nnf().softsign(x)),
    "erf": (lambda x: cr.erf(x), lambda x: x.erf()),
    "softmax_last": (lambda x: x.softmax(axis=-1), lambda x: x.softmax(dim=-1)),
    "log_softmax_0": (lambda x: x.log_softmax(axis=0), lambda x: x.log_softmax(dim=0)),
    # vocabulary (test_vocabulary.py): an overflowed float32 entry is replaced on both sides
    "nan_to_num": (lambda x: x.nan_to_num(), lambda x: x.nan_to_num()),
    "clone": (lambda x: x.clone(), lambda x: x.clone()),
}


def op_unary(g: Generator) -> bool:
    name = list(UNARY)[g.rng.integers(len(UNARY))]
    need_dim = name in ("softmax_last", "log_softmax_0")
    i = g.pick(lambda s: s.kind in ("f64", "f32") and (not need_dim or len(s.shape) > 0))
    if i is None:
        return False
    cr_fn, th_fn = UNARY[name]
    s = g.shadows[i]
    g.add(Step(name, (i,), cr_fn, th_fn), Shadow(s.shape, s.kind, s.grad))
    return True


BINARY: dict[str, tuple[Fn, Fn]] = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 0.5), lambda a, b: a / (b * b + 0.5)),
    "maximum": (lambda a, b: cr.maximum(a, b), lambda a, b: a.maximum(b)),
    "minimum": (lambda a, b: cr.minimum(a, b), lambda a, b: a.minimum(b)),
    "pow": (lambda a, b: (a * a + 0.5) ** b.tanh(), lambda a, b: (a * a + 0.5) ** b.tanh()),
    "where": (
        lambda a, b: cr.where(a > b, a, b * 2.0),
        lambda a, b: _torch_where(a > b, a, b * 2.0),
    ),
}


def _torch_where(cond: Any, a: Any, b: Any) -> Any:
    import torch

    return torch.where(cond, a, b)


def op_binary(g: Generator) -> bool:
    name = list(BINARY)[g.rng.integers(len(BINARY))]
    i = g.float_value()
    if i is None:
        return False
    a = g.shadows[i]

    # the other operand: any value (itself included) that broadcasts with the first; 0-d
    # tensors and int/bool ones only beside the same float kind (see the module docstring)
    def fits(s: Shadow) -> bool:
        if _broadcast(a.shape, s.shape) is None:
            return False
        if name in ("pow", "div", "where") and s.kind not in ("f64", "f32"):
            return False
        if s.kind in ("f64", "f32") and s.kind != a.kind:
            return len(a.shape) > 0 and len(s.shape) > 0
        # PyTorch refuses bool in subtraction; chainrule takes it as 0/1 (NumPy's rule)
        if s.kind == "bool" and name == "sub":
            return False
        return not (s.kind in ("int", "bool") and name in ("maximum", "minimum"))

    j = g.pick(fits)
    if j is None:
        return False
    b = g.shadows[j]
    shape = _broadcast(a.shape, b.shape)
    assert shape is not None
    kind = _kind_of(a.kind, b.kind)
    if b.kind in ("int", "bool"):
        kind = a.kind
    cr_fn, th_fn = BINARY[name]
    if g.rng.random() < 0.5 and b.kind in ("f64", "f32"):
        g.add(Step(name, (j, i), cr_fn, th_fn), Shadow(shape, kind, a.grad or b.grad))
    else:
        g.add(Step(name, (i, j), cr_fn, th_fn), Shadow(shape, kind, a.grad or b.grad))
    return True


def op_int_mix(g: Generator) -> bool:
    """A float value times (or plus) a fresh int64 or bool constant of a broadcasting shape."""
    i = g.pick(lambda s: s.kind in ("f64", "f32") and len(s.shape) > 0)
    if i is None:
        return False
    a = g.shadows[i]
    shape = a.shape[int(g.rng.integers(len(a.shape) + 1)) :]
    kind = "int" if g.rng.random() < 0.5 else "bool"
    j = g.leaf(shape, grad=False, kind=kind)
    if g.rng.random() < 0.5:
        g.add(
            Step("mul", (i, j), BINARY["mul"][0], BINARY["mul"][1]), Shadow(a.shape, a.kind, a.grad)
        )
    else:
        g.add(
            Step("radd", (j, i), BINARY["add"][0], BINARY["add"][1]),
            Shadow(a.shape, a.kind, a.grad),
        )
    return True


def _axis(g: Generator, ndim: int) -> Any:
    if ndim == 0:
        return None
    r = g.rng.random()
    if r < 0.25:
        return None
    if r < 0.6:
        return int(g.rng.integers(-ndim, ndim))
    n = int(g.rng.integers(1, ndim + 1))
    axes = g.rng.choice(ndim, size=n, replace=False)
    return tuple(int(a) - ndim if g.rng.random() < 0.5 else int(a) for a in axes)


def _torch_reduce(method: str) -> Fn:
    def reduce(x: Any, axis: Any, keepdims: bool) -> Any:
        if axis is None:
            out = x.var(correction=0) if method == "var" else getattr(x, method)()
            if keepdims:
                out = out.reshape((1,) * x.ndim)
            return out
        if method in ("max", "min"):
            dims = (axis,) if isinstance(axis, int) else axis
            out = x
            for d in sorted((d % x.ndim for d in dims), reverse=True):
                out = getattr(out, "amax" if method == "max" else "amin")(dim=d, keepdim=True)
            if not keepdims:
                out = out.squeeze(tuple(d % x.ndim for d in dims)) if dims else out
            return out
        if method == "var":
            return x.var(dim=axis, keepdim=keepdims, correction=0)
        return getattr(x, method)(dim=axis, keepdim=keepdims)

    return reduce


REDUCTIONS: tuple[str, ...] = ("sum", "mean", "max", "min", "var", "logsumexp")


def op_reduce(g: Generator) -> bool:
    i = g.float_value()
    if i is None:
        return False
    s = g.shadows[i]
    method = REDUCTIONS[g.rng.integers(len(REDUCTIONS))]
    if method == "logsumexp" and len(s.shape) == 0:
        return False
    if method in ("mean", "var") and 0 in s.shape:
        # PyTorch gives NaN (and warns); chainrule's var refuses by name, NumPy's mean warns
        return False
    axis = _axis(g, len(s.shape))
    if method == "logsumexp" and axis is None:
        axis = -1
    keepdims = bool(g.rng.random() < 0.5)
    if method == "max" and axis is None:
        # torch's full max takes no keepdim: amax over every dim does
        axis = tuple(range(len(s.shape))) if s.shape else None
    shape = _reduced_shape(s.shape, axis, keepdims)
    th = _torch_reduce(method)
    if method in ("max", "min"):
        th_axis = axis if axis is not None else None

        def th_fn(x: Any, m: str = method, a: Any = th_axis, k: bool = keepdims) -> Any:
            if a is None or a == ():
                out = x.amax() if m == "max" else x.amin()
                return out.reshape((1,) * x.ndim) if k else out
            return (x.amax if m == "max" else x.amin)(dim=a, keepdim=k)

    else:

        def th_fn(x: Any, a: Any = axis, k: bool = keepdims, f: Fn = th) -> Any:
            return f(x, a, k)

    def cr_fn(x: Any, m: str = method, a: Any = axis, k: bool = keepdims) -> Any:
        return getattr(x, m)(axis=a, keepdims=k)

    g.add(
        Step(f"{method}(axis={axis}, keepdims={keepdims})", (i,), cr_fn, th_fn),
        Shadow(shape, s.kind, s.grad),
    )
    return True


def _reduced_shape(shape: tuple[int, ...], axis: Any, keepdims: bool) -> tuple[int, ...]:
    ndim = len(shape)
    axes = (
        set(range(ndim))
        if axis is None
        else {a % ndim for a in ((axis,) if isinstance(axis, int) else axis)}
    )
    return tuple(1 if d in axes else n for d, n in enumerate(shape) if keepdims or d not in axes)


def op_view(g: Generator) -> bool:
    i = g.float_value()
    if i is None:
        return False
    s = g.shadows[i]
    shape = s.shape
    ndim = len(shape)
    r = int(g.rng.integers(7))
    view = "view"
    if r == 0:  # reshape into another factorisation, via a transpose first (non-contiguous)
        size = int(np.prod(shape))
        target = _factorise(g, size)
        if ndim >= 2 and g.rng.random() < 0.5:
            perm = tuple(int(p) for p in g.rng.permutation(ndim))
            label = f"transpose{perm}.reshape{target}"
            cr_fn: Fn = lambda x, p=perm, t=target: x.transpose(p).reshape(t)  # noqa: E731
            th_fn: Fn = lambda x, p=perm, t=target: x.permute(p).reshape(t)  # noqa: E731
        else:
            label = f"reshape{target}"
            cr_fn = lambda x, t=target: x.reshape(t)  # noqa: E731
            th_fn = lambda x, t=target: x.reshape(t)  # noqa: E731
        out = target
        view = "ambiguous"
    elif r == 1 and ndim >= 2:
        a, b = (int(v) for v in g.rng.choice(ndim, size=2, replace=False))
        a -= ndim
        label = f"swapaxes({a}, {b})"
        cr_fn = lambda x, a=a, b=b: x.swapaxes(a, b)  # noqa: E731
        th_fn = lambda x, a=a, b=b: x.transpose(a, b)  # noqa: E731
        lst = list(shape)
        lst[a], lst[b] = lst[b], lst[a]
        out = tuple(lst)
    elif r == 2:
        axis = int(g.rng.integers(-ndim - 1, ndim + 1))
        label = f"expand_dims({axis})"
        cr_fn = lambda x, a=axis: cr.expand_dims(x, a)  # noqa: E731
        th_fn = lambda x, a=axis: x.unsqueeze(a)  # noqa: E731
        lst = list(shape)
        lst.insert(axis % (ndim + 1), 1)
        out = tuple(lst)
    elif r == 3:
        # broadcast_to: a new leading axis, and size-1 axes stretched
        target = (2, *tuple(3 if n == 1 else n for n in shape))
        label = f"broadcast_to{target}"
        cr_fn = lambda x, t=target: x.broadcast_to(t)  # noqa: E731
        th_fn = lambda x, t=target: x.expand(t)  # noqa: E731
        out = target
        # read-only in chainrule (NumPy's broadcast_to), writable in PyTorch
        view = "ambiguous"
    elif r == 4 and ndim >= 1:
        axes = tuple(
            sorted({int(a) for a in g.rng.choice(ndim, size=int(g.rng.integers(1, ndim + 1)))})
        )
        label = f"flip{axes}"
        cr_fn = lambda x, a=axes: cr.flip(x, a)  # noqa: E731
        th_fn = lambda x, a=axes: x.flip(a)  # noqa: E731
        out = shape
        view = "ambiguous"
    elif r == 5 and 1 in shape:
        axis = shape.index(1)
        label = f"squeeze({axis})"
        cr_fn = lambda x, a=axis: cr.squeeze(x, a)  # noqa: E731
        th_fn = lambda x, a=axis: x.squeeze(a)  # noqa: E731
        out = shape[:axis] + shape[axis + 1 :]
    elif r == 6 and ndim >= 1:
        label = ".T"
        cr_fn = lambda x: x.T if x.ndim <= 2 else x.transpose()  # noqa: E731
        th_fn = lambda x: x.permute(tuple(range(x.ndim - 1, -1, -1)))  # noqa: E731
        out = tuple(reversed(shape))
    else:
        return False
    g.add(Step(label, (i,), cr_fn, th_fn), Shadow(out, s.kind, s.grad), view=view)
    return True


def _factorise(g: Generator, size: int) -> tuple[int, ...]:
    dims: list[int] = []
    rest = size
    while rest > 1:
        divisors = [d for d in range(2, rest + 1) if rest % d == 0]
        d = int(g.rng.choice(divisors))
        dims.append(d)
        rest //= d
    g.rng.shuffle(dims)
    if g.rng.random() < 0.3:
        dims.insert(int(g.rng.integers(len(dims) + 1)), 1)
    return tuple(dims)


def op_index(g: Generator) -> bool:
    i = g.pick(lambda s: s.kind in ("f64", "f32") and len(s.shape) > 0 and 0 not in s.shape)
    if i is None:
        return False
    s = g.shadows[i]
    shape = s.shape
    r = int(g.rng.integers(7))
    if r >= 5:  # any NumPy index: ints, slices, None, Ellipsis, int and bool arrays mixed
        key = _random_key(g, shape)
        try:
            out = np.empty(shape)[key].shape
        except IndexError:
            return False

        def th_fn(x: Any, k: Any = key) -> Any:
            # PyTorch takes no negative steps: gather the same positions from the flat tensor
            positions = np.arange(int(np.prod(x.shape))).reshape(tuple(x.shape))[k]
            return x.reshape(-1)[_torch().as_tensor(positions.ravel())].reshape(positions.shape)

        def cr_fn(x: Any, k: Any = key) -> Any:
            return x[k]

        g.add(
            Step(f"getitem[{_show_key(key)}]", (i,), cr_fn, th_fn),
            Shadow(tuple(out), s.kind, s.grad),
            view="ambiguous",
        )
        return True
    if r == 0:  # basic slices, negative steps included
        index: list[Any] = []
        for n in shape:
            step = int(g.rng.choice([1, 2, -1, -2]))
            start = int(g.rng.integers(-n, n))
            index.append(slice(start, None, step))
        key: Any = tuple(index)
        th_key = key
        neg = any(sl.step < 0 for sl in index)
        if neg:
            # torch refuses negative steps: flip, then slice the flipped tensor
            def th_fn(x: Any, k: Any = key) -> Any:
                return _torch_basic(x, k)

        else:

            def th_fn(x: Any, k: Any = th_key) -> Any:
                return x[k]

        out = np.empty(shape)[key].shape
    elif r == 1:  # an integer, None, Ellipsis
        n = shape[0]
        key = (int(g.rng.integers(-n, n)), None, Ellipsis)
        out = np.empty(shape)[key].shape

        def th_fn(x: Any, k: Any = key) -> Any:
            return x[k]

    elif r == 2:  # advanced integer indices, repeated
        axis = int(g.rng.integers(len(shape)))
        idx = g.rng.integers(-shape[axis], shape[axis], size=int(g.rng.integers(1, 5)))
        key = (slice(None),) * axis + (idx,)
        out = np.empty(shape)[key].shape

        def th_fn(x: Any, k: Any = key) -> Any:
            import torch

            return x[(*k[:-1], torch.as_tensor(k[-1]))]

    elif r == 3:  # a boolean mask over the leading axes
        lead = int(g.rng.integers(1, len(shape) + 1))
        mask = g.rng.random(shape[:lead]) < 0.6
        mask.flat[int(g.rng.integers(mask.size))] = True
        key = mask
        out = np.empty(shape)[key].shape

        def th_fn(x: Any, k: Any = key) -> Any:
            import torch

            return x[torch.as_tensor(k)]

    else:  # two advanced indices that broadcast together
        if len(shape) < 2:
            return False
        i0 = g.rng.integers(0, shape[0], size=(2, 1))
        i1 = g.rng.integers(-shape[1], shape[1], size=(3,))
        key = (i0, i1)
        out = np.empty(shape)[key].shape

        def th_fn(x: Any, k: Any = key) -> Any:
            import torch

            return x[torch.as_tensor(k[0]), torch.as_tensor(k[1])]

    def cr_fn(x: Any, k: Any = key) -> Any:
        return x[k]

    view = "ambiguous" if r == 0 else "view" if r == 1 else "copy"
    g.add(
        Step(f"getitem[{_show_key(key)}]", (i,), cr_fn, th_fn),
        Shadow(tuple(out), s.kind, s.grad),
        view=view,
    )
    return True


def _random_key(g: Generator, shape: tuple[int, ...]) -> Any:
    parts: list[Any] = []
    dim = 0
    ellipsis = False
    while dim < len(shape) and len(parts) < len(shape) + 2:
        n = shape[dim]
        r = int(g.rng.integers(7))
        if r == 0:
            parts.append(int(g.rng.integers(-n, n)))
        elif r == 1:
            step = int(g.rng.choice([1, 2, 3, -1, -2]))
            start = int(g.rng.integers(-n - 1, n + 1))
            stop = None if g.rng.random() < 0.5 else int(g.rng.integers(-n - 1, n + 1))
            parts.append(slice(start, stop, step))
        elif r == 2:
            parts.append(None)
            continue
        elif r == 3 and not ellipsis:
            ellipsis = True
            parts.append(Ellipsis)
            dim = len(shape) - int(g.rng.integers(0, len(shape) - dim + 1))
            continue
        elif r == 4:
            parts.append(g.rng.integers(-n, n, size=int(g.rng.integers(1, 4))))
        elif r == 5:
            parts.append(g.rng.random(n) < 0.5)
        else:
            parts.append(slice(None))
        dim += 1
    return tuple(parts)


def _torch_basic(x: Any, key: tuple[slice, ...]) -> Any:
    """x[key] for slices with negative steps, which torch refuses: index a flipped copy."""
    out = x
    for axis, sl in enumerate(key):
        n = out.shape[axis]
        positions = list(range(n))[sl]
        import torch

        out = out.index_select(axis, torch.as_tensor(positions, dtype=torch.long))
    return out


def _show_key(key: Any) -> str:
    if key is None:
        return "None"
    if key is Ellipsis:
        return "..."
    if isinstance(key, np.ndarray):
        return f"mask{key.tolist()}" if key.dtype == bool else str(key.tolist())
    if isinstance(key, tuple):
        return ", ".join(_show_key(k) for k in key)
    if isinstance(key, slice):
        start = "" if key.start is None else key.start
        stop = "" if key.stop is None else key.stop
        return f"{start}:{stop}:{key.step}"
    return repr(key)


def op_matmul(g: Generator) -> bool:
    i = g.pick(lambda s: s.kind in ("f64", "f32") and len(s.shape) >= 1)
    if i is None:
        return False
    s = g.shadows[i]
    k = s.shape[-1]
    r = g.rng.random()
    wshape: tuple[int, ...] = (k,) if r < 0.3 else (k, int(g.rng.integers(1, 4)))
    j = g.leaf(wshape, grad=bool(g.rng.random() < 0.7), kind=s.kind)
    out = np.zeros(s.shape) @ np.zeros(wshape)
    g.add(
        Step("matmul", (i, j), lambda a, b: a @ b, lambda a, b: a @ b),
        Shadow(np.shape(out), s.kind, True),
    )
    return True


def op_cast(g: Generator) -> bool:
    i = g.pick(lambda s: s.kind in ("f64", "f32") and len(s.shape) > 0)
    if i is None:
        return False
    s = g.shadows[i]
    to = "f32" if s.kind == "f64" else "f64"
    dtype = np.float32 if to == "f32" else np.float64

    def th_fn(x: Any, d: Any = dtype) -> Any:
        import torch

        return x.to(torch.float32 if d is np.float32 else torch.float64)

    g.add(
        Step(f"astype({np.dtype(dtype).name})", (i,), lambda x, d=dtype: x.astype(d), th_fn),
        Shadow(s.shape, to, s.grad),
    )
    return True


def op_detach(g: Generator) -> bool:
    i = g.float_value()
    if i is None:
        return False
    s = g.shadows[i]
    if g.rng.random() < 0.5:
        g.add(
            Step("detach", (i,), lambda x: x.detach(), lambda x: x.detach()),
            Shadow(s.shape, s.kind, False),
            view="view",
        )
    else:

        def cr_fn(x: Any) -> Any:
            with cr.no_grad():
                return x * 2.0

        def th_fn(x: Any) -> Any:
            import torch

            with torch.no_grad():
                return x * 2.0

        g.add(Step("no_grad(x * 2)", (i,), cr_fn, th_fn), Shadow(s.shape, s.kind, False))
    return True


def op_detach_in_place(g: Generator) -> bool:
    """detach_() of a computed value: the ops recorded before keep sending its gradient to
    the op that computed it, later ones take it for a constant, and a backward through an op
    that saved it must raise. Only values that an element-wise op made, which own their
    memory in both libraries (both refuse a view; a reduction's result is one in PyTorch).
    See test_detach_in_place.py for a detached tensor under a recorded view."""
    makers = [step.label for step in g.program.steps if step.kind != "inplace"]
    # chainrule refuses an in-place change of a tensor detached in place under a recorded
    # view (PyTorch rebases the view): only values no view shares are detached here
    viewed = [s.alias for s in g.shadows]
    fresh = {
        id(s)
        for index, s in enumerate(g.shadows)
        if s.kind in ("f64", "f32")
        and s.grad
        and s.alias == index
        and index not in g.leaves
        and s.alias not in g.ambiguous
        and (makers[index] in UNARY or makers[index] in BINARY)
        and viewed.count(index) == 1
    }
    i = g.pick(lambda s: id(s) in fresh)
    if i is None:
        return False
    g.add(
        Step("detach_()", (i,), lambda x: x.detach_(), lambda x: x.detach_(), kind="inplace"),
        Shadow((), "f64", False),
    )
    g.shadows[i].grad = False  # later ops read a constant; op_inplace may change it
    return True


def op_inplace(g: Generator) -> bool:
    """Change in place a value that requires no grad (a constant, a detached value); a later
    backward through an op that saved it must raise, or give the gradient of what the ops
    read when they ran."""
    i = g.pick(lambda s: s.kind in ("f64", "f32") and not s.grad and s.alias not in g.ambiguous)
    if i is None:
        return False
    r = int(g.rng.integers(4))
    if r == 3:
        shape = g.shadows[i].shape
        if not shape or 0 in shape:
            return False
        key = _random_key(g, shape)
        steps = [k.step for k in key if isinstance(k, slice)]
        if any(step is not None and step < 0 for step in steps):
            return False
        try:
            np.empty(shape)[key] = 0.5
        except IndexError:
            return False
        torch_key = tuple(_torch().as_tensor(k) if isinstance(k, np.ndarray) else k for k in key)

        def cr_set(x: Any, k: Any = key) -> Any:
            x[k] = 0.5

        def th_set(x: Any, k: Any = torch_key) -> Any:
            x[k] = 0.5

        g.add(
            Step(f"[{_show_key(key)}] = 0.5", (i,), cr_set, th_set, kind="inplace"),
            Shadow((), "f64", False),
        )
        return True
    if r == 0:
        label, cr_fn, th_fn = "mul_(1.5)", (lambda x: x.mul_(1.5)), (lambda x: x.mul_(1.5))
    elif r == 1:
        label, cr_fn, th_fn = "add_(0.25)", (lambda x: x.add_(0.25)), (lambda x: x.add_(0.25))
    else:
        s = g.shadows[i]
        if not s.shape:
            return False

        def cr_fn(x: Any) -> Any:
            x[0] = 0.5

        def th_fn(x: Any) -> Any:
            x[0] = 0.5

        label = "[0] = 0.5"
    g.add(Step(label, (i,), cr_fn, th_fn, kind="inplace"), Shadow((), "f64", False))
    return True


def op_const(g: Generator) -> bool:
    """A fresh constant (no grad) that later ops may read and in-place ops may change."""
    g.leaf(SHAPES[g.rng.integers(len(SHAPES))], grad=False)
    return True


def op_more(g: Generator) -> bool:
    """Scans, products, norms, joins, gathers and repeats: ops with rules of their own."""
    i = g.pick(lambda s: s.kind in ("f64", "f32") and len(s.shape) > 0 and 0 not in s.shape)
    if i is None:
        return False
    s = g.shadows[i]
    shape = s.shape
    ndim = len(shape)
    axis = int(g.rng.integers(-ndim, ndim))
    r = int(g.rng.integers(12))
    inputs: tuple[int, ...] = (i,)
    if r == 0:
        label = f"cumsum({axis})"
        cr_fn: Fn = lambda x, a=axis: x.cumsum(axis=a)  # noqa: E731
        th_fn: Fn = lambda x, a=axis: x.cumsum(dim=a)  # noqa: E731
        out = shape
    elif r == 1:
        label = f"cumprod({axis})"
        cr_fn = lambda x, a=axis: x.cumprod(axis=a)  # noqa: E731
        th_fn = lambda x, a=axis: x.cumprod(dim=a)  # noqa: E731
        out = shape
    elif r == 2:
        keep = bool(g.rng.random() < 0.5)
        label = f"prod({axis}, keepdims={keep})"
        cr_fn = lambda x, a=axis, k=keep: x.prod(axis=a, keepdims=k)  # noqa: E731
        th_fn = lambda x, a=axis, k=keep: x.prod(dim=a, keepdim=k)  # noqa: E731
        out = _reduced_shape(shape, axis, keep)
    elif r == 3:
        ax = _axis(g, ndim)
        keep = bool(g.rng.random() < 0.5)
        label = f"std({ax}, keepdims={keep})"
        cr_fn = lambda x, a=ax, k=keep: x.std(axis=a, keepdims=k)  # noqa: E731
        th_fn = lambda x, a=ax, k=keep: (  # noqa: E731
            x.std(correction=0).reshape((1,) * x.ndim if k else ())
            if a is None
            else x.std(dim=a, keepdim=k, correction=0)
        )
        out = _reduced_shape(shape, ax, keep)
    elif r == 4:
        ax = _axis(g, ndim)
        keep = bool(g.rng.random() < 0.5)
        label = f"norm(axis={ax}, keepdims={keep})"
        if isinstance(ax, tuple) and len(ax) == 2 and ax[0] % ndim != ax[1] % ndim:
            # two axes make NumPy's Frobenius norm, which is the 2-norm of the entries
            pass
        elif isinstance(ax, tuple) and len(ax) != 1:
            return False
        cr_fn = lambda x, a=ax, k=keep: x.norm(axis=a, keepdims=k)  # noqa: E731
        th_fn = lambda x, a=ax, k=keep: _torch().linalg.vector_norm(x, dim=a, keepdim=k)  # noqa: E731
        if ax is None and ndim > 2:
            return False
        out = _reduced_shape(shape, ax, keep)
    elif r == 5:
        j = g.pick(
            lambda t: (
                t.kind == s.kind
                and t.shape[: axis % ndim] + t.shape[axis % ndim + 1 :]
                == shape[: axis % ndim] + shape[axis % ndim + 1 :]
                and len(t.shape) == ndim
            )
        )
        if j is None:
            return False
        inputs = (i, j, i)
        label = f"concatenate(axis={axis})"
        cr_fn = lambda *xs, a=axis: cr.concatenate(xs, axis=a)  # noqa: E731
        th_fn = lambda *xs, a=axis: _torch().cat(xs, dim=a)  # noqa: E731
        sizes = shape[axis % ndim] * 2 + g.shadows[j].shape[axis % ndim]
        out = (*shape[: axis % ndim], sizes, *shape[axis % ndim + 1 :])
    elif r == 6:
        j = g.pick(lambda t: t.kind == s.kind and t.shape == shape)
        assert j is not None
        sa = int(g.rng.integers(-ndim - 1, ndim + 1))
        inputs = (j, i)
        label = f"stack(axis={sa})"
        cr_fn = lambda *xs, a=sa: cr.stack(xs, axis=a)  # noqa: E731
        th_fn = lambda *xs, a=sa: _torch().stack(xs, dim=a)  # noqa: E731
        lst = list(shape)
        lst.insert(sa % (ndim + 1), 2)
        out = tuple(lst)
    elif r == 7:
        idx = g.rng.integers(
            0,
            shape[axis],
            size=(*shape[: axis % ndim], int(g.rng.integers(1, 4)), *shape[axis % ndim + 1 :]),
        )
        label = f"take_along_axis({idx.tolist()}, {axis})"
        cr_fn = lambda x, n=idx, a=axis: cr.take_along_axis(x, n, axis=a)  # noqa: E731
        th_fn = lambda x, n=idx, a=axis: x.gather(a, _torch().as_tensor(n))  # noqa: E731
        out = idx.shape
    elif r == 8:
        shift = int(g.rng.integers(-3, 4))
        label = f"roll({shift}, {axis})"
        cr_fn = lambda x, n=shift, a=axis: cr.roll(x, n, axis=a)  # noqa: E731
        th_fn = lambda x, n=shift, a=axis: x.roll(n, dims=a)  # noqa: E731
        out = shape
    elif r == 9:
        reps = tuple(int(v) for v in g.rng.integers(1, 3, size=ndim))
        label = f"tile{reps}"
        cr_fn = lambda x, n=reps: cr.tile(x, n)  # noqa: E731
        th_fn = lambda x, n=reps: x.repeat(n)  # noqa: E731
        out = tuple(a * b for a, b in zip(shape, reps, strict=True))
    elif r == 10:
        mask = g.rng.random(shape) < 0.4
        label = f"masked_fill({mask.tolist()}, 0.5)"
        cr_fn = lambda x, m=mask: cr.masked_fill(x, m, 0.5)  # noqa: E731
        th_fn = lambda x, m=mask: x.masked_fill(_torch().as_tensor(m), 0.5)  # noqa: E731
        out = shape
    else:
        if ndim < 2:
            return False
        j = g.leaf((*shape[-1:], 2), grad=bool(g.rng.random() < 0.7), kind=s.kind)
        inputs = (i, j)
        label = "einsum(...i,ij->j...)"
        cr_fn = lambda a, b: cr.einsum("...i,ij->j...", a, b)  # noqa: E731
        th_fn = lambda a, b: _torch().einsum("...i,ij->j...", a, b)  # noqa: E731
        out = (2, *shape[:-1])
    grad = any(g.shadows[k].grad for k in inputs)
    g.add(Step(label, inputs, cr_fn, th_fn), Shadow(tuple(out), s.kind, grad))
    return True


def op_linalg(g: Generator) -> bool:
    """Matrix ops on the last two axes, and outer/kron products of two values."""
    i = g.pick(lambda s: s.kind in ("f64", "f32") and len(s.shape) >= 2 and 0 not in s.shape)
    if i is None:
        return False
    s = g.shadows[i]
    k = int(g.rng.integers(-1, 2))
    r = int(g.rng.integers(5))
    inputs: tuple[int, ...] = (i,)
    view = "copy"
    if r == 0:
        label = f"tril(k={k})"
        cr_fn: Fn = lambda x, k=k: cr.tril(x, k)  # noqa: E731
        th_fn: Fn = lambda x, k=k: x.tril(k)  # noqa: E731
        out = s.shape
    elif r == 1:
        label = f"triu(k={k})"
        cr_fn = lambda x, k=k: cr.triu(x, k)  # noqa: E731
        th_fn = lambda x, k=k: x.triu(k)  # noqa: E731
        out = s.shape
    elif r == 2:
        label = f"diagonal(offset={k}, axis1=-2, axis2=-1)"
        cr_fn = lambda x, k=k: cr.diagonal(x, k, -2, -1)  # noqa: E731
        th_fn = lambda x, k=k: x.diagonal(k, -2, -1)  # noqa: E731
        out = np.zeros(s.shape).diagonal(k, -2, -1).shape
        view = "ambiguous"  # read-only in chainrule (NumPy's), writable in PyTorch
    elif r == 3:
        if len(s.shape) != 2:
            return False
        label = f"trace(offset={k})"
        cr_fn = lambda x, k=k: cr.trace(x, k)  # noqa: E731
        th_fn = lambda x, k=k: x.diagonal(k).sum()  # noqa: E731
        out = ()
    else:
        j = g.pick(lambda t: t.kind == s.kind and 0 < int(np.prod(t.shape)) <= 6)
        if j is None:
            return False
        inputs = (j, i)
        label = "outer"
        cr_fn = lambda a, b: cr.outer(a, b)  # noqa: E731
        th_fn = lambda a, b: _torch().outer(a.reshape(-1), b.reshape(-1))  # noqa: E731
        out = (int(np.prod(g.shadows[j].shape)), int(np.prod(s.shape)))
    grad = any(g.shadows[n].grad for n in inputs)
    g.add(Step(label, inputs, cr_fn, th_fn), Shadow(tuple(out), s.kind, grad), view=view)
    return True


def _nnf() -> ModuleType:
    import torch.nn.functional

    return torch.nn.functional


def _torch() -> ModuleType:
    import torch

    return torch


INT_BINARY: dict[str, tuple[Fn, Fn, str]] = {
    "int_add": (lambda a, b: a + b, lambda a, b: a + b, "int"),
    "int_sub": (lambda a, b: a - b, lambda a, b: a - b, "int"),
    "int_mul": (lambda a, b: a * b, lambda a, b: a * b, "int"),
    "int_true_div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1), "f32"),
    "int_plus_half": (lambda a, b: a + 0.5 * b, lambda a, b: a + 0.5 * b, "f32"),
    "int_and_bool": (lambda a, b: a * (b > 0), lambda a, b: a * (b > 0), "int"),
}


def op_int_arith(g: Generator) -> bool:
    """Arithmetic between integer tensors (NumPy's and PyTorch's integer rules agree; a
    division or a float number gives float32), whose results later ops read beside floats."""
    i = g.pick(lambda s: s.kind == "int")
    if i is None:
        i = g.leaf(SHAPES[g.rng.integers(1, len(SHAPES))], grad=False, kind="int")
    a = g.shadows[i]
    j = g.pick(lambda s: s.kind == "int" and _broadcast(a.shape, s.shape) is not None)
    assert j is not None
    name = list(INT_BINARY)[g.rng.integers(len(INT_BINARY))]
    cr_fn, th_fn, kind = INT_BINARY[name]
    shape = _broadcast(a.shape, g.shadows[j].shape)
    assert shape is not None
    g.add(Step(name, (i, j), cr_fn, th_fn), Shadow(shape, kind, False))
    return True


SCALAR: dict[str, tuple[Fn, Fn]] = {
    "x + 3": (lambda x: x + 3, lambda x: x + 3),
    "2.5 * x": (lambda x: 2.5 * x, lambda x: 2.5 * x),
    "x / 4": (lambda x: x / 4, lambda x: x / 4),
    "x ** 2": (lambda x: x**2, lambda x: x**2),
    "x ** 0.5 of x*x+1": (lambda x: (x * x + 1) ** 0.5, lambda x: (x * x + 1) ** 0.5),
    "2 ** tanh(x)": (lambda x: 2 ** x.tanh(), lambda x: 2 ** x.tanh()),
    "1 - x": (lambda x: 1 - x, lambda x: 1 - x),
    "x + True": (lambda x: x + True, lambda x: x + True),
}


def op_scalar(g: Generator) -> bool:
    """A float value with a Python number: the tensor's dtype wins (float32 stays float32)."""
    i = g.float_value()
    if i is None:
        return False
    name = list(SCALAR)[g.rng.integers(len(SCALAR))]
    cr_fn, th_fn = SCALAR[name]
    s = g.shadows[i]
    g.add(Step(name, (i,), cr_fn, th_fn), Shadow(s.shape, s.kind, s.grad))
    return True


def op_vocab(g: Generator) -> bool:
    """The vocabulary ops (test_vocabulary.py): narrow, chunk and unbind (views in both
    libraries), normalize, glu, cosine_similarity, pairwise_distance, scatter, round(decimals)."""
    i = g.pick(lambda s: s.kind in ("f64", "f32") and len(s.shape) > 0 and 0 not in s.shape)
    if i is None:
        return False
    s = g.shadows[i]
    shape = s.shape
    ndim = len(shape)
    axis = int(g.rng.integers(-ndim, ndim))
    size = shape[axis]
    r = int(g.rng.integers(8))
    inputs: tuple[int, ...] = (i,)
    view = "copy"
    if r == 0:
        start = int(g.rng.integers(-size, size))
        length = int(g.rng.integers(0, size - start % size + 1))
        label = f"narrow({axis}, {start}, {length})"
        cr_fn: Fn = lambda x, a=axis, b=start, n=length: x.narrow(a, b, n)  # noqa: E731
        th_fn: Fn = lambda x, a=axis, b=start, n=length: x.narrow(a, b, n)  # noqa: E731
        out = tuple(length if d == axis % ndim else n for d, n in enumerate(shape))
        view = "view"
    elif r == 1:
        chunks = int(g.rng.integers(1, size + 2))
        step = -(-size // chunks)
        part = int(g.rng.integers(0, -(-size // step)))
        label = f"chunk({chunks}, {axis})[{part}]"
        cr_fn = lambda x, c=chunks, a=axis, k=part: x.chunk(c, a)[k]  # noqa: E731
        th_fn = lambda x, c=chunks, a=axis, k=part: x.chunk(c, a)[k]  # noqa: E731
        width = min(step, size - part * step)
        out = tuple(width if d == axis % ndim else n for d, n in enumerate(shape))
        view = "view"
    elif r == 2:
        part = int(g.rng.integers(size))
        label = f"unbind({axis})[{part}]"
        cr_fn = lambda x, a=axis, k=part: x.unbind(a)[k]  # noqa: E731
        th_fn = lambda x, a=axis, k=part: x.unbind(a)[k]  # noqa: E731
        out = shape[: axis % ndim] + shape[axis % ndim + 1 :]
        view = "view"
    elif r == 3:
        p = [1.0, 2.0, 3.0, float("inf")][int(g.rng.integers(4))]
        # eps 1e-3, not 1e-12: a zero row (sub(v, v)) has gradient grad / eps, and the
        # 1e12s that cancel upstream leave rounding noise of 1e-4 in both libraries
        label = f"normalize(p={p}, dim={axis}, eps=1e-3)"
        cr_fn = lambda x, q=p, a=axis: _functional().normalize(x, q, a, 1e-3)  # noqa: E731
        th_fn = lambda x, q=p, a=axis: _nnf().normalize(x, q, a, 1e-3)  # noqa: E731
        out = shape
    elif r == 4:
        if size % 2:
            return False
        label = f"glu({axis})"
        cr_fn = lambda x, a=axis: _functional().glu(x, a)  # noqa: E731
        th_fn = lambda x, a=axis: _nnf().glu(x, a)  # noqa: E731
        out = tuple(size // 2 if d == axis % ndim else n for d, n in enumerate(shape))
    elif r in (5, 6):
        j = g.pick(lambda t: t.kind == s.kind and t.shape == shape)
        assert j is not None
        inputs = (i, j)
        if r == 5:
            label = f"cosine_similarity(dim={axis})"
            cr_fn = lambda a, b, d=axis: _functional().cosine_similarity(a, b, d)  # noqa: E731
            th_fn = lambda a, b, d=axis: _nnf().cosine_similarity(a, b, d)  # noqa: E731
            out = shape[: axis % ndim] + shape[axis % ndim + 1 :]
        else:
            p = [1.0, 2.0, 3.0, float("inf")][int(g.rng.integers(4))]
            label = f"pairwise_distance(p={p})"
            cr_fn = lambda a, b, q=p: _functional().pairwise_distance(a, b, q)  # noqa: E731
            th_fn = lambda a, b, q=p: _nnf().pairwise_distance(a, b, q)  # noqa: E731
            out = shape[:-1]
    else:
        # each position of the axis written at most once: a permutation's leading entries
        rows = int(g.rng.integers(1, size + 1))
        index = np.moveaxis(
            np.argsort(g.rng.random((size, *np.delete(shape, axis % ndim))), axis=0)[:rows],
            0,
            axis % ndim,
        )
        j = g.leaf(index.shape, grad=bool(g.rng.random() < 0.7), kind=s.kind)
        inputs = (i, j)
        label = f"scatter({axis}, {index.tolist()})"
        cr_fn = lambda x, v, a=axis, n=index: x.scatter(a, n, v)  # noqa: E731
        th_fn = lambda x, v, a=axis, n=index: x.scatter(a, _torch().as_tensor(n), v)  # noqa: E731
        out = shape
    grad = any(g.shadows[k].grad for k in inputs)
    g.add(Step(label, inputs, cr_fn, th_fn), Shadow(tuple(out), s.kind, grad), view=view)
    return True


def _functional() -> ModuleType:
    import chainrule.functional

    return chainrule.functional


def op_f32_leaf(g: Generator) -> bool:
    """A float32 leaf, to meet float64 values in later binaries (both promote to float64)."""
    g.leaf(SHAPES[g.rng.integers(1, len(SHAPES))], grad=bool(g.rng.random() < 0.7), kind="f32")
    return True


OPS: dict[str, tuple[Callable[[Generator], bool], float]] = {
    "unary": (op_unary, 3.0),
    "binary": (op_binary, 4.0),
    "int_mix": (op_int_mix, 0.6),
    "reduce": (op_reduce, 1.5),
    "view": (op_view, 2.0),
    "index": (op_index, 1.5),
    "matmul": (op_matmul, 0.8),
    "cast": (op_cast, 0.4),
    "detach": (op_detach, 0.4),
    "inplace": (op_inplace, 0.6),
    "const": (op_const, 0.4),
    "more": (op_more, 2.0),
    "int_arith": (op_int_arith, 0.5),
    "scalar": (op_scalar, 1.0),
    "f32_leaf": (op_f32_leaf, 0.3),
    "linalg": (op_linalg, 0.8),
    "vocab": (op_vocab, 1.0),
}


def draw_program(
    seed: int, n_steps: int | None = None, *, ties: bool = False, detach_in_place: bool = False
) -> Program:
    """Program number `seed`; with `ties`, leaves hold -1, 0 and 1 only (kinks and ties);
    with `detach_in_place`, steps may also detach_() a computed value (an extra table entry,
    so the programs of the other seeds stay as they were)."""
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(2, 9)) if n_steps is None else n_steps
    return Generator(seed + 10_000_000, steps, ties=ties, detach_in_place=detach_in_place).draw()


# ---------------------------------------------------------------------- running
@dataclass
class Outcome:
    values: list[np.ndarray]  # each value as it was made (a copy)
    dtypes: list[str]
    leaves: list[int]  # value indices of leaves that require grad
    grads: dict[int, np.ndarray | None]
    error: str | None = None  # the backward's error, if it raised
    second: dict[int, np.ndarray | None] | None = None
    create_graph_first: bool = False  # how it was run (`run`), for a rerun
    second_order: bool = False


def _weights(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)


def run(
    program: Program,
    lib: str,
    torch: ModuleType | None = None,
    *,
    second_order: bool = False,
    copy_saved: bool = False,
    library: Callable[[np.ndarray], Any] | None = None,
    create_graph_first: bool = False,
) -> Outcome:
    """Replay `program` in "chainrule" or "torch" and backprop sum_i <w_i, v_i>; with
    `copy_saved`, PyTorch copies each tensor its ops save (later in-place changes miss it).

    With `create_graph_first` the loss is <w, v_last> of the last value that requires grad
    only (so a leaf's gradient may be one passed through unchanged, shared with another
    leaf's), backpropagated once with create_graph=True and then once more plainly through
    0.5 * loss: `.grad` accumulates 1.5 times the gradient, the first part recorded."""
    if copy_saved:
        assert torch is not None
        with torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
            return run(
                program,
                lib,
                torch,
                second_order=second_order,
                create_graph_first=create_graph_first,
            )
    values: list[Any] = []
    snapshots: list[np.ndarray] = []
    dtypes: list[str] = []
    leaves: list[int] = []
    try:
        with np.errstate(all="ignore"):
            _forward(program, lib, torch, values, snapshots, dtypes, leaves, library)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return Outcome(snapshots, dtypes, leaves, {}, f"forward: {type(exc).__name__}: {exc}")
    with np.errstate(all="ignore"):
        return _backward(
            program,
            lib,
            torch,
            values,
            snapshots,
            dtypes,
            leaves,
            second_order,
            create_graph_first,
        )


def _forward(
    program: Program,
    lib: str,
    torch: ModuleType | None,
    values: list[Any],
    snapshots: list[np.ndarray],
    dtypes: list[str],
    leaves: list[int],
    library: Callable[[np.ndarray], Any] | None = None,
) -> None:
    """Run the steps; `library` makes chainrule's leaves arrays of another library."""
    for step in program.steps:
        if step.kind == "leaf":
            assert step.array is not None
            if lib == "torch":
                assert torch is not None
                value = torch.tensor(step.array.copy(), requires_grad=step.requires_grad)
            else:
                array = np.array(step.array)
                value = cr.tensor(
                    array if library is None else library(array),
                    dtype=array.dtype,
                    requires_grad=step.requires_grad,
                )
            if step.requires_grad:
                leaves.append(len(values))
        elif step.kind == "inplace":
            target = values[step.inputs[0]]
            if lib == "torch":
                step.torch(target)
            else:
                with cr.no_grad() if target.requires_grad else _nullcontext():
                    step.chainrule(target)
            continue
        else:
            fn = step.torch if lib == "torch" else step.chainrule
            value = fn(*(values[i] for i in step.inputs))
        values.append(value)
        snapshots.append(_to_numpy(value))
        dtypes.append(_dtype_name(value))


def _backward(
    program: Program,
    lib: str,
    torch: ModuleType | None,
    values: list[Any],
    snapshots: list[np.ndarray],
    dtypes: list[str],
    leaves: list[int],
    second_order: bool,
    create_graph_first: bool = False,
) -> Outcome:
    loss = None
    for index, value in enumerate(values):
        if not _is_float(value) or not value.requires_grad:
            continue
        if create_graph_first:
            loss = None  # only the last one counts
        w = _weights(program.seed * 1000 + index, tuple(value.shape))
        if lib == "torch":
            term = (value * torch.as_tensor(w, dtype=value.dtype)).sum()  # type: ignore[union-attr]
        else:
            term = (value * w.astype(value.dtype)).sum()
        term = term.to(torch.float64) if lib == "torch" else term.astype(np.float64)  # type: ignore[union-attr]
        loss = term if loss is None else loss + term
    grads: dict[int, np.ndarray | None] = {}
    error = None
    second = None
    if loss is not None:
        try:
            if second_order:
                first = _grads(lib, torch, loss, [values[i] for i in leaves], create_graph=True)
                total = None
                for k, (i, g1) in enumerate(zip(leaves, first, strict=True)):
                    grads[i] = None if g1 is None else _to_numpy(g1)
                    if g1 is None or not g1.requires_grad:
                        continue
                    v = _weights(program.seed * 7 + k, tuple(g1.shape))
                    term = (
                        g1
                        * (
                            torch.as_tensor(v, dtype=g1.dtype)
                            if lib == "torch"
                            else v.astype(g1.dtype)
                        )
                    ).sum()
                    total = term if total is None else total + term
                if total is not None:
                    hv = _grads(lib, torch, total, [values[i] for i in leaves], create_graph=False)
                    second = {
                        i: None if h is None else _to_numpy(h)
                        for i, h in zip(leaves, hv, strict=True)
                    }
                else:
                    second = {}
            elif create_graph_first:
                loss.backward(create_graph=True)
                (loss * 0.5).backward()
                for i in leaves:
                    grad = values[i].grad
                    grads[i] = None if grad is None else _to_numpy(grad)
            elif program.seed % 2:
                # half the programs backprop twice through the retained graph, the second
                # time through one more op: .grad accumulates 1.5 times the gradient
                loss.backward(retain_graph=True)
                (loss * 0.5).backward()
                for i in leaves:
                    grad = values[i].grad
                    grads[i] = None if grad is None else _to_numpy(grad)
            else:
                loss.backward()
                for i in leaves:
                    grad = values[i].grad
                    grads[i] = None if grad is None else _to_numpy(grad)
        except RuntimeError as exc:
            error = str(exc)
    return Outcome(
        snapshots, dtypes, leaves, grads, error, second, create_graph_first, second_order
    )


def _grads(
    lib: str, torch: ModuleType | None, out: Any, inputs: Sequence[Any], *, create_graph: bool
) -> list[Any]:
    if lib == "torch":
        assert torch is not None
        return list(torch.autograd.grad(out, inputs, create_graph=create_graph, allow_unused=True))
    for x in inputs:
        x.grad = None
    out.backward(create_graph=create_graph)
    found = [x.grad for x in inputs]
    for x in inputs:
        x.grad = None
    return found


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: Any) -> None:
        return None


def _is_float(value: Any) -> bool:
    name = _dtype_name(value)
    return name.startswith("float")


def _dtype_name(value: Any) -> str:
    if isinstance(value, cr.Tensor):
        return value.dtype.name
    if isinstance(value, np.ndarray):
        return value.dtype.name
    return str(value.dtype).removeprefix("torch.")


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, cr.Tensor):
        return np.array(value.detach().numpy(), copy=True)
    if isinstance(value, np.ndarray):
        return value.copy()
    return value.detach().cpu().numpy(force=True).copy()


def compare(program: Program, ours: Outcome, theirs: Outcome) -> list[str]:
    """Every disagreement between the two outcomes, as lines naming the value or leaf."""
    problems: list[str] = []
    rtol = 1e-4 if "float32" in theirs.dtypes else 1e-10
    if len(ours.values) != len(theirs.values):
        return [
            f"forward stopped at v{len(ours.values)} (chainrule: {ours.error}) "
            f"vs v{len(theirs.values)} (torch: {theirs.error})"
        ]
    for index, (a, b) in enumerate(zip(ours.values, theirs.values, strict=True)):
        if ours.dtypes[index] != theirs.dtypes[index]:
            problems.append(f"v{index}: dtype {ours.dtypes[index]} vs torch {theirs.dtypes[index]}")
            continue
        problems += _close(f"v{index}", a, b, rtol)
    if ours.error is not None and theirs.error is None and "in place" in ours.error:
        # chainrule checks the inputs its rule reads (modified or detached in place), which
        # PyTorch may have copied as it saved them (a broadcast matmul): a stricter refusal,
        # never a wrong gradient
        return problems
    if (
        ours.error is None
        and theirs.error is not None
        and ("inplace" in theirs.error or "detach_()" in theirs.error)
    ):
        # PyTorch's op saved the value changed or detached later (a fused op saving its
        # output, var its input), chainrule's did not need it: its gradient must be that of
        # the values each op read, which PyTorch gives when every saved tensor is copied as
        # it is saved
        theirs = run(
            program,
            "torch",
            _torch(),
            copy_saved=True,
            second_order=theirs.second_order,  # else its gradients are of another loss
            create_graph_first=theirs.create_graph_first,
        )
    if (ours.error is None) != (theirs.error is None):
        problems.append(f"backward: chainrule error={ours.error!r}, torch error={theirs.error!r}")
        return problems
    if _spread_cancels(program, theirs.values):
        return problems
    for i in ours.leaves:
        problems += _close_grad(f"grad v{i}", ours.grads.get(i), theirs.grads.get(i), rtol)
    if ours.second is not None and theirs.second is not None:
        # PyTorch's second derivative of a norm (or std) at 0 is NaN; chainrule differentiates
        # its gradient's convention (0 there), a finite value: both are conventions
        kinked = any(step.label.startswith(("norm(", "std(")) for step in program.steps)
        for i in ours.leaves:
            a, b = ours.second.get(i), theirs.second.get(i)
            if kinked and a is not None and b is not None:
                b = np.where(np.isnan(b), a, b)
            problems += _close_grad(f"hvp v{i}", a, b, rtol)
    return problems


def _spread_cancels(program: Program, values: list[np.ndarray]) -> bool:
    """Whether a std or norm step read equal entries (a repeated gather, x - x) where
    rounding leaves a spread of a few ulps: the gradient there is (x - mean) / std of rounding
    errors in both libraries, so gradients are not compared (values still are)."""
    index = 0
    for step in program.steps:
        if step.kind == "inplace":
            continue
        if index >= len(values):
            break
        if step.label.startswith(("std(", "norm(")):
            spread, scale = values[index], np.abs(values[step.inputs[0]])
            if spread.size and np.min(np.abs(spread)) <= 1e-6 * max(float(scale.max()), 1e-300):
                return True
        index += 1
    return False


def _close_grad(name: str, a: np.ndarray | None, b: np.ndarray | None, rtol: float) -> list[str]:
    # a missing gradient and a zero one mean the same: no path, or a path of zero slope
    if a is None and b is None:
        return []
    if a is None:
        a = np.zeros_like(b)
    if b is None:
        b = np.zeros_like(a)
    return _close(name, a, b, rtol)


def _close(name: str, a: np.ndarray, b: np.ndarray, rtol: float) -> list[str]:
    if a.shape != b.shape:
        return [f"{name}: shape {a.shape} vs torch {b.shape}"]
    if a.dtype != b.dtype:
        return [f"{name}: dtype {a.dtype} vs torch {b.dtype}"]
    if a.size == 0:
        return []
    finite = np.abs(b[np.isfinite(b)].astype(np.float64))
    scale = max(float(np.max(finite, initial=0.0)), 1.0)
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    bad = ~(diff <= rtol * scale) & ~same
    if np.any(bad):
        where = tuple(int(w[0]) for w in np.nonzero(np.atleast_1d(bad)))
        a, b = np.atleast_1d(a), np.atleast_1d(b)
        return [
            f"{name}: {a[where]!r} vs torch {b[where]!r} at {where} "
            f"(max diff {np.nanmax(diff):.3g})"
        ]
    return []


# ---------------------------------------------------------------------- explanations
def explain_problems(program: Program) -> list[str] | None:
    """`chainrule.explain(loss, leaf)` for every leaf of the program's loss: the gradient its
    float64 replay of the steps gives (the sum of the products along the printed paths) must
    be the engine's, every local check must pass, and a leaf no gradient reaches must be
    refused as not in the graph. None when there is nothing to explain (in-place steps,
    whose earlier values the replay cannot see and explain refuses; a forward that raised;
    no loss)."""
    from chainrule.explanation.replay import upstream_gradients
    from chainrule.explanation.walk import read_graph

    if any(step.kind == "inplace" for step in program.steps):
        return None
    values: list[Any] = []
    snapshots: list[np.ndarray] = []
    dtypes: list[str] = []
    leaves: list[int] = []
    try:
        with np.errstate(all="ignore"):
            _forward(program, "chainrule", None, values, snapshots, dtypes, leaves)
    except (RuntimeError, ValueError, TypeError, IndexError):
        return None
    loss = None
    for index, value in enumerate(values):
        if _is_float(value) and value.requires_grad:
            w = _weights(program.seed * 1000 + index, tuple(value.shape))
            term = (value * w.astype(value.dtype)).sum().astype(np.float64)
            loss = term if loss is None else loss + term
    if loss is None or loss.grad_fn is None:
        return None
    with np.errstate(all="ignore"):
        loss.backward(retain_graph=True)
    # float32 steps round the engine's gradient; the replay runs every step in float64
    rtol = 1e-4 if "float32" in dtypes else 1e-9
    problems: list[str] = []
    for i in leaves:
        leaf, engine = values[i], values[i].grad
        try:
            with np.errstate(all="ignore"):
                explanation = cr.explain(loss, leaf)
                replayed = upstream_gradients(read_graph(loss, keep=(leaf,))).get(id(leaf))
        except ValueError as error:
            reached = engine is not None and bool(np.any(engine.numpy()))
            if reached or "not in the graph" not in str(error):
                problems.append(f"explain(loss, v{i}) raised {error}")
            continue
        expected = None if engine is None else _to_numpy(engine)
        if replayed is not None:
            replayed = replayed.astype(leaf.dtype)  # the replay is float64 throughout
        problems += _close_grad(f"explained grad v{i}", replayed, expected, rtol)
        failed = [str(check) for check in explanation.checks if not check.passed]
        if failed:
            problems.append(f"explain(loss, v{i}): a local check failed: {failed[0]}")
    return problems


# ---------------------------------------------------------------------- transforms
def as_function(program: Program, lib: str) -> tuple[Callable[..., Any], list[np.ndarray]]:
    """The program as f(*leaves) -> the loss, over the leaves that require grad, and their
    values: the shape chainrule.grad/hessian and torch.func.grad/hessian take."""
    inputs = [s.array for s in program.steps if s.kind == "leaf" and s.requires_grad]

    def f(*leaves: Any) -> Any:
        torch = _torch() if lib == "torch" else None
        values: list[Any] = []
        given = iter(leaves)
        for step in program.steps:
            if step.kind == "leaf":
                assert step.array is not None
                if step.requires_grad:
                    value = next(given)
                elif lib == "torch":
                    assert torch is not None
                    value = torch.tensor(step.array.copy())
                else:
                    value = cr.tensor(step.array.copy(), dtype=step.array.dtype)
            elif step.kind == "inplace":
                raise ValueError("as_function: programs with in-place steps have no function form")
            else:
                fn = step.torch if lib == "torch" else step.chainrule
                value = fn(*(values[i] for i in step.inputs))
            values.append(value)
        loss = None
        for index, value in enumerate(values):
            if not _is_float(value):
                continue
            w = _weights(program.seed * 1000 + index, tuple(value.shape))
            if lib == "torch":
                assert torch is not None
                term = (value * torch.as_tensor(w, dtype=value.dtype)).sum().to(torch.float64)
            else:
                term = (value * w.astype(value.dtype)).sum().astype(np.float64)
            loss = term if loss is None else loss + term
        return loss

    return f, [np.array(a) for a in inputs if a is not None]


def _hunt(start: int, count: int) -> None:
    """Run programs start .. start + count in both libraries and print each disagreement."""
    torch = _torch()
    disagree = 0
    for seed in range(start, start + count):
        for ties, second_order, first in (
            (False, False, False),
            (True, False, False),
            (False, True, False),
            (False, False, True),
        ):
            program = draw_program(seed, ties=ties)
            ours = run(program, "chainrule", second_order=second_order, create_graph_first=first)
            theirs = run(
                program, "torch", torch, second_order=second_order, create_graph_first=first
            )
            problems = compare(program, ours, theirs)
            if problems:
                disagree += 1
                print(program, *problems, sep="\n  -> ")
        program = draw_program(seed)
        problems = explain_problems(program) or []
        if problems:
            disagree += 1
            print(program, *problems, sep="\n  -> ")
    print(f"{5 * count} programs, {disagree} disagree")


if __name__ == "__main__":
    import sys

    _hunt(int(sys.argv[1]), int(sys.argv[2]))
