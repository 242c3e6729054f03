"""The one batched forward loop: batches, padding, device placement, out-of-memory halving.

Every stage that runs a model over many inputs goes through here:

- :func:`iter_batches` cuts a sequence of inputs (in the order the caller chose) into batches,
  calls the caller's step on each and yields its results in order. When a step runs out of
  device memory, the batch is halved and tried again; the smaller size is kept for the rest of
  the run (a :class:`BatchSize` shared by several loops keeps it across them). A single input
  that does not fit is one :class:`~neuroalign._check.NeuroalignError`.
- :func:`run_batches` does the same for token sequences: each batch is padded (right or left,
  with its attention mask), moved to the model's device, and handed to the caller's forward
  under ``torch.no_grad``.

The extraction engine (:mod:`neuroalign.models.extract`) runs its length-sorted, hook-pooled
batches through :func:`iter_batches`; the localizer's tasks and the episodic head probes run
theirs through :func:`run_batches`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from neuroalign._check import NeuroalignError, check_option, check_range
from neuroalign.devices import is_oom

logger = logging.getLogger(__name__)

T = TypeVar("T")
PADDING_SIDES = ("right", "left")


class BatchSize:
    """A batch size that only shrinks: each out-of-memory error halves it.

    Parameters
    ----------
    size : int
        The starting size (at least 1).
    """

    def __init__(self, size: int) -> None:
        self.size = int(check_range("batch_size", size, 1))

    def halve(self, failed: int) -> None:
        """Shrink to half the size of a batch that did not fit (at least 1)."""
        self.size = max(1, min(self.size, failed // 2))

    def __repr__(self) -> str:
        return f"BatchSize({self.size})"


def _free(device: str | torch.device | None) -> None:
    """Give cached blocks back after an out-of-memory error, so the smaller batch fits."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def iter_batches(
    items: Sequence[Any] | np.ndarray,
    step: Callable[[Any], T],
    *,
    batch_size: int | BatchSize,
    device: str | torch.device | None = None,
    too_large: Callable[[Any], str] | None = None,
) -> Iterator[tuple[Any, T]]:
    """Run ``step`` on consecutive batches of ``items``, halving the batch on out-of-memory.

    Parameters
    ----------
    items : sequence or ndarray
        The inputs (or their indices), in the order they are batched.
    step : callable
        ``step(batch)`` runs one batch (a slice of ``items``) and returns its result. It is
        called only when the next result is asked for.
    batch_size : int or BatchSize
        Inputs per batch. A :class:`BatchSize` is shrunk in place, so loops that share it keep
        the size that fits.
    device : str or torch.device, optional
        Where the step runs; on a CUDA device the allocator's cache is emptied after an
        out-of-memory error.
    too_large : callable, optional
        ``too_large(batch)`` gives the message of the error raised when a batch of one input
        does not fit.

    Yields
    ------
    batch, result
        Each batch (a slice of ``items``) and what ``step`` returned for it, in order.

    Raises
    ------
    NeuroalignError
        If a single input does not fit in memory.
    """
    size = batch_size if isinstance(batch_size, BatchSize) else BatchSize(batch_size)
    start = 0
    while start < len(items):
        batch = items[start : start + size.size]
        try:
            result = step(batch)
        except RuntimeError as err:  # torch.OutOfMemoryError is a RuntimeError
            if not is_oom(err):
                raise
            if len(batch) == 1:
                where = "device" if device is None else str(device)
                message = (
                    too_large(batch)
                    if too_large is not None
                    else f"one input does not fit in {where} memory; use shorter inputs, a "
                    "smaller dtype, or shard the model (device_map: auto)"
                )
                raise NeuroalignError(message) from None
            size.halve(len(batch))
            logger.warning(
                "out of memory at a batch of %d; batch size now %d", len(batch), size.size
            )
            failed = True
        else:
            failed = False
        if failed:
            # Outside the except block, so the failed step's tensors are already released.
            _free(device)
            continue
        start += len(batch)
        yield batch, result


@dataclass
class TokenBatch:
    """One padded batch of token sequences on the model's device.

    Attributes
    ----------
    index : ndarray of int
        Positions of the batch's sequences in the input.
    input_ids : torch.Tensor of shape (batch, width)
        Token ids, padded with the pad id.
    attention_mask : torch.Tensor of shape (batch, width)
        1 on real tokens, 0 on padding.
    """

    index: np.ndarray
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_id: int = 0, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token sequences to one width.

    Parameters
    ----------
    sequences : sequence of sequences of int
        Token ids (at least one token each).
    pad_id : int, default=0
        Id written on the padding.
    side : {"right", "left"}, default="right"
        Where the padding goes (left padding lines the last tokens up, for generation).

    Returns
    -------
    input_ids, attention_mask : torch.Tensor of shape (n, width), int64
    """
    check_option("padding_side", side, PADDING_SIDES)
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        at = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
        ids[i, at] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[i, at] = 1
    return ids, mask


def input_device(model: torch.nn.Module) -> torch.device:
    """The device a model's inputs go to: its input embeddings' (also under a device map)."""
    embeddings = getattr(model, "get_input_embeddings", lambda: None)()
    weight = getattr(embeddings, "weight", None)
    if isinstance(weight, torch.Tensor):
        return weight.device
    return next(model.parameters()).device


def run_batches(
    sequences: Sequence[Sequence[int]] | np.ndarray,
    forward: Callable[[TokenBatch], T],
    *,
    batch_size: int | BatchSize,
    device: str | torch.device,
    pad_id: int = 0,
    padding_side: str = "right",
) -> Iterator[tuple[np.ndarray, T]]:
    """Run token sequences through ``forward`` in padded batches on ``device``.

    Parameters
    ----------
    sequences : sequence of sequences of int, or int ndarray of shape (n, length)
        Token ids of each input.
    forward : callable
        ``forward(batch)`` takes a :class:`TokenBatch` and returns its result (best moved off
        the device, so that an out-of-memory error is raised inside it). Runs under
        ``torch.no_grad``.
    batch_size : int or BatchSize
        Sequences per batch (halved on out-of-memory, see :func:`iter_batches`).
    device : str or torch.device
        Where the batches go (:func:`input_device` of the model).
    pad_id : int, default=0
        Id of the padding.
    padding_side : {"right", "left"}, default="right"
        Where the padding goes.

    Yields
    ------
    index, result
        Positions of each batch's sequences in ``sequences``, and ``forward``'s result.
    """
    check_option("padding_side", padding_side, PADDING_SIDES)
    fixed = isinstance(sequences, np.ndarray) and sequences.ndim == 2

    def step(index: np.ndarray) -> T:
        if fixed:
            ids = torch.as_tensor(sequences[index], dtype=torch.long)
            mask = torch.ones_like(ids)
        else:
            ids, mask = pad_sequences([sequences[i] for i in index], pad_id, padding_side)
        batch = TokenBatch(index, ids.to(device), mask.to(device))
        with torch.no_grad():
            return forward(batch)

    yield from iter_batches(np.arange(len(sequences)), step, batch_size=batch_size, device=device)
