"""Every primitive declares itself in one place: a unique name, its reading for `explain`,
its kernels, its exposure; and every one is covered by the op table the engine tests share."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import primitives as P


def test_every_primitive_has_its_own_name() -> None:
    names = [primitive.name for primitive in P.PRIMITIVES]
    assert sorted(names) == sorted(set(names))


def test_scalar_power_is_named_pow_scalar_and_still_reads_as_a_power() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    squared = x**2
    assert "grad_fn=pow_scalar" in repr(squared)
    explanation = cr.explain(squared.sum(), x)
    step = explanation.steps[0]
    assert (step.op, step.formula) == ("pow_scalar", "x**2")
    assert [link.rule for link in explanation.paths[0]][-1] == "2 * x"


def test_sum_to_shape_keeps_its_old_import_paths() -> None:
    from chainrule.primitives import sum_to_shape
    from chainrule.primitives.broadcast import sum_to_shape as from_broadcast
    from chainrule.primitives.call import sum_to_shape as from_call

    assert from_call is from_broadcast is sum_to_shape


def test_the_broadcast_rule_names_the_op_and_both_shapes() -> None:
    from chainrule.primitives.broadcast import broadcast_shapes

    assert broadcast_shapes("add", (3, 1), (4,)) == (3, 4)
    with pytest.raises(ValueError, match=r"^add: shapes \(3,\) and \(4,\) cannot broadcast"):
        broadcast_shapes("add", (3,), (4,))
