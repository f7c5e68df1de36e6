"""What every transformation shares: the arguments it differentiates (pytrees of fresh leaves),
the reverse sweep from an output, and the rule that decides whether a result is recorded.

Transformations nest as JAX's do: an inner one records its backward pass whenever what it
differentiates depends on a tensor that requires grad, such as a value an outer one varies.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import placement
from chainrule.backends import namespace
from chainrule.graph import Node, gradients
from chainrule.modes import STATE, CompileError, enable_grad, is_grad_enabled
from chainrule.pytree import TreeDef, tree_flatten, tree_map, tree_unflatten
from chainrule.tensor import Tensor, as_tensor

ArgNums = int | Sequence[int]

# The fresh leaves of transformations that have returned. They require grad only so that
# their own backward could run; to every later transformation they are constants, so a
# result recorded through them does not make an outer result recorded too.
_RETIRED: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def single_argnum(argnums: ArgNums) -> bool:
    """Whether `argnums` is one position (an int, NumPy's too), so the result is one gradient
    rather than a tuple of them."""
    return isinstance(argnums, (int, np.integer))


def argnums_tuple(argnums: ArgNums, count: int, op: str) -> tuple[int, ...]:
    """`argnums` as a tuple of distinct non-negative positions among `count` arguments."""
    if isinstance(argnums, (int, np.integer)):
        numbers: tuple[int, ...] = (operator.index(argnums),)
    else:
        try:
            numbers = tuple(operator.index(number) for number in argnums)
        except TypeError:
            raise TypeError(
                f"{op}: argnums={argnums!r} must be an int or a tuple of ints, the positions of "
                "the arguments to differentiate"
            ) from None
    for number in numbers:
        if not -count <= number < count:
            raise ValueError(
                f"{op}: argnums={argnums} but the function was called with {count} arguments"
            )
    normalized = tuple(number % count for number in numbers)
    for position, number in enumerate(normalized):
        if number in normalized[:position]:
            raise ValueError(
                f"{op}: argnums={argnums} names argument {number} twice; list each argument "
                "once (the gradient for a repeated one would be ambiguous)"
            )
    return normalized


def describe(value: Any) -> str:
    """A few words on what `value` is, for error messages."""
    name = type(value).__name__
    article = "an" if name[0] in "aeiou" else "a"
    if isinstance(value, (Tensor, np.ndarray)):
        return f"{article} {name} of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {name} of {len(value)} items"
    return f"{article} {name}"


def _check_leaf(value: Any, op: str, where: str) -> None:
    if not isinstance(value, (Tensor, np.ndarray, np.generic, int, float)):
        raise TypeError(
            f"{op}: {where} is {describe(value)}; only arrays, Tensors and numbers (alone or "
            "in dicts, lists and tuples) can be differentiated: pass other values as keyword "
            "arguments, or leave their position out of argnums"
        )
    dtype = value.dtype if isinstance(value, (Tensor, np.ndarray, np.generic)) else None
    dtype = np.asarray(value).dtype if dtype is None else dtype
    if dtype.kind != "f":
        raise TypeError(
            f"{op}: {where} has dtype {dtype}, and only floating-point inputs can be "
            "differentiated (as in JAX); convert it, e.g. x.astype(np.float64), or leave it "
            "out of argnums"
        )


def _target(value: Any) -> Tensor:
    """A tensor to differentiate standing for `value`: a fresh leaf for a constant, or, for a
    tensor an outer transformation (or the user) differentiates, an identity op on it. The
    inner derivative then counts only the paths through this argument (d/dy (x y) at y = x is
    x, not 2x, as in JAX), while the outer one still sees how the result depends on the value
    passed in."""
    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        with enable_grad():
            return value.reshape(value.shape)
    values = value.data if isinstance(value, Tensor) else value
    # A copy: the sweeps that vjp_fn and linearize's f_jvp run later read the saved inputs,
    # and a caller's array changed in place meanwhile (x -= lr * g) must not change them.
    # A tensor's values stay in its array library and on its device, as its gradient must.
    if isinstance(values, np.ndarray):
        values = values.copy()
    elif isinstance(value, Tensor):
        values = placement.copy(values)
    return Tensor(values).requires_grad_()


def differentiable_inputs(
    args: Sequence[Any], numbers: tuple[int, ...], op: str
) -> tuple[list[Any], list[Tensor], list[TreeDef]]:
    """The arguments with each leaf of those at `numbers` replaced by a tensor to
    differentiate; those tensors in leaf order; the structure of each differentiated one.
    Refused while chainrule.compile traces a function (every transform comes here)."""
    if STATE.tracer is not None:
        raise CompileError(
            f"compile: chainrule.{op} was called inside the function being compiled; the "
            "function transforms (grad, value_and_grad, vjp, jvp, linearize, jacrev, jacfwd, "
            "hessian, hvp) cannot be traced, as each runs a gradient sweep of its own that a "
            "replay cannot repeat. Inside a compiled step call loss.backward() and read the "
            f"parameters' .grad (that is replayed), or call chainrule.{op} outside "
            "chainrule.compile"
        )
    call_args = list(args)
    targets: list[Tensor] = []
    treedefs: list[TreeDef] = []
    for number in numbers:
        leaves, treedef = tree_flatten(args[number])
        for leaf, path in zip(leaves, treedef.paths(), strict=True):
            _check_leaf(leaf, op, f"argument {number}{path}")
        leaf_targets = [_target(leaf) for leaf in leaves]
        call_args[number] = tree_unflatten(treedef, leaf_targets)
        targets.extend(leaf_targets)
        treedefs.append(treedef)
    return call_args, targets, treedefs


def unflatten_each(treedefs: Sequence[TreeDef], leaves: Sequence[Any]) -> list[Any]:
    """Consecutive runs of `leaves` built into the trees `treedefs`, one tree each."""
    trees = []
    start = 0
    for treedef in treedefs:
        stop = start + treedef.num_leaves
        trees.append(tree_unflatten(treedef, list(leaves[start:stop])))
        start = stop
    return trees


def retire(targets: Sequence[Tensor]) -> None:
    for target in targets:
        if target.is_leaf:
            _RETIRED[id(target)] = target


def depends_on_other_variables(roots: Sequence[Any], targets: Sequence[Tensor]) -> bool:
    """Whether a tensor in `roots`, or one it was computed from, requires grad and is not a
    fresh leaf of `targets` or of a transformation that has returned: then the derivative is
    itself a function of a variable being differentiated, and its backward must be recorded
    (create_graph)."""
    if not is_grad_enabled():
        return False
    ours = {id(target) for target in targets if target.is_leaf}
    # Computed inputs are followed to the node recorded for them, as backward does, not to
    # their grad_fn now: one detached in place since still carries its producer's gradient.
    stack: list[Tensor | Node] = [
        root for root in roots if isinstance(root, Tensor) and root.requires_grad
    ]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        node = item if isinstance(item, Node) else item.grad_fn
        if node is None:
            if id(item) not in ours and _RETIRED.get(id(item)) is not item:
                return True
            continue
        for parent, producer in zip(node.parents, node.producers, strict=True):
            if producer is not None:
                stack.append(producer)
            elif parent.requires_grad:
                stack.append(parent)
    return False


def real_array(value: Any, op: str, what: str) -> Any:
    """`value` as it seeds a sweep: a Tensor as it is, anything else as a NumPy array, which
    must hold real numbers: cast to the output's dtype, a complex one would lose its
    imaginary part and None would become NaN."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{op}: {what} has dtype {array.dtype}, but it must hold real numbers (as the "
            "function's real inputs and outputs do); pass a float array"
        )
    return array


