"""`chainrule verify` with a finite-difference step too small for the loss: the gradients
are reported unresolved, never as agreeing, and a real error still shows."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from chainrule import manual
from chainrule.cli import main
from chainrule.cli.verify import format_verification, verify_network

TINY_EPS = 1e-12


def _network() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.random((40, 64))
    y = rng.integers(0, 10, size=(40, 1)).astype(np.float64)
    params = manual.init_params(64, 50, 1, rng=rng)
    params["b1"] = np.full(50, 0.1)
    return x, y, params


def _w1_doubled(cache: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    grads = manual.backward(cache)
    return {**grads, "w1": 2 * grads["w1"]}


def test_a_step_too_small_for_the_loss_leaves_the_gradients_unresolved_not_ok() -> None:
    x, y, params = _network()
    result = verify_network(
        x, y, params, max_entries=20, eps=TINY_EPS, rng=np.random.default_rng(1)
    )
    assert not result.ok
    assert "w1" in result.unresolved
    assert result.failing == ()


def test_an_unresolved_verification_says_so_instead_of_disagreement() -> None:
    x, y, params = _network()
    result = verify_network(
        x, y, params, max_entries=20, eps=TINY_EPS, rng=np.random.default_rng(1)
    )
    last = format_verification(result, x.shape, 50).splitlines()[-1]
    assert last.startswith("UNRESOLVED in x, w1")
    assert "use a larger --eps" in last


def test_a_wrong_gradient_is_not_verified_by_a_step_too_small() -> None:
    x, y, params = _network()
    result = verify_network(
        x,
        y,
        params,
        backward=_w1_doubled,
        max_entries=20,
        eps=TINY_EPS,
        rng=np.random.default_rng(1),
    )
    assert not result.ok
    assert "w1" in result.failing


def test_verify_with_a_tiny_eps_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--samples", "5", "--eps", "1e-12"]) == 1
    assert "UNRESOLVED in" in capsys.readouterr().out


@pytest.mark.parametrize("eps", ["0", "nan", "-1e-6", "abc"])
def test_verify_refuses_a_step_that_is_not_positive_and_finite_in_one_line(
    eps: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "--eps", eps])
    assert exit_info.value.code == 2
    first, *rest = capsys.readouterr().err.strip().splitlines()
    assert first.startswith("chainrule verify: error: argument --eps: --eps must be")
    assert len(rest) <= 1
