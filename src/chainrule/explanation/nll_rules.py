"""The local derivative of nll_loss written for its parameters: the loss is linear in the
log-probabilities p, so dloss/dp is the factor -(1 - eps) w[t] at each counted sample's
target t, plus -eps w[c] / C at every class c with label smoothing, divided by the sum of
the counted samples' w[t] for the "mean" reduction (PyTorch's weighted mean)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _number(value: float) -> str:
    return f"{value:g}"


def nll_rules(params: Mapping[str, Any], shape: tuple[int, ...]) -> tuple[str, str]:
    """(text, LaTeX) of dloss/dp for nll_loss(p, t) with `params` as recorded and p of
    `shape` (N, C, ...)."""
    targets = np.asarray(params["targets"])
    weight = params.get("weight")
    eps = float(params.get("label_smoothing", 0.0))
    classes = shape[1] if len(shape) > 1 else 1
    counted = targets != params.get("ignore_index", -100)
    weights = np.ones(classes) if weight is None else np.asarray(weight, dtype=np.float64)
    picked = weights[np.where(counted, targets, 0)] * counted
    divisor = ""
    divisor_latex = ""
    if params.get("reduction") == "mean":
        divisor = f" / {_number(float(picked.sum()))}"
        divisor_latex = rf" / {_number(float(picked.sum()))}"
    w_t = "" if weight is None else "w[t] "
    w_t_latex = "" if weight is None else "w_t "
    scale = "" if eps == 0 else f"{_number(1 - eps)} "
    text = f"-{scale}{w_t}.{divisor} at t".replace("- .", "-.")
    latex = rf"-{scale}{w_t_latex}(\cdot){divisor_latex} \text{{ at }} t"
    if eps:
        w_c = "" if weight is None else " w"
        w_c_latex = "" if weight is None else r" w_c"
        text += f", plus -{_number(eps)}{w_c} / {classes} .{divisor} at every class"
        latex += (
            rf" - \frac{{{_number(eps)}{w_c_latex}}}{{{classes}}} (\cdot){divisor_latex}"
            r" \text{ at every class}"
        )
    if not counted.all():
        text += f" (0 for targets = ignore_index {params.get('ignore_index')})"
        latex += r" \text{ (0 where ignored)}"
    return (text if eps else text + ", 0 elsewhere"), latex
