"""Image inputs: a vision tower alone (CLIP-style) or image+text prompts (LLaVA-style).

Images go through the model's own processor. A vision tower's items pool over its tokens: the
first token (CLS, pooling ``first``) or the mean of the patch tokens (pooling ``mean``; any
prefix tokens before the patches are left out). A prompt's items pool over the whole prompt
(pooling ``last`` or ``mean``), as text items do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroalign._check import NeuroalignError
from neuroalign.models.pooling import PoolPlan


@dataclass
class ImageInput:
    """One image (and optionally a tokenized prompt) for one stimulus item.

    Attributes
    ----------
    pixel_values : tensor of shape (channels, height, width)
        The processed image; for images that only need the processor's normalization
        (:func:`pixel_norm`), the uint8 image as it is, of shape (height, width, channels).
    rows : ndarray of shape (1,)
        Row of the item in the stimulus table.
    input_ids : ndarray of shape (n_tokens,), optional
        The prompt's token ids (image tokens expanded), for image+text models.
    """

    pixel_values: torch.Tensor
    rows: np.ndarray
    input_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return 1 if self.input_ids is None else len(self.input_ids)


def load_image(image: Any, base_dir: Path | None = None) -> Any:
    """Return a PIL RGB image from a path (relative to ``base_dir``), an array or a PIL image."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        path = Path(image)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        if not path.is_file():
            raise NeuroalignError(f"image not found: {path}; fix the 'image' column of the table")
        with Image.open(path) as img:
            return img.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
            return image  # already RGB; processors take arrays
        return Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    return image


def _image_processor(processor: Any) -> Any:
    return getattr(processor, "image_processor", processor)


@dataclass(frozen=True)
class PixelNorm:
    """What an image processor does to an image already at its output size: scale and
    normalize each channel, ``(x * scale - mean) / std`` (done on the device, on uint8).

    The uint8 pixels stay channels-last on the host (no transpose there): the device moves the
    channels first in the same pass that normalizes them."""

    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Normalize uint8 pixels of shape (batch, height, width, channels) into ``dtype``, of
        shape (batch, channels, height, width)."""
        mean = torch.tensor(self.mean, device=pixels.device)
        std = torch.tensor(self.std, device=pixels.device)
        out = ((pixels.float() * self.scale - mean) / std).to(dtype)
        return out.permute(0, 3, 1, 2).contiguous()


def _output_size(proc: Any) -> tuple[int, int] | None:
    """The (height, width) a processor's images come out at, where it is fixed."""
    if getattr(proc, "do_center_crop", False):
        crop = getattr(proc, "crop_size", None) or {}
        if "height" in crop and "width" in crop:
            return int(crop["height"]), int(crop["width"])
        return None
    size = getattr(proc, "size", None) or {}
    if "height" in size and "width" in size and getattr(proc, "do_resize", True):
        return int(size["height"]), int(size["width"])
    return None


def pixel_norm(processor: Any, images: Sequence[Any]) -> PixelNorm | None:
    """The normalization alone that ``processor`` applies to ``images``, when they are uint8
    RGB arrays already at its output size (resizing, cropping and padding would change
    nothing); None when the processor must run (other sizes, PIL images, other steps).

    Checked on the processor's own settings: a shortest-edge resize to the crop size of an
    image at the crop size, then the crop, leave it as it is.
    """
    proc = _image_processor(processor)
    out = _output_size(proc)
    if out is None or not images:
        return None
    for image in images:
        if not (
            isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (*out, 3)
        ):
            return None
    size = getattr(proc, "size", None) or {}
    if getattr(proc, "do_resize", False):
        edge = size.get("shortest_edge")
        if edge is not None and not (out[0] == out[1] == edge):
            return None
        if edge is None and (size.get("height"), size.get("width")) != out:
            return None
    if getattr(proc, "do_pad", False):
        return None
    scale = float(proc.rescale_factor) if getattr(proc, "do_rescale", True) else 1.0
    if getattr(proc, "do_normalize", True):
        mean, std = tuple(proc.image_mean), tuple(proc.image_std)
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if len(mean) != 3 or len(std) != 3:
        return None
    return PixelNorm(scale, tuple(map(float, mean)), tuple(map(float, std)))