def _wrapped(array: Any) -> Tensor:
    """A constant Tensor around a gradient array, not copied: a NumPy one as
    `Tensor.from_numpy` takes it, another library's (CuPy, JAX, ...) in that library and on
    its device (a float array is held as it is)."""
    return Tensor.from_numpy(array) if type(array) is np.ndarray else Tensor(array)


def zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Zeros of `shape` in the dtype, array library and device of `like`."""
    data = like.data
    if type(data) is np.ndarray:
        return Tensor.from_numpy(np.zeros(shape, dtype=like.dtype))
    device = placement.device_of(data).native
    return Tensor(namespace(data).zeros(shape, dtype=data.dtype, device=device))


def one_hot(like: Tensor, flat: int) -> np.ndarray:
    """The unit array of `like`'s shape and dtype that is 1 at flat index `flat`."""
    basis = np.zeros(like.size, dtype=like.dtype)
    basis[flat] = 1
    return basis.reshape(like.shape)


def zeros_like(tensor: Tensor) -> Tensor:
    return zeros(tensor.shape, tensor)


def reverse_gradients(
    output: Tensor, grad_output: Any, targets: Sequence[Tensor], nested: bool
) -> list[Tensor]:
    """d<output, grad_output>/d(target) for each target (zeros where none reaches it),
    recording the sweep when `nested`. The graph is kept, so it can be swept again."""
    if not output.requires_grad:
        return [zeros_like(target) for target in targets]
    if nested and isinstance(grad_output, Tensor):
        seed: Any = (
            grad_output if grad_output.dtype == output.dtype else grad_output.astype(output.dtype)
        )
    else:
        # A copy: a rule may pass the seed through unchanged (identity, add), and the caller
        # may reuse its cotangent buffer for the next call (one Jacobian row per call).
        if type(output.data) is np.ndarray:
            array = np.array(
                grad_output.numpy() if isinstance(grad_output, Tensor) else grad_output,
                dtype=output.dtype,
                copy=True,
            )
        else:  # in the output's array library and on its device, as backward seeds it
            values = grad_output.data if isinstance(grad_output, Tensor) else grad_output
            array = placement.copy(placement.like(values, output.data))
        seed = _wrapped(array) if nested else array
    grads = gradients(output, seed, targets, retain_graph=True, create_graph=nested)
    results = []
    handed_out: set[int] = set()
    for target, grad in zip(targets, grads, strict=True):
        if grad is None:
            results.append(zeros_like(target))
        elif isinstance(grad, Tensor):
            results.append(grad)
        else:
            # One array can reach several targets (a + b): each gradient gets its own.
            if type(grad) is not np.ndarray and placement.is_foreign(grad):
                array = placement.copy(grad) if id(grad) in handed_out else grad
            else:
                array = np.array(grad) if id(grad) in handed_out else np.asarray(grad)
            handed_out.add(id(grad))
            results.append(_wrapped(array))
    return results


