"""BatchNorm1d against torch.nn.BatchNorm1d: outputs, running statistics and gradients in
training, outputs in eval, for (N, C) and (N, C, L) inputs."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn

SHAPES = [(8, 5), (6, 5, 4)]


def _pair(torch: ModuleType, momentum: float | None = 0.1) -> tuple[nn.BatchNorm1d, Any]:
    ours = nn.BatchNorm1d(5, momentum=momentum, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(5, momentum=momentum, dtype=torch.float64)
    rng = np.random.default_rng(4)
    weight, bias = rng.uniform(0.5, 1.5, 5), rng.standard_normal(5)
    assert ours.weight is not None
    assert ours.bias is not None
    ours.weight.data = weight.copy()
    ours.bias.data = bias.copy()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(weight))
        theirs.bias.copy_(torch.from_numpy(bias))
    return ours, theirs


def _assert_close(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_training_output_and_gradients_match_torch(
    torch: ModuleType, shape: tuple[int, ...]
) -> None:
    ours, theirs = _pair(torch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    grad_out = rng.standard_normal(shape)
    x_ours = chainrule.tensor(x, requires_grad=True)
    out = ours(x_ours)
    out.backward(grad_out)
    x_theirs = torch.tensor(x, requires_grad=True)
    out_theirs = theirs(x_theirs)
    out_theirs.backward(torch.from_numpy(grad_out))
    assert ours.weight is not None
    assert ours.bias is not None
    assert x_ours.grad is not None
    assert ours.weight.grad is not None
    assert ours.bias.grad is not None
    _assert_close(out.numpy(), out_theirs.detach().numpy())
    _assert_close(x_ours.grad.numpy(), x_theirs.grad.numpy())
    _assert_close(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
    _assert_close(ours.bias.grad.numpy(), theirs.bias.grad.numpy())


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", SHAPES)
def test_running_statistics_and_eval_output_match_torch(
    torch: ModuleType, shape: tuple[int, ...], momentum: float | None
) -> None:
    ours, theirs = _pair(torch, momentum)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 - 1
        ours(x)
        theirs(torch.from_numpy(x))
    _assert_close(ours.running_mean, theirs.running_mean.numpy())
    _assert_close(ours.running_var, theirs.running_var.numpy())
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 3
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    _assert_close(ours(x).numpy(), theirs(torch.from_numpy(x)).detach().numpy())


def test_eval_does_not_change_running_statistics() -> None:
    layer = nn.BatchNorm1d(3).eval()
    layer(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3, dtype=np.float32))
    np.testing.assert_array_equal(layer.running_var, np.ones(3, dtype=np.float32))


def test_without_affine_there_are_no_parameters() -> None:
    layer = nn.BatchNorm1d(3, affine=False)
    assert list(layer.parameters()) == []
    out = layer(np.arange(6.0).reshape(2, 3)).numpy()
    # Each column is (c, c + 3): centred +-1.5 with biased variance 2.25.
    expected = np.array([[-1.5] * 3, [1.5] * 3]) / np.sqrt(2.25 + 1e-5)
    _assert_close(out, expected)


def test_wrong_feature_count_names_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"input has shape \(4, 3\); expected \(N, 5\)"):
        nn.BatchNorm1d(5)(np.zeros((4, 3)))


def test_training_on_one_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="more than one value per feature"):
        nn.BatchNorm1d(5)(np.zeros((1, 5)))


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES)
def test_without_running_statistics_every_batch_uses_its_own_as_torch(
    torch: ModuleType, shape: tuple[int, ...], mode: str
) -> None:
    # torch.nn.BatchNorm1d(track_running_stats=False): no running buffers, and eval mode
    # normalises by the batch too (chainrule had no such option).
    ours = nn.BatchNorm1d(5, track_running_stats=False, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(5, track_running_stats=False, dtype=torch.float64)
    if mode == "eval":
        ours.eval()
        theirs.eval()
    rng = np.random.default_rng(2)
    x, grad_out = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    x_ours = chainrule.tensor(x, requires_grad=True)
    out = ours(x_ours)
    out.backward(grad_out)
    x_theirs = torch.tensor(x, requires_grad=True)
    out_theirs = theirs(x_theirs)
    out_theirs.backward(torch.from_numpy(grad_out))
    assert x_ours.grad is not None
    _assert_close(out.numpy(), out_theirs.detach().numpy())
    _assert_close(x_ours.grad.numpy(), x_theirs.grad.numpy())
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert ours.running_mean is None
    assert ours.num_batches_tracked is None


def test_without_running_statistics_one_sample_is_an_error_in_eval_too() -> None:
    layer = nn.BatchNorm1d(5, track_running_stats=False).eval()
    with pytest.raises(ValueError, match="more than one value per feature"):
        layer(np.zeros((1, 5), np.float32))


def test_without_running_statistics_a_compiled_step_replays_as_eager_in_both_modes() -> None:
    # No buffers to keep outside the graph: only ops, so compile traces it (it refused it,
    # naming running statistics the layer does not have).
    def run(compiled: bool) -> tuple[list[float], np.ndarray]:
        model = nn.Sequential(
            nn.Linear(4, 5, rng=np.random.default_rng(0), dtype=np.float64),
            nn.BatchNorm1d(5, track_running_stats=False, dtype=np.float64),
        )
        optimizer = chainrule.optim.SGD(model.parameters(), lr=0.1)

        def train_step(x: np.ndarray) -> chainrule.Tensor:
            optimizer.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss

        def evaluate(x: np.ndarray) -> chainrule.Tensor:
            return model(x).sum()

        train = chainrule.compile(train_step) if compiled else train_step
        score = chainrule.compile(evaluate) if compiled else evaluate
        rng = np.random.default_rng(1)
        values = []
        for _ in range(4):
            x = rng.standard_normal((6, 4))
            model.train()
            values.append(float(train(x).item()))
            model.eval()
            values.append(float(score(x).item()))
        return values, model[0].weight.numpy()

    eager_values, eager_weight = run(compiled=False)
    values, weight = run(compiled=True)
    np.testing.assert_allclose(values, eager_values, rtol=1e-12)
    np.testing.assert_array_equal(weight, eager_weight)