def prepare_images(
    processor: Any, images: Sequence[Any], rows: np.ndarray, norm: PixelNorm | None = None
) -> list[ImageInput]:
    """Process images for a vision tower; one :class:`ImageInput` per item.

    With ``norm`` (:func:`pixel_norm`: the images are uint8 arrays at the processor's output
    size), the pixels stay uint8 and channels-last, uncopied, and ``norm`` is applied on the
    device.
    """
    if norm is not None:
        return [
            ImageInput(torch.from_numpy(np.ascontiguousarray(im)), np.array([r]))
            for im, r in zip(images, rows, strict=True)
        ]
    pixels = _image_processor(processor)(images=list(images), return_tensors="pt")["pixel_values"]
    return [ImageInput(pixels[i], np.array([r])) for i, r in enumerate(rows)]


def prepare_prompts(
    processor: Any, images: Sequence[Any], texts: Sequence[str], rows: np.ndarray
) -> list[ImageInput]:
    """Process image+text prompts; the image token is put first where the text lacks it."""
    image_token = getattr(processor, "image_token", None)
    if image_token is None:
        raise NeuroalignError(
            f"{type(processor).__name__} has no image token: image+text prompts need an "
            "image-text model's processor (LLaVA-style)"
        )
    out = []
    for image, text, row in zip(images, texts, rows, strict=True):
        prompt = text if image_token in text else f"{image_token}\n{text}"
        encoded = processor(text=[prompt], images=[image], return_tensors="pt")
        out.append(
            ImageInput(
                encoded["pixel_values"][0],
                np.array([row]),
                encoded["input_ids"][0].numpy().astype(np.int64),
            )
        )
    return out


def collate_images(
    inputs: list[ImageInput], seq_len: int, n_prefix: int, *, pin: bool = False
) -> tuple[dict[str, torch.Tensor], PoolPlan]:
    """Stack images into a batch; items pool over the patch tokens (after ``n_prefix``).

    With ``pin``, the batch is stacked straight into page-locked memory (one host copy; the
    copy to the device then overlaps the device's work)."""
    positions = [np.arange(n_prefix, seq_len)] * len(inputs)
    plan = PoolPlan.from_positions(
        np.concatenate([x.rows for x in inputs]),
        np.arange(len(inputs)),
        positions,
        seq_len,
        first=np.zeros(len(inputs), dtype=np.int64),
    )
    first = inputs[0].pixel_values
    pixels = torch.empty((len(inputs), *first.shape), dtype=first.dtype, pin_memory=pin)
    torch.stack([x.pixel_values for x in inputs], out=pixels)
    return {"pixel_values": pixels}, plan


def collate_prompts(
    inputs: list[ImageInput], pad_id: int, padding_side: str
) -> tuple[dict[str, torch.Tensor], PoolPlan]:
    """Pad image+text prompts into a batch; items pool over every prompt token."""
    seq_len = max(len(x) for x in inputs)
    ids = np.full((len(inputs), seq_len), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    positions = []
    for b, x in enumerate(inputs):
        shift = seq_len - len(x) if padding_side == "left" else 0
        ids[b, shift : shift + len(x)] = x.input_ids
        mask[b, shift : shift + len(x)] = 1
        positions.append(np.arange(shift, shift + len(x)))
    plan = PoolPlan.from_positions(
        np.concatenate([x.rows for x in inputs]), np.arange(len(inputs)), positions, seq_len
    )
    batch = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "position_ids": torch.from_numpy(np.clip(np.cumsum(mask, axis=1) - 1, 0, None)),
        "pixel_values": torch.stack([x.pixel_values for x in inputs]),
    }
    return batch, plan


def n_patches(config: Any, image_shape: tuple[int, int] | None = None) -> int | None:
    """Number of patch tokens of a vision config for images of ``image_shape`` (height,
    width; default the config's ``image_size``): ``(height // patch) * (width // patch)``.

    The processed image's own shape counts: towers such as DINOv2 interpolate their position
    embeddings and run on images smaller than their config's ``image_size``.
    """
    size, patch = getattr(config, "image_size", None), getattr(config, "patch_size", None)
    if not patch:
        return None
    patch = patch if isinstance(patch, int) else patch[0]
    if image_shape is None:
        if not size:
            return None
        image_shape = (size, size) if isinstance(size, int) else tuple(size[:2])
    return (int(image_shape[0]) // patch) * (int(image_shape[1]) // patch)
