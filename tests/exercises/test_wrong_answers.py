"""Wrong answers a learner plausibly writes that the numbers of the answer alone would let
through, or would not name: each is refused by `check` with a message naming the mistake."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest

from chainrule.exercises import Status, check

Answer = Callable[..., np.ndarray]


def x_in_place(u1: np.ndarray, w1: np.ndarray, du2: np.ndarray) -> np.ndarray:
    du2 *= u1 > 0
    return du2 @ w1.T


def b1_in_place(u1: np.ndarray, du2: np.ndarray) -> np.ndarray:
    du2[u1 <= 0] = 0
    return du2.sum(axis=0)


def w2_in_place(u2: np.ndarray, u4: np.ndarray) -> np.ndarray:
    u4 *= -2 / u4.size
    return u2.T @ u4


def logits_in_place(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    logits[np.arange(len(logits)), targets] -= 1
    return logits / len(logits)


@pytest.mark.parametrize(
    ("name", "answer", "argument"),
    [
        ("x", x_in_place, "du2"),
        ("b1", b1_in_place, "du2"),
        ("w2", w2_in_place, "u4"),
        ("logits", logits_in_place, "logits"),
    ],
)
def test_an_answer_that_changes_its_argument_in_place_is_refused_naming_it(
    name: str, answer: Answer, argument: str
) -> None:
    result = check(name, answer, seed=0)
    assert result.status is Status.WRONG
    assert result.message.startswith(f"changed its argument {argument} in place"), result
    assert "into a new array" in result.message


def test_an_answer_that_only_reads_its_arguments_passes() -> None:
    def dloss_dw2(u2: np.ndarray, u4: np.ndarray) -> np.ndarray:
        du3 = -2 * u4 / u4.size
        du3 *= 1.0  # its own array: changing it in place touches nobody's
        return u2.T @ du3

    assert check("w2", dloss_dw2, seed=0).passed


def logits_from_chainrule(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    from chainrule import manual

    criterion = manual.SoftmaxCrossEntropy()
    criterion.forward(logits, targets)
    return criterion.backward()


def b2_from_chainrule(u4: np.ndarray) -> np.ndarray:
    from chainrule import manual

    criterion = manual.MSE()
    criterion.forward(-u4, np.zeros_like(u4))  # u3 - y = -u4
    return criterion.backward().sum(axis=0)


@pytest.mark.parametrize(
    ("name", "answer", "called"),
    [
        ("logits", logits_from_chainrule, "chainrule.manual.cross_entropy"),
        ("b2", b2_from_chainrule, "chainrule.manual.layers"),
    ],
)
def test_an_answer_that_has_chainrule_compute_the_gradient_is_refused(
    name: str, answer: Answer, called: str
) -> None:
    result = check(name, answer, seed=0)
    assert result.status is Status.WRONG
    assert result.message.startswith(f"called chainrule's own {called}."), result
    assert "derive the gradient by hand" in result.message


def x_first_row_twice(u1: np.ndarray, w1: np.ndarray, du2: np.ndarray) -> np.ndarray:
    du1 = du2 * (u1 > 0)
    out = np.zeros((len(u1), len(w1)))
    out[0] = du1[0] @ w1.T  # started from the first example, then looped over all of them
    for i in range(len(u1)):
        out[i] += du1[i] @ w1.T
    return out


def test_an_answer_wrong_in_one_row_only_is_named_with_a_hint_not_a_crash() -> None:
    result = check("x", x_first_row_twice, seed=1)
    assert result.status is Status.WRONG
    assert result.message.startswith("wrong in row 0 only"), result
    assert "hint: each row" in result.message


def test_every_kind_of_mistake_the_diagnosis_can_name_has_a_hint() -> None:
    from chainrule.check import Mistake
    from chainrule.exercises.hints import KIND_HINTS

    assert set(KIND_HINTS) == set(Mistake) - {Mistake.AGREES}


def softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def logits_over_size(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return (softmax(logits) - np.eye(logits.shape[1])[targets]) / logits.size


def logits_columns(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    p = softmax(logits)
    p[:, targets] -= 1
    return p / len(logits)


def logits_no_onehot(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return softmax(logits) / len(logits)


@pytest.mark.parametrize(
    ("name", "answer", "named"),
    [
        ("x", lambda u1, w1, du2: (du2 * u1) @ w1.T, "times u1 itself"),
        ("b1", lambda u1, du2: (du2 * u1).sum(axis=0), "times u1 itself"),
        ("b1", lambda u1, du2: (du2 * np.maximum(u1, 0)).sum(axis=0), "times relu(u1)"),
        (
            "w1",
            lambda x, u1, u4, w2: x.T @ ((-2 * u4 / u4.size) @ w2.T * u1),
            "times u1 itself",
        ),
        (
            "deep_w2",
            lambda a1, z2, w3, dz3: a1.T @ ((dz3 @ w3.T) * np.maximum(z2, 0)),
            "times relu(z2)",
        ),
        ("logits", logits_over_size, "divided by logits.size"),
        ("logits", logits_columns, "p[:, targets]"),
        ("logits", logits_no_onehot, "the one-hot of the targets is missing"),
    ],
)
def test_a_classic_slip_the_numbers_alone_cannot_name_is_named(
    name: str, answer: Answer, named: str
) -> None:
    result = check(name, answer, seed=0)
    assert result.status is Status.WRONG
    assert named in result.message, result


def b1_integer_buffer(u1: np.ndarray, du2: np.ndarray) -> np.ndarray:
    out = np.zeros(u1.shape[1], dtype=int)  # an integer buffer truncates what it is given
    out += (du2 * (u1 > 0)).sum(axis=0).astype(int)
    return out


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (b1_integer_buffer, "returned an integer array (int64)"),
        (lambda u1, du2: (du2 * (u1 > 0)).sum(axis=0).astype(np.float16), "returned float16"),
        (
            lambda u1, du2: (du2.sum(axis=0) > 0) & (u1 > 0).any(axis=0),
            "returned an array of dtype bool",
        ),
    ],
)
def test_an_answer_in_a_dtype_that_cannot_hold_the_gradient_names_the_dtype(
    answer: Answer, named: str
) -> None:
    result = check("b1", answer, seed=0)
    assert result.status is Status.WRONG
    assert result.message.startswith(named), result


def test_an_answer_that_returns_its_first_calls_result_again_is_refused() -> None:
    cache: dict[str, np.ndarray] = {}

    def dloss_db2(u4: np.ndarray) -> np.ndarray:
        if "answer" not in cache:
            cache["answer"] = (-2 * u4 / u4.size).sum(axis=0)
        return cache["answer"]

    result = check("b2", dloss_db2, seed=0)
    assert result.status is Status.WRONG
    assert result.shapes["N"] == 1, result  # right on the first shape set, not on the next


def test_an_answer_that_reads_a_batch_size_from_a_global_is_refused_naming_the_factor() -> None:
    batch_size = 32  # the learner's own N, not the one of the arrays it is given

    def dloss_b2(u4: np.ndarray) -> np.ndarray:
        return (-2 * u4 / (batch_size * u4.shape[1])).sum(axis=0)

    result = check("b2", dloss_b2, seed=0)
    assert result.status is Status.WRONG
    assert result.message.startswith("off by a factor of "), result


def logits_from_log_softmax(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    grad = np.exp(log_p)
    grad[np.arange(len(grad)), targets] -= 1  # its own array, not the argument
    return grad / len(logits)


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("x", lambda u1, w1, du2: np.where(u1 > 0, du2, 0.0) @ w1.T),
        ("x", lambda u1, w1, du2: np.einsum("nh,ih->ni", du2 * (u1 > 0), w1)),
        ("w2", lambda u2, u4: np.einsum("nh,no->ho", u2, -2 * u4) / u4.size),
        ("b2", lambda u4: -2 * u4.mean(axis=0) / u4.shape[1]),
        (  # the tutorial's closed form, with the error e = u3 - y = -u4
            "w1",
            lambda x, u1, u4, w2: x.T @ ((2 / u4.size * -u4 @ w2.T) * (u1 > 0)),
        ),
        ("logits", logits_from_log_softmax),
        ("b1", lambda u1, du2: (du2.astype(np.float32) * (u1 > 0)).sum(axis=0)),
    ],
)
def test_a_right_answer_written_another_way_passes(name: str, answer: Answer) -> None:
    for seed in range(3):
        result = check(name, answer, seed=seed)
        assert result.passed, result


def logits_from_chainrule_in_a_thread(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    import threading

    from chainrule import manual

    gradient: list[np.ndarray] = []

    def work() -> None:
        criterion = manual.SoftmaxCrossEntropy()
        criterion.forward(logits, targets)
        gradient.append(criterion.backward())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return gradient[0]


def test_an_answer_that_has_chainrule_compute_the_gradient_in_a_thread_is_refused() -> None:
    # A profile hook is per thread: the thread's calls went unseen.
    result = check("logits", logits_from_chainrule_in_a_thread, seed=0)
    assert result.status is Status.WRONG, result
    assert result.message.startswith("called chainrule's own chainrule.manual.cross_entropy.")


def test_the_hook_is_set_on_every_running_thread_and_restored_where_python_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # threading.setprofile_all_threads is 3.12+: a stand-in records how the grader uses it, so
    # this runs on every version (the real pool case below runs where Python has it).
    calls: list[object] = []
    monkeypatch.setattr(threading, "setprofile_all_threads", calls.append, raising=False)
    before = threading.getprofile()
    result = check("logits", logits_from_log_softmax, seed=0)
    assert result.status is Status.PASSED, result
    # Set before each graded call of the answer and restored after it.
    assert len(calls) >= 2
    assert len(calls) % 2 == 0
    assert all(callable(hook) for hook in calls[0::2])
    assert all(hook is before for hook in calls[1::2])
    assert threading.getprofile() is before


if sys.version_info >= (3, 12):  # defined only where the real API exists (no skip in CI)

    def test_an_answer_that_has_a_running_pool_thread_call_chainrule_is_refused() -> None:
        _a_running_pool_thread_calling_chainrule_is_refused()


def _a_running_pool_thread_calling_chainrule_is_refused() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from chainrule import manual

    with ThreadPoolExecutor(1) as pool:
        pool.submit(int).result()  # the pool's thread runs before the answer is called

        def dloss_dlogits(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
            def work() -> np.ndarray:
                criterion = manual.SoftmaxCrossEntropy()
                criterion.forward(logits, targets)
                return criterion.backward()

            return pool.submit(work).result()

        result = check("logits", dloss_dlogits, seed=0)
    assert result.status is Status.WRONG, result
    assert result.message.startswith("called chainrule's own chainrule.manual.cross_entropy.")


def logits_right(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return (softmax(logits) - np.eye(logits.shape[1])[targets]) / len(logits)


@pytest.mark.parametrize(
    ("answer", "named", "hint"),
    [
        (
            lambda logits, targets: -logits_right(logits, targets),
            "sign flipped (got = -expected): onehot - p",
            "redo the sign of d(-log p_t)/dlogits",
        ),
        (
            lambda logits, targets: logits_right(logits, targets) * len(logits),
            "off by a factor of ",
            "the loss is a mean over the N examples: one factor 1 / N",
        ),
        (
            logits_over_size,
            "divided by logits.size",
            "the loss is a mean over the N examples: one factor 1 / N",
        ),
    ],
    ids=["sign", "no 1/N", "logits.size"],
)
def test_a_cross_entropy_slip_gets_a_cross_entropy_hint_not_the_mses(
    answer: Answer, named: str, hint: str
) -> None:
    result = check("logits", answer, seed=0)
    assert result.status is Status.WRONG
    assert named in result.message, result
    assert f"hint: {hint}" in result.message, result
    for tutorial_only in ("u**2", "du4/du3"):
        assert tutorial_only not in result.message, result


@pytest.mark.parametrize(
    ("name", "answer", "which"),
    [
        ("b1", lambda u1, du2: du2.sum(axis=0) * (u1 > 0).all(axis=0), "every"),
        (
            "deep_w2",
            lambda a1, z2, w3, dz3: (a1.T @ (dz3 @ w3.T)) * (z2 > 0).any(axis=0),
            "any",
        ),
        (
            "w1",
            lambda x, u1, u4, w2: (x.T @ (-2 * u4 / u4.size @ w2.T)) * (u1 > 0).all(axis=0),
            "every",
        ),
    ],
)
def test_the_relu_condition_outside_the_sum_over_samples_is_named(
    name: str, answer: Answer, which: str
) -> None:
    """The tutorial's answers write the ReLU's condition around the whole sum. Seeds where
    the condition neither passes every unit (then it is the mask missing) nor blocks every
    unit (then it is all 0)."""
    for seed in (1, 5, 7):
        result = check(name, answer, seed=seed)
        assert result.status is Status.WRONG
        assert result.message.startswith(
            "wrong entries zeroed: the ReLU condition is applied after the sum over the "
            "samples, once per hidden unit (it matches a mask of "
        ), result
        assert f"> 0 for {which} sample); it belongs inside the sum" in result.message, result


def test_an_answer_of_zeros_is_not_taken_for_the_condition_outside_the_sum() -> None:
    # With no unit active for every sample, that slip is all 0 too, and would claim zeros.
    for seed in range(3):
        result = check("b1", lambda u1, du2: np.zeros(u1.shape[1]), seed=seed)
        assert result.message.startswith("wrong entries zeroed: got is 0 everywhere"), result
