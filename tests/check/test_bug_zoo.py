"""A bug zoo: classic mistakes in a hand-written backward pass, each caught by gradcheck
with the gradient it breaks named.

w1 is square (n_in == n_hidden) so that a missing transpose still has the right shape and
must be caught by its values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest

from chainrule import manual
from chainrule.check import Mistake, gradcheck

NAMES = ("x", "w1", "b1", "w2", "b2")
Grads = dict[str, np.ndarray]


def chain(
    cache: Mapping[str, np.ndarray],
    *,
    scale: float | None = None,
    sign: float = -1.0,
    mask_from: str = "u1",
) -> Grads:
    """The step-by-step backward pass with knobs for the bugs below; defaults are correct."""
    grad_u5 = 1.0 / cache["u5"].size if scale is None else scale
    grad_u4 = grad_u5 * 2 * cache["u4"]
    grad_u3 = sign * grad_u4
    grad_u2 = grad_u3 @ cache["w2"].T
    grad_u1 = grad_u2 * (cache[mask_from] > 0)
    return {
        "x": grad_u1 @ cache["w1"].T,
        "w1": cache["x"].T @ grad_u1,
        "b1": grad_u1.sum(axis=0),
        "w2": cache["u2"].T @ grad_u3,
        "b2": grad_u3.sum(axis=0),
    }


def missing_one_over_n(cache: Mapping[str, np.ndarray]) -> Grads:
    return chain(cache, scale=1.0)


def w1_missing_transpose(cache: Mapping[str, np.ndarray]) -> Grads:
    grads = chain(cache)
    grad_u1 = manual.backward(cache)["u1"]
    return {**grads, "w1": grad_u1.T @ cache["x"]}


def x_missing_transpose(cache: Mapping[str, np.ndarray]) -> Grads:
    grads = chain(cache)
    return {**grads, "x": manual.backward(cache)["u1"] @ cache["w1"]}


def b1_summed_over_the_wrong_axis(cache: Mapping[str, np.ndarray]) -> Grads:
    grads = chain(cache)
    return {**grads, "b1": manual.backward(cache)["u1"].sum(axis=1)}


def relu_mask_from_u3(cache: Mapping[str, np.ndarray]) -> Grads:
    return chain(cache, mask_from="u3")


def relu_mask_from_x(cache: Mapping[str, np.ndarray]) -> Grads:
    return chain(cache, mask_from="x")


def u4_sign_flipped(cache: Mapping[str, np.ndarray]) -> Grads:
    return chain(cache, sign=+1.0)


def check(backward: Callable[[Mapping[str, np.ndarray]], Grads], x, y, params, loss_fn):
    grads = backward(manual.forward(x, y, params)[1])
    return gradcheck(loss_fn, {"x": x, "y": y, **params}, {name: grads[name] for name in NAMES})


@pytest.fixture
def network(make_network):
    x, y, params = make_network(12, 6, 6, 1)
    x -= 0.5
    return x, y, params


def test_the_correct_chain_passes(network, loss_of_arrays) -> None:
    assert check(chain, *network, loss_of_arrays).ok


@pytest.mark.parametrize(
    ("bug", "failing"),
    [
        (missing_one_over_n, NAMES),
        (w1_missing_transpose, ("w1",)),
        (x_missing_transpose, ("x",)),
        (b1_summed_over_the_wrong_axis, ("b1",)),
        (relu_mask_from_u3, ("x", "w1", "b1")),
        (relu_mask_from_x, ("x", "w1", "b1")),
        (u4_sign_flipped, NAMES),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_broken_backward_is_caught_with_the_failing_names(
    network, loss_of_arrays, bug, failing: tuple[str, ...]
) -> None:
    report = check(bug, *network, loss_of_arrays)
    assert report.failing == failing, str(report)


def test_bias_summed_over_the_wrong_axis_is_reported_as_a_shape_mismatch(
    network, loss_of_arrays
) -> None:
    report = check(b1_summed_over_the_wrong_axis, *network, loss_of_arrays)
    assert report["b1"].status == "SHAPE MISMATCH"


@pytest.mark.parametrize(
    "bug",
    [
        missing_one_over_n,
        w1_missing_transpose,
        x_missing_transpose,
        relu_mask_from_u3,
        relu_mask_from_x,
        u4_sign_flipped,
    ],
    ids=lambda value: value.__name__,
)
def test_no_bug_in_the_zoo_is_called_a_swap_or_a_one_row_error(
    network, loss_of_arrays, bug
) -> None:
    report = check(bug, *network, loss_of_arrays)
    kinds = {row.name: row.diagnosis.kind for row in report.rows if row.diagnosis is not None}
    assert kinds, str(report)
    assert not set(kinds.values()) & {Mistake.SWAPPED, Mistake.ONE_ROW}, str(report)