def split_aux(result: Any, has_aux: bool, op: str) -> tuple[Any, Any]:
    """``(value, aux)`` from what the function returned; aux is None without has_aux."""
    if not has_aux:
        return result, None
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(
            f"{op}(has_aux=True): the function must return a pair (value, aux), but it "
            f"returned {describe(result)}; return `value, aux`, or drop has_aux=True"
        )
    return result[0], result[1]


def output_leaves(result: Any, op: str) -> tuple[list[Tensor], TreeDef]:
    """The leaves of a function's (pytree) result as Tensors, and its structure."""
    leaves, treedef = tree_flatten(result)
    for leaf, path in zip(leaves, treedef.paths(), strict=True):
        if not isinstance(leaf, (Tensor, np.ndarray, np.generic, int, float)):
            raise TypeError(
                f"{op}: the function's output{path} is {describe(leaf)}; outputs must be "
                "Tensors, arrays or numbers, alone or in dicts, lists and tuples"
            )
    return [_output_tensor(leaf) for leaf in leaves], treedef


def _output_tensor(leaf: Tensor | np.ndarray | np.generic | int | float) -> Tensor:
    """A function's output leaf as a Tensor: an integer or bool array or number keeps its
    dtype (a comparison's mask stays bool, a count int64), as JAX keeps a primal output's
    dtype, where `as_tensor` would make it float32; a float keeps `as_tensor`'s dtype."""
    if isinstance(leaf, Tensor):
        return leaf
    dtype = np.asarray(leaf).dtype
    return Tensor(leaf, dtype=dtype) if dtype.kind in "biu" else as_tensor(leaf)


def released(tree: Any, targets: Sequence[Tensor]) -> Any:
    """`tree` (a result or an aux value) as a transformation returns it: each Tensor detached
    unless it depends on a variable that is not one of `targets`, which an outer
    transformation still differentiates."""

    def release(leaf: Any) -> Any:
        if isinstance(leaf, Tensor) and not depends_on_other_variables([leaf], targets):
            return leaf.detach()
        return leaf

    return tree_map(release, tree)
