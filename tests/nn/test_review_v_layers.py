"""Review v: layer configurations checked against torch.nn (float64, values and gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule
from chainrule import nn


def test_flatten_keeps_an_empty_batch_as_torch() -> None:
    out = nn.Flatten()(np.zeros((0, 3, 4)))
    assert out.shape == tuple(torch.nn.Flatten()(torch.zeros((0, 3, 4))).shape) == (0, 12)
    assert nn.Flatten(0, 1)(np.zeros((2, 0, 4))).shape == (0, 4)


@pytest.mark.parametrize("dims", [(0, -1), (-1, -1), (0, 0), (-1, 0)])
def test_flatten_of_a_0d_input_gives_shape_1_as_torch_for_dims_0_and_minus_1(
    dims: tuple[int, int],
) -> None:
    x = chainrule.tensor(np.array(2.5), requires_grad=True)
    out = nn.Flatten(*dims)(x)
    expected = torch.nn.Flatten(*dims)(torch.tensor(2.5))
    assert out.shape == tuple(expected.shape) == (1,)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    out.sum().backward()
    assert x.grad is not None
    assert x.grad.shape == ()


@pytest.mark.parametrize("dims", [(1, -1), (0, 1), (2, 3)])
def test_flatten_of_a_0d_input_refuses_a_dim_past_its_one_as_torch(dims: tuple[int, int]) -> None:
    # The default start_dim=1 keeps a batch axis a 0-d input lacks: torch raises IndexError,
    # where chainrule gave shape (1,) silently.
    with pytest.raises(IndexError):
        torch.nn.Flatten(*dims)(torch.tensor(2.5))
    with pytest.raises(ValueError, match=r"^Flatten: dim \d is out of range for a 0-d input"):
        nn.Flatten(*dims)(np.array(2.5))


@pytest.mark.parametrize("sizes", [(2, -1), (-1, 2), (-1, 1, 4), (4, -1)])
def test_unflatten_infers_one_minus_one_size_as_torch(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 4, 2))
    x = chainrule.tensor(values, requires_grad=True)
    expected = torch.nn.Unflatten(1, sizes)(torch.tensor(values))
    out = nn.Unflatten(1, sizes)(x)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.data, expected.numpy())
    (out * chainrule.tensor(np.arange(out.size).reshape(out.shape))).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(x.size).reshape(x.shape))


@pytest.mark.parametrize("sizes", [(-1, -1), (-2, -2), (3, -1), (-1, 0)])
def test_unflatten_names_sizes_it_cannot_use(sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"Unflatten: .*\(3, 4\)"):
        nn.Unflatten(1, sizes)(np.zeros((3, 4)))


def _pair(values: np.ndarray) -> tuple[chainrule.Tensor, torch.Tensor]:
    return chainrule.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)


def _backward_both(ours: chainrule.Tensor, theirs: torch.Tensor, seed: int) -> None:
    upstream = np.random.default_rng(seed).standard_normal(tuple(theirs.shape))
    theirs.backward(torch.tensor(upstream))
    (ours * chainrule.tensor(upstream)).sum().backward()


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's own note
@pytest.mark.parametrize(
    ("groups", "kernel", "stride", "padding", "dilation", "bias"),
    [
        (1, (3, 2), (2, 1), (2, 0), (2, 1), True),
        (2, (2, 3), 1, "same", (1, 2), False),
        (3, (1, 1), 3, "valid", 1, True),
        (1, (3, 3), 1, "same", 1, True),
    ],
)
def test_conv2d_layer_matches_torch_in_float64(
    groups: int,
    kernel: tuple[int, int],
    stride: int | tuple[int, int],
    padding: str | tuple[int, int],
    dilation: int | tuple[int, int],
    bias: bool,
) -> None:
    # In the spirit of torch's test_modules conv cases: non-square kernel and input, batch 1.
    layer = nn.Conv2d(6, 6, kernel, stride, padding, dilation, groups, bias)
    layer.double()
    reference = torch.nn.Conv2d(6, 6, kernel, stride, padding, dilation, groups, bias).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.data))
        if bias:
            reference.bias.copy_(torch.tensor(layer.bias.data))
    x, tx = _pair(np.random.default_rng(1).standard_normal((1, 6, 7, 5)))
    out, expected = layer(x), reference(tx)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    _backward_both(out, expected, 2)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    grad_w = reference.weight.grad.numpy()
    np.testing.assert_allclose(layer.weight.grad.data, grad_w, rtol=1e-12, atol=1e-12)


def test_max_pool_routes_a_tied_window_to_the_same_input_as_torch() -> None:
    # Every window of this input is a tie of 1.0s: the gradient goes to one index per window.
    values = np.ones((1, 1, 5, 5))
    x, tx = _pair(values)
    out = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)(x)
    expected = torch.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)(tx)
    _backward_both(out, expected, 3)
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_with_padding_and_ceil_mode_matches_torch(count_include_pad: bool) -> None:
    x, tx = _pair(np.random.default_rng(4).standard_normal((2, 1, 6, 7)))
    config = {"stride": (2, 3), "padding": 1, "ceil_mode": True}
    out = nn.AvgPool2d((3, 2), count_include_pad=count_include_pad, **config)(x)
    expected = torch.nn.AvgPool2d((3, 2), count_include_pad=count_include_pad, **config)(tx)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    _backward_both(out, expected, 5)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_running_stats_over_steps_then_eval_match_torch(
    momentum: float | None, affine: bool
) -> None:
    ours = nn.BatchNorm1d(3, momentum=momentum, affine=affine, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum, affine=affine).double()
    rng = np.random.default_rng(6)
    for _ in range(4):
        batch = rng.standard_normal((2, 3, 3)) * 3 + 1
        np.testing.assert_allclose(
            ours(batch).data, theirs(torch.tensor(batch)).detach().numpy(), rtol=1e-10
        )
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 4
    x, tx = _pair(rng.standard_normal((1, 3)))
    out, expected = ours.eval()(x), theirs.eval()(tx)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    _backward_both(out, expected, 7)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)


def test_embedding_repeats_accumulate_and_padding_row_gets_zero_as_torch() -> None:
    table = np.random.default_rng(8).standard_normal((5, 2))
    ours = nn.Embedding(5, 2, padding_idx=-2, dtype=np.float64)
    ours.weight.data = table.copy()
    theirs = torch.nn.Embedding(5, 2, padding_idx=-2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(table))
    indices = np.array([[3, 1, 1], [3, 3, 0]])
    out, expected = ours(indices), theirs(torch.tensor(indices))
    _backward_both(out, expected, 9)
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ours.weight.grad.data[3], [0.0, 0.0])


@pytest.mark.parametrize("library", ["jax.numpy", "array_api_strict"])
def test_batchnorm_moved_to_another_library_updates_its_running_stats(library: str) -> None:
    xp = pytest.importorskip(library)
    rng = np.random.default_rng(10)
    batches = [rng.standard_normal((4, 3, 2)).astype(np.float32) for _ in range(2)]
    on_numpy = nn.BatchNorm1d(3, momentum=None)
    moved = nn.BatchNorm1d(3, momentum=None).to(xp)
    for batch in batches:
        expected = on_numpy(batch).data
        out = moved(xp.asarray(batch))
        np.testing.assert_allclose(np.asarray(out.data), expected, rtol=1e-5, atol=1e-6)
    # JAX arrays are immutable: an in-place `*=` rebinds a local name and the buffer stays.
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(
            np.asarray(getattr(moved, name)), getattr(on_numpy, name), rtol=1e-5, err_msg=name
        )
    assert int(np.asarray(moved.num_batches_tracked)) == 2
    moved.eval()
    on_numpy.eval()
    check = batches[0][:1]
    np.testing.assert_allclose(
        np.asarray(moved(xp.asarray(check)).data), on_numpy(check).data, rtol=1e-5, atol=1e-6
    )
