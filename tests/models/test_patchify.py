"""Patch embeddings as one matrix product equal the convolution they replace."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import make_clip

from neuroalign.models.patchify import is_patch_conv, patch_matmuls


@pytest.mark.parametrize(
    ("kernel", "size", "bias"), [(16, (64, 64), True), (14, (45, 60), False), (4, (9, 13), True)]
)
def test_product_equals_the_convolution(kernel, size, bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 24, kernel, stride=kernel, bias=bias)
    x = torch.randn(5, 3, *size)
    want = conv(x)
    seen = []
    conv.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad(), patch_matmuls(conv) as n:
        got = conv(x)
    assert n == 1
    assert got.shape == want.shape == (5, 24, size[0] // kernel, size[1] // kernel)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert seen and seen[0] is got  # hooks see the product's output
    torch.testing.assert_close(got.flatten(2).transpose(1, 2), want.flatten(2).transpose(1, 2))
    assert "forward" not in vars(conv)  # the convolution is back


@pytest.mark.parametrize(
    "conv",
    [
        torch.nn.Conv2d(3, 8, 4, stride=2),
        torch.nn.Conv2d(3, 8, 4, stride=4, padding=1),
        torch.nn.Conv2d(4, 8, 4, stride=4, groups=2),
        torch.nn.Conv2d(3, 8, 3, stride=3, dilation=2),
        torch.nn.Conv1d(3, 8, 4, stride=4),
    ],
)
def test_other_convolutions_keep_their_forward(conv):
    assert not is_patch_conv(conv)
    with patch_matmuls(torch.nn.Sequential(conv)) as n:
        assert n == 0
        assert "forward" not in vars(conv)


def test_a_product_that_differs_is_not_kept(monkeypatch):
    from neuroalign.models import patchify

    conv = torch.nn.Conv2d(3, 8, 4, stride=4)
    monkeypatch.setattr(patchify, "_patch_forward", lambda self, x: F.conv2d(x, self.weight) * 2)
    with patch_matmuls(conv) as n:
        assert n == 0


def test_a_clip_tower_gives_the_same_outputs():
    model = make_clip().vision_model.eval()
    pixels = torch.randn(3, 3, model.config.image_size, model.config.image_size)
    with torch.no_grad():
        want = model(pixel_values=pixels).last_hidden_state
        with patch_matmuls(model) as n:
            got = model(pixel_values=pixels).last_hidden_state
    assert n == 1
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
