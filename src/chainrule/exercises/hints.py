"""Hints in three levels for each exercise, one short hint per kind of mistake (none gives
the answer), and each exercise's derivation in the tutorial's notation for `--solution`."""

from __future__ import annotations

from chainrule.check import Mistake

MAX_HINT_LEVEL = 3

KIND_HINTS: dict[Mistake, str] = {
    Mistake.SCALED: "list the constant factors along the chain (the 2 of d(u**2)/du, the "
    "mean's 1 / (number of entries averaged)) and check each appears once",
    Mistake.SIGN_FLIPPED: "redo the sign of each local derivative along the chain",
    Mistake.TRANSPOSED: "write each factor's shape under it: the inner sizes of a matrix "
    "product meet, and the result has the shape of what you differentiate",
    Mistake.WRONG_AXIS: "a gradient has the shape of what it differentiates: which axis runs "
    "over the samples, and should it be summed here?",
    Mistake.ZEROED: "a ReLU lets the gradient through where its own input was positive",
    Mistake.ONE_ROW: "each row belongs to one example: check the loop's range and the "
    "index of the example handled apart (the first, the last)",
    Mistake.SWAPPED: "return each gradient under its own name, in the order asked for",
    Mistake.SHAPE: "return exactly the shape of what you differentiate",
    Mistake.UNKNOWN: "run with --hint 1 for the chain to follow, and work N = 1 by hand",
}

EXERCISE_KIND_HINTS: dict[str, dict[Mistake, str]] = {
    "logits": {
        Mistake.SCALED: "the loss is a mean over the N examples: one factor 1 / N, and each "
        "example's classes summed, not averaged",
        Mistake.SIGN_FLIPPED: "redo the sign of d(-log p_t)/dlogits: raising the target's "
        "logit raises p_t, so should the loss go up or down?",
    },
}
"""Where an exercise's loss is not the tutorial's MSE, its own hint for a kind of mistake (the
general one names the 2 of d(u**2)/du)."""


def kind_hint(exercise: str, kind: Mistake) -> str:
    """The hint for a mistake of `kind` in `exercise`: its own, else the general one."""
    return EXERCISE_KIND_HINTS.get(exercise, {}).get(kind, KIND_HINTS[kind])


HINTS: dict[str, tuple[str, str, str]] = {
    "w1": (
        "The worked example: read it line by line against the tutorial's substitutions.",
        "Each line multiplies the gradient so far by one local derivative.",
        "If it fails, compare your edits with the starter file's version.",
    ),
    "x": (
        "x enters the loss only through u1 = x @ w1 + b1, and u1 through u2 = relu(u1).",
        "Two steps: dloss/du1 from dloss/du2 and the ReLU, then through u1 = x @ w1 + b1; "
        "dloss/dx has one row per sample, each depending on that sample alone.",
        "dloss/du1 = dloss/du2 * (a mask of shape (N, n_hidden)); then a matrix product of "
        "(N, n_hidden) with a (n_hidden, n_in) matrix.",
    ),
    "b1": (
        "b1 shares every factor with w1's gradient except the last one.",
        "b1 is added to every row of x @ w1, so each row's gradient reaches it: a sum over "
        "the samples, not over the hidden units.",
        "dloss/du1 = dloss/du2 * (a mask of shape (N, n_hidden)); then reduce (N, n_hidden) "
        "to (n_hidden,).",
    ),
    "w2": (
        "Start at the loss: loss = mean(u5), u5 = u4**2, u4 = y - u3, u3 = u2 @ w2 + b2.",
        "Three local derivatives before w2: d(mean)/du5 over all N * n_out entries, "
        "du5/du4 = 2 u4, and du4/du3 (look at the sign of u3 in u4).",
        "dloss/dw2 is a matrix product of something (n_hidden, N) with dloss/du3 (N, n_out).",
    ),
    "b2": (
        "Start at the loss: loss = mean(u5), u5 = u4**2, u4 = y - u3, u3 = u2 @ w2 + b2.",
        "dloss/du3 has shape (N, n_out); mind the sign of du4/du3 and the number of entries "
        "the mean runs over.",
        "b2 is added to every row of u3: reduce dloss/du3 (N, n_out) to (n_out,).",
    ),
    "u2": (
        "u2 enters the loss only through u3 = u2 @ w2 + b2.",
        "First dloss/du3 (N, n_out) from u4, with du4/du3's sign and the mean's factor; "
        "then back through the matrix product.",
        "dloss/du2 = dloss/du3 (N, n_out) times a (n_out, n_hidden) matrix.",
    ),
    "deep_w2": (
        "The same pattern as w1 in the tutorial, one layer further from the loss.",
        "From dloss/dz3: back through z3 = a2 @ w3 + b3 to a2, through the ReLU to z2, then "
        "to w2 in z2 = a1 @ w2 + b2.",
        "dloss/da2 is (N, n_hidden2); the ReLU mask comes from z2; the answer is a product "
        "of (n_hidden, N) with (N, n_hidden2).",
    ),
    "logits": (
        "Write the loss of one example with p = softmax(logits_i): -log p[target].",
        "d(-log p_t)/dlogits_j = p_j - [j == t]: softmax over each example's classes.",
        "Build the (N, n_classes) one-hot matrix of the targets, and remember the loss is a "
        "mean over the N examples.",
    ),
}

