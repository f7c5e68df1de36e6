"""`chainrule verify`: end to end, and its check failing on a broken backward pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest

from chainrule import manual
from chainrule.check import Mistake
from chainrule.cli import main
from chainrule.cli.verify import format_verification, verify_network


def test_verify_exits_zero_and_says_all_agree(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["verify", "--samples", "20"])
    output = capsys.readouterr().out
    assert status == 0
    assert "1797 images, 64 inputs, 50 hidden units, 1 output" in output
    assert output.rstrip().splitlines()[-1].startswith("All agree")


def test_verify_prints_a_row_per_gradient_in_both_tables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["verify", "--samples", "20"])
    lines = capsys.readouterr().out.splitlines()
    for name in ("x", "w1", "b1", "w2", "b2"):
        rows = [line.split() for line in lines if line.split()[:1] == [name]]
        assert len(rows) == 2, name
        assert "ok" in rows[0], rows[0]
        assert rows[1][1] in ("exact", "close"), rows[1]


def broken_backward(cache: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The correct chain with the bias gradient of the hidden layer off by a factor of 2."""
    grads = manual.backward(cache)
    return {**grads, "b1": 2 * grads["b1"]}


def _digits_like_network(
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """40 random 8x8 'images', integer labels as targets, and the tutorial's 64-50-1 network
    (b1 nonzero, so a wrong b1 gradient shows)."""
    x = rng.random((40, 64))
    y = rng.integers(0, 10, size=(40, 1)).astype(np.float64)
    params = manual.init_params(64, 50, 1, rng=rng)
    params["b1"] = np.full(50, 0.1)
    return x, y, params


def test_a_broken_backward_fails_verification_naming_the_gradient(
    rng: np.random.Generator,
) -> None:
    x, y, params = _digits_like_network(rng)
    result = verify_network(x, y, params, backward=broken_backward, max_entries=20, rng=rng)
    assert not result.ok
    assert result.failing == ("b1",)


def test_a_failed_verification_ends_with_a_disagreement_line(rng: np.random.Generator) -> None:
    x, y, params = _digits_like_network(rng)
    result = verify_network(x, y, params, backward=broken_backward, max_entries=20, rng=rng)
    last_line = format_verification(result, x.shape, 50).splitlines()[-1]
    assert last_line.startswith("DISAGREEMENT in b1")


def test_the_correct_backward_passes_the_same_verification(rng: np.random.Generator) -> None:
    x, y, params = _digits_like_network(rng)
    assert verify_network(x, y, params, max_entries=20, rng=rng).ok


def test_a_failed_verification_prints_a_diagnosis_of_each_disagreement(
    rng: np.random.Generator,
) -> None:
    x, y, params = _digits_like_network(rng)
    result = verify_network(x, y, params, backward=broken_backward, max_entries=20, rng=rng)
    lines = format_verification(result, x.shape, 50).splitlines()
    diagnoses = [line.strip() for line in lines if "diagnosis of" in line]
    assert len(diagnoses) == 2
    assert all(
        line.startswith("diagnosis of b1: off by a factor of 2: a 2 too many") for line in diagnoses
    )


def test_a_backward_off_by_n_out_is_diagnosed_as_n_out(rng: np.random.Generator) -> None:
    # The tutorial's 2 / N with three outputs: every gradient is n_out = 3 times too large.
    x, y = rng.random((6, 4)), rng.standard_normal((6, 3))
    params = manual.init_params(4, 5, 3, rng=rng)
    params["b1"] = np.full(5, 0.1)

    def over_n_only(cache: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: 3 * grad for name, grad in manual.backward(cache).items()}

    result = verify_network(x, y, params, backward=over_n_only, max_entries=20, rng=rng)
    assert "(= n_out)" in str(result.diagnoses["w2"])
    assert "(= n_out)" in str(result.report["w2"].diagnosis)


def _swapping(first: str, second: str) -> Callable[[Mapping[str, np.ndarray]], dict]:
    def backward(cache: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        grads = manual.backward(cache)
        return {**grads, first: grads[second], second: grads[first]}

    return backward


def test_verify_names_the_pair_when_two_gradients_of_two_shapes_are_swapped(
    rng: np.random.Generator,
) -> None:
    # b1 (50,) and w2 (50, 1): each alone looks like a shape to fix by reshaping
    x, y, params = _digits_like_network(rng)
    result = verify_network(x, y, params, backward=_swapping("b1", "w2"), rng=rng)
    assert result.failing == ("b1", "w2")
    assert result.diagnoses["b1"].kind is Mistake.SWAPPED
    assert result.diagnoses["w2"].details == {"with": "b1"}
    output = format_verification(result, x.shape, 50)
    assert "diagnosis of b1: swapped with w2" in output
    assert "reshape" not in output


def test_verify_names_the_pair_when_two_gradients_of_one_shape_are_swapped(
    rng: np.random.Generator,
) -> None:
    x, y = rng.random((6, 4)), rng.standard_normal((6, 3))
    params = manual.init_params(4, 3, 3, rng=rng)
    params["b1"], params["b2"] = rng.standard_normal(3), rng.standard_normal(3)
    result = verify_network(x, y, params, backward=_swapping("b1", "b2"), rng=rng)
    assert result.failing == ("b1", "b2")
    assert result.diagnoses["b2"].kind is Mistake.SWAPPED
    assert result.diagnoses["b2"].details == {"with": "b1"}
    assert "diagnosis of b2: swapped with b1" in format_verification(result, x.shape, 3)
