"""Gradient checking a learner can trust: finite differences in float64, exact-shape
comparisons, and a report that says which gradient disagrees, where, and by how much."""

from chainrule.check.compare import DEFAULT_TOLERANCES, Comparison, compare, default_tolerances
from chainrule.check.gradcheck import (
    DEFAULT_RTOL,
    DirectionCheck,
    GradcheckReport,
    GradcheckRow,
    LossFunction,
    gradcheck,
)
from chainrule.check.numerical import directional_derivative, numerical_grad

__all__ = [
    "DEFAULT_RTOL",
    "DEFAULT_TOLERANCES",
    "Comparison",
    "DirectionCheck",
    "GradcheckReport",
    "GradcheckRow",
    "LossFunction",
    "compare",
    "default_tolerances",
    "directional_derivative",
    "gradcheck",
    "numerical_grad",
]
