"""Tiny diffusers parts from configs and a fixed linear image -> voxel encoder (red, blue)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _prompts import prompt_states


class ColourEncoder(torch.nn.Module):
    """20 voxels: 0-9 respond to the image's mean red, 10-19 to its mean blue."""

    def __init__(self) -> None:
        super().__init__()
        w = torch.zeros(3, 20)
        w[0, :10] = 1.0
        w[2, 10:] = 1.0
        self.register_buffer("w", w)
        self.rois = {"red": torch.arange(20) < 10, "blue": torch.arange(20) >= 10}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean((2, 3)) @ self.w


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    from neuroalign.diffusion.sd import load_sd, save_tiny_sd

    folder = save_tiny_sd(tmp_path_factory.mktemp("sd") / "tiny_sd", image_size=32, seed=0)
    return folder, load_sd(f"path:{folder}")


@pytest.fixture(scope="session")
def colour_encoder():
    return ColourEncoder()


def rois_np(encoder) -> dict:
    return {k: v.numpy() for k, v in encoder.rois.items()}


__all__ = ["ColourEncoder", "np", "prompt_states", "rois_np"]
