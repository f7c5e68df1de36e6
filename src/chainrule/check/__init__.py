"""Gradient checking a learner can trust: finite differences in float64, exact-shape
comparisons, a report that says which gradient disagrees, where, and by how much, and a
diagnosis of what the mistake looks like."""

from chainrule.check.compare import DEFAULT_TOLERANCES, Comparison, compare, default_tolerances
from chainrule.check.diagnose import (
    Diagnosis,
    Mistake,
    diagnose,
    diagnose_shapes,
    diagnose_swaps,
)
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
    "Diagnosis",
    "DirectionCheck",
    "GradcheckReport",
    "GradcheckRow",
    "LossFunction",
    "Mistake",
    "compare",
    "default_tolerances",
    "diagnose",
    "diagnose_shapes",
    "diagnose_swaps",
    "directional_derivative",
    "gradcheck",
    "numerical_grad",
]
