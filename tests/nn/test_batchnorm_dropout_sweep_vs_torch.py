"""A sweep of BatchNorm1d and Dropout against torch beyond the cases of test_batchnorm.py and
test_dropout.py: float32 as well as float64, affine off, momentum 0, 1 and None, a single
sample with a length axis and a length of one, gradients in eval mode, and the state_dict
(keys, values, dtypes) after training then evaluating."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule
from chainrule import nn

TOLERANCES = {np.float64: 1e-10, np.float32: 2e-5}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-affine"])
@pytest.mark.parametrize("momentum", [0.1, None, 0.0, 1.0])
@pytest.mark.parametrize("shape", [(6, 5), (1, 5, 4), (4, 5, 1)], ids=str)
def test_batchnorm_steps_match_torch(
    torch: ModuleType,
    dtype: type,
    affine: bool,
    momentum: float | None,
    shape: tuple[int, ...],
) -> None:
    """Three training steps then one in eval: outputs, input and parameter gradients at
    each, then every state_dict entry, as torch.nn.BatchNorm1d."""
    options = {"eps": 1e-3, "momentum": momentum, "affine": affine}
    ours = nn.BatchNorm1d(5, dtype=dtype, **options)
    theirs = torch.nn.BatchNorm1d(5, dtype=getattr(torch, np.dtype(dtype).name), **options)
    rng = np.random.default_rng(7)
    if affine:
        for name in ("weight", "bias"):
            values = rng.uniform(0.5, 1.5, 5).astype(dtype)
            getattr(ours, name).data = values.copy()
            with torch.no_grad():
                getattr(theirs, name).copy_(torch.from_numpy(values))
    tolerance = TOLERANCES[dtype]

    def close(got: np.ndarray, want: np.ndarray) -> None:
        assert got.shape == want.shape
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)

    for training in (True, True, True, False):
        ours.train(training)
        theirs.train(training)
        x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
        cotangent = rng.standard_normal(shape).astype(dtype)
        x_ours = chainrule.tensor(x, requires_grad=True)
        out = ours(x_ours)
        out.backward(cotangent)
        x_theirs = torch.tensor(x, requires_grad=True)
        expected = theirs(x_theirs)
        expected.backward(torch.from_numpy(cotangent))
        close(out.numpy(), expected.detach().numpy())
        assert x_ours.grad is not None
        close(x_ours.grad.numpy(), x_theirs.grad.numpy())
        for name in ("weight", "bias") if affine else ():
            gradient = getattr(ours, name).grad
            assert gradient is not None
            close(gradient.numpy(), getattr(theirs, name).grad.numpy())
        ours.zero_grad()
        theirs.zero_grad()

    state, expected_state = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(expected_state)
    for key, value in expected_state.items():
        close(state[key], value.numpy())
    assert int(ours.num_batches_tracked) == 3


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-affine"])
def test_batchnorm_without_running_statistics_has_torch_state_dict_keys(
    torch: ModuleType, affine: bool
) -> None:
    ours = nn.BatchNorm1d(4, affine=affine, track_running_stats=False)
    theirs = torch.nn.BatchNorm1d(4, affine=affine, track_running_stats=False)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_batchnorm_resumes_a_cumulative_average_from_a_torch_state_dict(
    torch: ModuleType,
) -> None:
    """momentum=None weighs the next batch by 1 / num_batches_tracked, so a loaded count
    must carry on where torch's left off."""
    rng = np.random.default_rng(3)
    theirs = torch.nn.BatchNorm1d(5, momentum=None, dtype=torch.float64)
    for _ in range(3):
        theirs(torch.from_numpy(rng.standard_normal((7, 5))))
    ours = nn.BatchNorm1d(5, momentum=None, dtype=np.float64)
    ours.load_state_dict({key: value.numpy() for key, value in theirs.state_dict().items()})
    x = rng.standard_normal((7, 5))
    ours(x)
    theirs(torch.from_numpy(x))
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 4
    assert ours.running_mean is not None
    assert ours.running_var is not None
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_dropout_training_scales_kept_entries_and_their_gradient(dtype: type, p: float) -> None:
    """y = x * mask / (1 - p) and dL/dx = mask / (1 - p) for a ones cotangent; p = 0 keeps
    all, p = 1 drops all (gradient zero too); the dtype is the input's; no state."""
    layer = nn.Dropout(p, rng=np.random.default_rng(0))
    x = (np.random.default_rng(1).standard_normal((40, 30)) + 3).astype(dtype)
    inputs = chainrule.tensor(x, requires_grad=True)
    out = layer(inputs)
    out.backward(np.ones_like(x))
    kept = out.numpy() != 0
    scale = (kept / (1 - p) if p < 1 else np.zeros_like(x)).astype(dtype)
    assert out.dtype == dtype
    assert inputs.grad is not None
    assert inputs.grad.dtype == dtype
    np.testing.assert_allclose(out.numpy(), x * scale, rtol=1e-6)
    np.testing.assert_allclose(inputs.grad.numpy(), scale, rtol=1e-6)
    if p == 0.0:
        assert kept.all()
    elif p == 0.3:
        assert abs(kept.mean() - 0.7) < 0.05
    assert layer.state_dict() == {}
