"""Answers to the exercises for the checker's tests: a right one for each, and for each
classic kind of mistake, a wrong one per exercise where that mistake can happen (written as
a learner would make it where one plausibly would)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chainrule.exercises import EXERCISES

WORKED_W1 = """\
du4 = 2 * u4 / u4.size
du3 = -du4
du2 = du3 @ w2.T
du1 = du2 * (u1 > 0)
return x.T @ du1"""

SOFTMAX = """\
p = np.exp(logits - logits.max(axis=1, keepdims=True))
p = p / p.sum(axis=1, keepdims=True)
onehot = np.eye(logits.shape[1])[targets]
"""

RIGHT: dict[str, str] = {
    "w1": WORKED_W1,
    "x": "du1 = du2 * (u1 > 0)\nreturn du1 @ w1.T",
    "b1": "du1 = du2 * (u1 > 0)\nreturn du1.sum(axis=0)",
    "w2": "du3 = -2 * u4 / u4.size\nreturn u2.T @ du3",
    "b2": "du3 = -2 * u4 / u4.size\nreturn du3.sum(axis=0)",
    "u2": "du3 = -2 * u4 / u4.size\nreturn du3 @ w2.T",
    "deep_w2": "dz2 = (dz3 @ w3.T) * (z2 > 0)\nreturn a1.T @ dz2",
    "logits": SOFTMAX + "return (p - onehot) / len(logits)",
}

WRONG: dict[str, dict[str, str]] = {
    "sign": {
        "w1": WORKED_W1.replace("du3 = -du4", "du3 = du4"),
        "x": "du1 = du2 * (u1 > 0)\nreturn -du1 @ w1.T",
        "b1": "du1 = du2 * (u1 > 0)\nreturn -du1.sum(axis=0)",
        "w2": "du3 = 2 * u4 / u4.size\nreturn u2.T @ du3",
        "b2": "du3 = 2 * u4 / u4.size\nreturn du3.sum(axis=0)",
        "u2": "du3 = 2 * u4 / u4.size\nreturn du3 @ w2.T",
        "deep_w2": "dz2 = (dz3 @ w3.T) * (z2 > 0)\nreturn -a1.T @ dz2",
        "logits": SOFTMAX + "return (onehot - p) / len(logits)",
    },
    "factor_n": {
        "w1": WORKED_W1.replace("2 * u4 / u4.size", "2 * u4"),
        "x": "du1 = du2 * (u1 > 0)\nreturn du1 @ w1.T / len(u1)",
        "b1": "du1 = du2 * (u1 > 0)\nreturn du1.mean(axis=0)",
        "w2": "du3 = -2 * u4\nreturn u2.T @ du3",
        "b2": "du3 = -2 * u4\nreturn du3.sum(axis=0)",
        "u2": "du3 = -2 * u4\nreturn du3 @ w2.T",
        "deep_w2": "dz2 = (dz3 @ w3.T) * (z2 > 0)\nreturn a1.T @ dz2 / len(a1)",
        "logits": SOFTMAX + "return p - onehot",
    },
    "factor_n_out": {
        "w1": WORKED_W1.replace("u4.size", "len(u4)"),
        "w2": "du3 = -2 * u4 / len(u4)\nreturn u2.T @ du3",
        "b2": "du3 = -2 * u4 / len(u4)\nreturn du3.sum(axis=0)",
        "u2": "du3 = -2 * u4 / len(u4)\nreturn du3 @ w2.T",
    },
    "missing_2": {
        "w1": WORKED_W1.replace("2 * u4", "u4"),
        "w2": "du3 = -u4 / u4.size\nreturn u2.T @ du3",
        "b2": "du3 = -u4 / u4.size\nreturn du3.sum(axis=0)",
        "u2": "du3 = -u4 / u4.size\nreturn du3 @ w2.T",
    },
    "transpose": {
        "w1": WORKED_W1.replace("x.T @ du1", "du1.T @ x"),
        "x": "du1 = du2 * (u1 > 0)\nreturn w1 @ du1.T",
        "w2": "du3 = -2 * u4 / u4.size\nreturn du3.T @ u2",
        "u2": "du3 = -2 * u4 / u4.size\nreturn w2 @ du3.T",
        "deep_w2": "dz2 = (dz3 @ w3.T) * (z2 > 0)\nreturn dz2.T @ a1",
    },
    "wrong_axis": {
        "x": "du1 = du2 * (u1 > 0)\nreturn (du1 @ w1.T).sum(axis=0)",
        "b1": "du1 = du2 * (u1 > 0)\nreturn du1.sum(axis=1)",
        "b2": "du3 = -2 * u4 / u4.size\nreturn du3.sum()",
        "logits": SOFTMAX.replace("axis=1", "axis=0") + "return (p - onehot) / len(logits)",
    },
    "mask": {
        "w1": WORKED_W1.replace("du2 * (u1 > 0)", "np.maximum(du2, 0)"),
        "x": "du1 = np.maximum(du2, 0)\nreturn du1 @ w1.T",
        "b1": "du1 = np.maximum(du2, 0)\nreturn du1.sum(axis=0)",
        "deep_w2": "da2 = dz3 @ w3.T\ndz2 = np.maximum(da2, 0)\nreturn a1.T @ dz2",
    },
    "shape": {
        "w1": WORKED_W1.replace("x.T @ du1", "(x.T @ du1).ravel()"),
        "x": "du1 = du2 * (u1 > 0)\nreturn (du1 @ w1.T).reshape(-1)",
        "b1": "du1 = du2 * (u1 > 0)\nreturn du1.sum(axis=0, keepdims=True)",
        "w2": "du3 = -2 * u4 / u4.size\nreturn (u2.T @ du3).ravel()",
        "b2": "du3 = -2 * u4 / u4.size\nreturn du3.sum(axis=0, keepdims=True)",
        "u2": "du3 = -2 * u4 / u4.size\nreturn (du3 @ w2.T).ravel()",
        "deep_w2": "dz2 = (dz3 @ w3.T) * (z2 > 0)\nreturn (a1.T @ dz2).ravel()",
        "logits": SOFTMAX + "return ((p - onehot) / len(logits)).ravel()",
    },
}


def function_text(name: str, body: str) -> str:
    exercise = next(exercise for exercise in EXERCISES if exercise.name == name)
    arguments = ", ".join(argument for argument, _ in exercise.arguments)
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return f"def {exercise.function}({arguments}):\n{indented}"


def write_answers(path: Path, bodies: Mapping[str, str], *, header: str = "") -> Path:
    """A learner's file defining the functions of `bodies` (by exercise name)."""
    functions = "\n\n".join(function_text(name, body) for name, body in bodies.items())
    path.write_text(f"import numpy as np\n{header}\n\n{functions}")
    return path
