"""nan_to_num: NaN and infinities replaced by finite numbers, as torch.nan_to_num and
np.nan_to_num, with PyTorch's gradient (grad_out where x is finite, 0 where it was
replaced). A primitive, since which entries are replaced depends on the values."""

from __future__ import annotations

from typing import Any

from chainrule.backends import namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.elementwise import as_factor
from chainrule.primitives.reading import Rule, entrywise


class NanToNum(Primitive):
    """z = x where x is finite, `nan` where it is NaN, `posinf` where +inf and `neginf`
    where -inf;  dz/dx = [x finite] (PyTorch's)."""

    name = "nan_to_num"
    reading = Rule(
        "nan_to_num($a)",
        r"\operatorname{nan\_to\_num}($a)",
        (entrywise("[$a finite]", r"[$a \text{ finite}]"),),
    )

    @staticmethod
    def forward(x: Any, *, nan: float, posinf: float, neginf: float) -> tuple[Any, Saved]:
        xp = namespace(x)
        raw = plain_values(x)
        finite = xp.isfinite(raw)
        replaced = xp.where(raw > 0, xp.full_like(raw, posinf), xp.full_like(raw, neginf))
        replaced = xp.where(xp.isnan(raw), xp.full_like(raw, nan), replaced)
        return xp.where(finite, x, replaced), finite

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * as_factor(saved, grad_out),)