SOLUTIONS: dict[str, str] = {
    "w1": """\
dloss/dw1, the whole chain (u1 = x @ w1 + b1, u2 = max(0, u1), u3 = u2 @ w2 + b2,
u4 = y - u3, u5 = u4**2, loss = mean(u5) over all N * n_out entries):

  dloss/du5 = 1 / (N * n_out)                   every entry of u5 counts once in the mean
  dloss/du4 = dloss/du5 * 2 u4                  du5/du4 = 2 u4           (N, n_out)
  dloss/du3 = -dloss/du4                        du4/du3 = -1             (N, n_out)
  dloss/du2 = dloss/du3 @ w2.T                  du3/du2 = w2^T           (N, n_hidden)
  dloss/du1 = dloss/du2 * [u1 > 0]              element-wise mask        (N, n_hidden)
  dloss/dw1 = x.T @ dloss/du1                   a matrix product, summing over the samples
                                                (n_in, N) @ (N, n_hidden) = (n_in, n_hidden)

    du4 = 2 * u4 / u4.size
    du3 = -du4
    du2 = du3 @ w2.T
    du1 = du2 * (u1 > 0)
    return x.T @ du1
""",
    "x": """\
dloss/dx (u1 = x @ w1 + b1, u2 = max(0, u1)), given dloss/du2:

  dloss/du1 = dloss/du2 * [u1 > 0]              the mask of each sample and hidden unit,
                                                taken from the ReLU's input u1 (N, n_hidden)
  dloss/dx  = dloss/du1 @ w1.T                  du1/dx = w1^T            (N, n_hidden) @
                                                (n_hidden, n_in) = (N, n_in)

Row i of dloss/dx depends on sample i alone: no sum over the samples. The mean's
1 / (N * n_out) is already inside dloss/du2.

    du1 = du2 * (u1 > 0)
    return du1 @ w1.T
""",
    "b1": """\
dloss/db1 (u1 = x @ w1 + b1, u2 = max(0, u1)), given dloss/du2:

  dloss/du1 = dloss/du2 * [u1 > 0]              mask from the ReLU's input u1 (N, n_hidden)
  dloss/db1 = sum over the rows of dloss/du1    b1 is added to every row  (n_hidden,)

Not a sum over everything (a scalar), not over the hidden units (one entry per sample).

    du1 = du2 * (u1 > 0)
    return du1.sum(axis=0)
""",
    "w2": """\
dloss/dw2 (u3 = u2 @ w2 + b2, u4 = y - u3, u5 = u4**2, loss = mean(u5) over N * n_out
entries):

  dloss/du4 = 2 u4 / (N * n_out)                the mean's factor and du5/du4 = 2 u4
  dloss/du3 = -dloss/du4                        du4/du3 = -1, as u4 = y - u3
  dloss/dw2 = u2.T @ dloss/du3                  (n_hidden, N) @ (N, n_out) = (n_hidden, n_out)

With the error e = u3 - y = -u4: dloss/dw2 = 2 / (N * n_out) * u2.T @ e.

    du3 = -2 * u4 / u4.size
    return u2.T @ du3
""",
    "b2": """\
dloss/db2 (u3 = u2 @ w2 + b2, u4 = y - u3, u5 = u4**2, loss = mean(u5) over N * n_out
entries):

  dloss/du4 = 2 u4 / (N * n_out)                the mean's factor and du5/du4 = 2 u4
  dloss/du3 = -dloss/du4                        du4/du3 = -1, as u4 = y - u3
  dloss/db2 = sum over the rows of dloss/du3    b2 is added to every row  (n_out,)

With the error e = u3 - y = -u4: dloss/db2 = 2 / (N * n_out) * sum_i e_i.

    du3 = -2 * u4 / u4.size
    return du3.sum(axis=0)
""",
    "u2": """\
dloss/du2 (u3 = u2 @ w2 + b2, u4 = y - u3, u5 = u4**2, loss = mean(u5) over N * n_out
entries):

  dloss/du4 = 2 u4 / (N * n_out)                the mean's factor and du5/du4 = 2 u4
  dloss/du3 = -dloss/du4                        du4/du3 = -1, as u4 = y - u3
  dloss/du2 = dloss/du3 @ w2.T                  (N, n_out) @ (n_out, n_hidden) = (N, n_hidden)

    du3 = -2 * u4 / u4.size
    return du3 @ w2.T
""",
    "deep_w2": """\
dloss/dw2 of z1 = x @ w1 + b1, a1 = relu(z1), z2 = a1 @ w2 + b2, a2 = relu(z2),
z3 = a2 @ w3 + b3, given dloss/dz3:

  dloss/da2 = dloss/dz3 @ w3.T                  (N, n_out) @ (n_out, n_hidden2)
  dloss/dz2 = dloss/da2 * [z2 > 0]              mask from the ReLU's input z2
  dloss/dw2 = a1.T @ dloss/dz2                  (n_hidden, N) @ (N, n_hidden2)

The same three steps repeat for every layer: weight transposed, mask, input transposed.

    dz2 = (dz3 @ w3.T) * (z2 > 0)
    return a1.T @ dz2
""",
    "logits": """\
dloss/dlogits of loss = mean_i -log softmax(logits_i)[t_i]:

  p_i = softmax(logits_i) = exp(logits_i) / sum_j exp(logits_ij)   over each row's classes
  d(-log p_it)/dlogits_ij = p_ij - [j == t_i]                      softmax minus one-hot
  dloss/dlogits = (p - onehot(t)) / N                              the mean over N examples

    shifted = logits - logits.max(axis=1, keepdims=True)   # the same softmax, no overflow
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    onehot = np.eye(logits.shape[1])[targets]
    return (p - onehot) / len(logits)
""",
}
