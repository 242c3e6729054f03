"""The batched extraction engine.

The table is cut into model inputs (text windows, images or prompts), processed in chunks of
inputs in table order; text is tokenized part by part on a thread, ahead of the chunks. Within a
chunk the inputs are sorted by length and batched, so padding is small; hooks pool each requested
activation on the device as soon as it is computed, the forward pass stops after the last
requested block, and the pooled rows are converted to the storage dtype (float32 unless 16-bit
results are asked for) on the device and copied to pinned
host memory on a second CUDA stream while the next batch runs. The batches of all chunks form one
stream: a chunk is handed on once its last batch is on the host, after the next chunk's first
batch is launched, so the device does not wait between chunks. Causal models run batches
without left padding without an attention mask (:mod:`neuroalign.models.maskless`), so the host
never waits for the device inside a forward pass. A chunk goes to a sink (a Zarr store, or
memory) on a background thread, which puts its rows in table order. Out-of-memory halves the
batch and goes on (the batch loop of :mod:`neuroalign.models.batches`). With several devices,
each holds a replica of the model and takes every n-th batch of a chunk.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import inspect
import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn.attention import sdpa_kernel

from neuroalign._check import NeuroalignError, check_option, check_range
from neuroalign.models import units as unit_spaces
from neuroalign.models.attention import rank_backends
from neuroalign.models.attention_rows import SDPA_LIKE, QueryRows, query_rows, rows_attention
from neuroalign.models.autocompile import should_compile
from neuroalign.models.batches import BatchSize, iter_batches
from neuroalign.models.compiled import compilable_blocks, compiled_blocks
from neuroalign.models.discover import Architecture, discover, position_offset
from neuroalign.models.fused import fused_mlps
from neuroalign.models.hooks import StopForward, capture, parse_address
from neuroalign.models.maskless import is_causal, longest_maskless, maskless, model_configs
from neuroalign.models.patchify import patch_matmuls
from neuroalign.models.pooling import POOLINGS, PoolPlan, pool_attention, pool_tokens
from neuroalign.models.text import (
    ContextPolicy,
    TextStream,
    TextWork,
    build_windows,
    collate_text,
    parse_context,
)
from neuroalign.models.vision import (
    collate_images,
    collate_prompts,
    load_image,
    n_patches,
    pixel_norm,
    prepare_images,
    prepare_prompts,
)

logger = logging.getLogger(__name__)

#: Host memory for one chunk of pooled activations (two chunks are alive at most).
DEFAULT_CHUNK_BYTES = 256 * 2**20


@dataclass
class Chunk:
    """Pooled activations of consecutive inputs.

    Attributes
    ----------
    first_input, stop_input : int
        The chunk covers inputs ``first_input`` to ``stop_input - 1`` (resume counts inputs).
    rows : ndarray of shape (n,)
        Sorted table rows of the chunk's items.
    n_tokens : ndarray of shape (n,)
        Tokens pooled for each item.
    parts : list of (ndarray, dict of str to tensor)
        Each batch's positions in ``rows`` and its pooled host tensors per unit space.
    shapes : dict of str to tuple
        Shape of each unit space's array.
    storage_dtype : {"float32", "float16", "bfloat16"}
        The dtype of the host tensors (bfloat16 arrays hold the raw bits as uint16).
    """

    first_input: int
    stop_input: int
    rows: np.ndarray
    n_tokens: np.ndarray
    parts: list[tuple[np.ndarray, dict[str, torch.Tensor]]]
    shapes: dict[str, tuple[int, ...]]
    storage_dtype: str = "float32"

    @functools.cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """For each unit space, shape (n, n_layers, n_units) (``embed``: (n, n_units)) in row
        order, of :func:`host_numpy_dtype` of the storage dtype. Built on first access (by the
        writer thread), then the parts are freed."""
        dtype = host_numpy_dtype(self.storage_dtype)
        out = {space: np.empty(shape, dtype=dtype) for space, shape in self.shapes.items()}
        self.scatter(out, np.arange(len(self.rows)))
        return out

    def scatter(self, targets: dict[str, np.ndarray], rows: np.ndarray | None = None) -> None:
        """Copy each batch's rows into ``targets[space][rows[i]]`` for the chunk's item ``i``
        (by default the item's table row), in one pass, then free the parts.

        Parameters
        ----------
        targets : dict of str to ndarray
            A C-contiguous array per unit space of :func:`host_numpy_dtype` of the storage
            dtype, indexed by row on its first axis.
        rows : ndarray of shape (n,), optional
            Where each item of the chunk goes (default: :attr:`rows`).
        """
        rows = self.rows if rows is None else rows
        jobs = []
        for at, host in self.parts:
            index = torch.from_numpy(np.ascontiguousarray(rows[at], dtype=np.int64))
            for space, values in host.items():
                out = torch.from_numpy(targets[space]).view(values.dtype)
                for lo in range(0, len(at), _SCATTER_ROWS):
                    hi = lo + _SCATTER_ROWS
                    jobs.append((out, index[lo:hi], values[lo:hi]))

        def copy(job: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
            out, index, values = job
            out.index_copy_(0, index, values)

        # Disjoint rows on several threads (the copies release the GIL): first writes to fresh
        # host memory are page faults, which one thread alone takes too slowly.
        list(_scatter_pool().map(copy, jobs))
        self.parts = []


#: Host (and storage) dtypes of pooled activations.
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def host_numpy_dtype(storage_dtype: str) -> np.dtype:
    """The numpy dtype holding values of ``storage_dtype`` on the host.

    numpy has no bfloat16: its values are held as their raw 16 bits (``uint16``), which
    :func:`bfloat16_to_float32` turns back into numbers.
    """
    check_option("storage_dtype", storage_dtype, STORAGE_DTYPES)
    return np.dtype(np.uint16 if storage_dtype == "bfloat16" else storage_dtype)


#: Rows per copy job of :meth:`Chunk.scatter`.
_SCATTER_ROWS = 128


@functools.cache
def _scatter_pool() -> ThreadPoolExecutor:
    """The threads that place chunk rows on the host (up to 8)."""
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))


@dataclass
class _Job:
    """A chunk's inputs and the result they fill, batch by batch."""

    chunk: Chunk
    work: Any
    order: np.ndarray  # inputs of ``work``, in the order they are batched
    lock: threading.Lock

    def deliver(self, plan: PoolPlan, host: dict[str, torch.Tensor]) -> None:
        """Record a batch's pooled host tensors (several devices may deliver at once)."""
        at = np.searchsorted(self.chunk.rows, plan.rows)
        with self.lock:
            self.chunk.parts.append((at, host))
            self.chunk.n_tokens[at] = plan.n_tokens


def _entry_module(
    model: torch.nn.Module, stack: str, needs: Sequence[str], within: str | None = None
) -> torch.nn.Module:
    """The deepest module above the block stack whose forward takes every input in ``needs``
    (and, with ``within``, that also holds the module ``within``: an image projection)."""
    parts = stack.split(".")
    for depth in range(len(parts) - 1, -1, -1):
        prefix = ".".join(parts[:depth])
        if within is not None and prefix and not within.startswith(f"{prefix}."):
            continue
        module = model.get_submodule(prefix)
        params = inspect.signature(module.forward).parameters
        if all(n in params for n in needs):
            return module
    raise NeuroalignError(
        f"{type(model).__name__}: no module above {stack} takes {', '.join(needs)} as input"
    )


def _needs_text(model: torch.nn.Module) -> bool:
    """Whether the model's forward takes token ids as well as images (a dual encoder)."""
    params = inspect.signature(model.forward).parameters
    return "input_ids" in params and "pixel_values" in params


def _accepted(module: Any) -> set[str] | None:
    forward = module.forward if isinstance(module, torch.nn.Module) else module
    params = inspect.signature(forward).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return set(params)


def _model_defaults(
    inputs: dict[str, torch.Tensor], causal: bool = False
) -> dict[str, torch.Tensor]:
    """Leave out the inputs that equal what the model would make itself.

    Without left padding every row starts at the first position, so the model's own position
    ids are right for the real tokens (0, 1, ... for most models; models such as RoBERTa count
    from their padding index, which explicit 0-based ids would get wrong). Without any padding
    the mask goes too: the model then takes its causal or unmasked attention path. With
    ``causal`` (a causal model that may run without a mask, :mod:`neuroalign.models.maskless`)
    the mask of right padding goes as well: no real token attends to the padding after it.
    """
    mask = inputs.get("attention_mask")
    if mask is None or not bool(mask[:, 0].all()):
        return inputs
    drop = {"position_ids", "attention_mask"} if causal or bool(mask.all()) else {"position_ids"}
    return {k: v for k, v in inputs.items() if k not in drop}


class _Replica:
    """A model copy on one device with its hooks' bookkeeping."""

    def __init__(
        self,
        model: torch.nn.Module,
        entry_path: str,
        device: torch.device,
        images_only: bool = False,
    ) -> None:
        self.model = model
        self.entry = model.get_submodule(entry_path)
        if (
            images_only
            and entry_path == ""
            and hasattr(model, "get_image_features")
            and _needs_text(model)
        ):
            # A dual encoder (CLIPModel): its forward runs both towers; the image side alone.
            # (A LLaVA-style model's prompts need its whole forward: images_only is False.)
            self.entry = model.get_image_features
        self.accepted = _accepted(self.entry)
        self.device = device
        #: Inputs per batch; halved on out-of-memory and kept for the rest of the run.
        self.batch_size = BatchSize(1)
        #: The CUDA stream of the copies to the host (None on other devices).
        self.copy_stream: torch.cuda.Stream | None = None
        #: The CUDA stream of the copies of inputs to the device (None on other devices).
        self.input_stream: torch.cuda.Stream | None = None
        #: Longest batch that runs without an attention mask (None: every batch keeps it).
        self.maskless: int | None = None
        #: The model's configs, which a batch without a mask switches (found once).
        self.configs: list[Any] = []
        #: Attention kernels, cheapest first (None: not measured yet; empty: the default order).
        self.attention: list | None = None
        #: Share of the batches that come in a new shape (from the first chunk's lengths).
        self.new_shapes = 0.0
        #: Whether every attention module of the model is causal.
        self.causal = False
        #: Attention modules whose weights are read (``attn_pattern``).
        self.weight_modules: list[torch.nn.Module] = []
        #: Whether those weights come as the items' rows (:mod:`neuroalign.models.attention_rows`).
        self.rows = False


def _ranks_attention(device: torch.device) -> bool:
    """Whether attention kernels are timed on this device (where the fused kernels differ)."""
    return device.type == "cuda"


class Extractor:
    """Extract pooled unit activations from a model for the items of a stimulus table.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face model (see :func:`neuroalign.models.sources.load_model`).
    processor : tokenizer or processor
        The model's tokenizer (text) or processor (images, prompts).
    units : str or sequence of str, default="resid"
        Unit spaces (:data:`neuroalign.models.units.UNIT_SPACES`), e.g. ``"resid,mlp_out"``.
    layers : "all" or sequence of int, default="all"
        Blocks to read (``[0, 3, -1]``; negative from the end; see
        :func:`neuroalign.models.units.parse_layers`).
    context : str, mapping or ContextPolicy, default="words:0"
        ``"sentence"`` or ``{"words": N, "stride": S}`` (also ``"words:N[:S]"``) for text items
        (:func:`neuroalign.models.text.parse_context`).
    pooling : {"last", "mean", "first"}, default="last"
        Sub-token pooling per item (``first`` is the CLS token of an image).
    tower : {"text", "vision"}, default="text"
        Which stack to read; ``vision`` feeds images to a vision tower. Text tower plus images
        gives image+text prompts (LLaVA-style).
    batch_size : int, default=32
        Inputs per batch (halved on out-of-memory).
    devices : sequence of str, optional
        Devices to shard inputs over; the model must be on the first. Default: the device of
        the model's first parameter (which also covers accelerate's device_map).
    n_lags : int, default=16
        Lags kept by ``attn_pattern``.
    chunk_bytes : int, default=256 MiB
        Host memory of one chunk of results; bounds memory whatever the corpus size.
    compile : bool, "auto" or str, default=False
        Run each block through ``torch.compile`` (``True``: the inductor backend; a string
        names another backend), fusing its elementwise kernels; their GPT-2-style MLPs also
        compute the GELU in the first projection's product (:mod:`neuroalign.models.fused`).
        Blocks with hooks inside them stay eager (:mod:`neuroalign.models.compiled`). Pays off
        on GPUs for corpora of many batches: each new input shape costs a compilation at first.
        ``"auto"`` compiles with inductor when the run's forward work is past the measured
        break-even point (:func:`neuroalign.models.autocompile.should_compile`); what was
        chosen is :attr:`compiled`.
    storage_dtype : {"float32", "float16", "bfloat16"}, default="float32"
        Precision of the results: pooled rows are cast on the device before the copy to the
        host, so 16-bit results halve the copies, the host memory and the bytes written.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor: Any,
        *,
        units: str | Sequence[str] = "resid",
        layers: str | Sequence[int] = "all",
        context: str | Mapping[str, int] | ContextPolicy = "words:0",
        pooling: str = "last",
        tower: str = "text",
        batch_size: int = 32,
        devices: Sequence[str] | None = None,
        n_lags: int = 16,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        compile: bool | str = False,
        storage_dtype: str = "float32",
    ) -> None:
        self.units = unit_spaces.parse_units(units)
        self.pooling = check_option("pooling", pooling, POOLINGS)
        self.context = parse_context(context)
        self.batch_size = int(check_range("batch_size", batch_size, 1))
        self.n_lags = int(check_range("n_lags", n_lags, 1))
        self.chunk_bytes = int(check_range("chunk_bytes", chunk_bytes, 1))
        self.compile = "inductor" if compile is True else (compile or None)
        #: The backend the last run compiled with (None: eager).
        self.compiled: str | None = None
        host_numpy_dtype(storage_dtype)  # checks the name
        self.storage_dtype = storage_dtype
        self.arch: Architecture = discover(model, tower)
        self._position_offset = position_offset(model)
        self.layers = unit_spaces.parse_layers(layers, self.arch.n_layers)
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.model = model
        self._plan_hooks()
        first = next(model.parameters()).device
        self.devices = [torch.device(d) for d in devices] if devices else [first]
        if self.devices[0] != first:
            raise NeuroalignError(
                f"the model is on {first} but devices starts with {self.devices[0]}; move the "
                "model there first"
            )

    # -- what is hooked ------------------------------------------------------------------
    def _plan_hooks(self) -> None:
        arch = self.arch
        self.consumers: dict[str, list[tuple[str, int]]] = {}
        for space in self.units:
            layers = [0] if space in unit_spaces.UNLAYERED else self.layers
            for pos, layer in enumerate(layers):
                addr = unit_spaces.address(arch, space, layer)
                self.consumers.setdefault(addr, []).append((space, pos))
        layered = [u for u in self.units if u not in unit_spaces.UNLAYERED]
        if "embeds" in self.units:
            # The projection runs after the last block: the whole tower runs.
            self.stop_after = unit_spaces.address(arch, "embeds", 0)
        elif layered:
            self.stop_after = f"{arch.blocks[max(self.layers)].path}:output"
        else:
            self.stop_after = f"{arch.blocks[0].path}:input"
        self.consumers.setdefault(self.stop_after, [])

    def n_units(self, space: str) -> int:
        """Number of units of ``space`` for this model."""
        return unit_spaces.n_units(self.arch, space, self.n_lags)

    def item_bytes(self) -> int:
        """Bytes of results per item (in the storage dtype)."""
        size = host_numpy_dtype(self.storage_dtype).itemsize
        total = 0
        for space in self.units:
            n_layers = 1 if space in unit_spaces.UNLAYERED else len(self.layers)
            total += size * n_layers * self.n_units(space)
        return total

    # -- inputs ----------------------------------------------------------------------------
    def mode(self, table: pd.DataFrame, images: Sequence[Any] | None) -> str:
        """``text``, ``image`` (vision tower) or ``prompt`` (image+text).

        A text tower reads an image table's ``image`` column only where the model takes images
        and its processor has an image token (LLaVA-style); a text LM reads the table's
        ``text`` alone (an image table's captions). Images given as an argument are always
        prompts.
        """
        has_images = images is not None or "image" in table.columns
        if self.arch.tower == "vision":
            if not has_images:
                raise NeuroalignError(
                    "the vision tower needs images: add an 'image' column (file paths) to the "
                    "stimulus table"
                )
            return "image"
        if has_images and not self._reads_prompts():
            if images is None:
                return "text"
            raise NeuroalignError(
                f"{type(self.model).__name__} with {type(self.processor).__name__} takes no "
                "images: image+text prompts need an image-text model and its processor "
                "(LLaVA-style); give the table alone to read its text"
            )
        return "prompt" if has_images else "text"

    def _reads_prompts(self) -> bool:
        """Whether the model takes images beside its tokens and the processor makes prompts."""
        params = inspect.signature(self.model.forward).parameters
        return "pixel_values" in params and getattr(self.processor, "image_token", None) is not None

    def inputs(self, table: pd.DataFrame, images: Sequence[Any] | None = None) -> list[Any]:
        """Cut the table into model inputs (before tokenization); one list entry per input."""
        if self.mode(table, images) == "text":
            return build_windows(table, self.context)
        return [np.array([i]) for i in range(len(table))]

    def _max_tokens(self) -> int:
        config = self.model.config
        config = getattr(config, "get_text_config", lambda: config)()
        limits = [getattr(self.tokenizer, "model_max_length", None)]
        limits.append(getattr(config, "max_position_embeddings", None))
        limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 10**7]
        return min(limits) if limits else 2048

    def _prepare(
        self,
        table: pd.DataFrame,
        images: Sequence[Any] | None,
        inputs: list[Any],
        base: Path | None,
    ) -> list[Any]:
        mode = self.mode(table, images)
        rows = np.concatenate(inputs)
        source = images if images is not None else table["image"].to_numpy()
        loaded = [load_image(source[r], base) for r in rows]
        if mode == "image":
            norm = pixel_norm(self.processor, loaded)
            if self._pixel_norm is None:
                self._pixel_norm = norm
            elif norm != self._pixel_norm:
                norm = None  # this chunk through the processor, as float pixels
            return prepare_images(self.processor, loaded, rows, norm)
        texts = table["text"].astype(str).to_numpy()[rows]
        return prepare_prompts(self.processor, loaded, list(texts), rows)

    # -- running ---------------------------------------------------------------------------
    def _replicas(self) -> list[_Replica]:
        needs = ["pixel_values"] if self.arch.tower == "vision" else ["input_ids"]
        if getattr(self, "_mode", "text") == "prompt":
            needs.append("pixel_values")
        within = self.arch.projection if "embeds" in self.units else None
        entry = _entry_module(self.model, self.arch.stack, needs, within=within)
        entry_path = next(n for n, m in self.model.named_modules() if m is entry)
        images_only = self.arch.tower == "vision"
        replicas = [_Replica(self.model, entry_path, self.devices[0], images_only)]
        for device in self.devices[1:]:
            model = copy.deepcopy(self.model).to(device)
            replicas.append(_Replica(model, entry_path, device, images_only))
        for replica in replicas:
            replica.batch_size = BatchSize(self.batch_size)
            replica.maskless = longest_maskless(replica.model, self.arch)
            replica.configs = model_configs(replica.model)
            replica.causal = is_causal(replica.model, self.arch)
            replica.weight_modules = [
                replica.model.get_submodule(parse_address(a)[0])
                for a in self.consumers
                if parse_address(a)[1] == "weights"
            ]
        return replicas

    def _collate(
        self, work: Any, index: np.ndarray, pin: bool = False
    ) -> tuple[dict[str, torch.Tensor], PoolPlan]:
        if self._mode == "image":
            images = [work[i] for i in index]
            return collate_images(images, self._seq_len, self._n_prefix, pin=pin)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id or 0
        side = getattr(self.tokenizer, "padding_side", "right")
        if isinstance(work, TextWork):
            return collate_text(work.take(index), pad_id, side)
        return collate_prompts([work[i] for i in index], pad_id, side)

    def _forward(
        self, replica: _Replica, inputs: dict[str, torch.Tensor], plan: PoolPlan
    ) -> dict[str, torch.Tensor]:
        """Run one batch; return pooled device tensors per space, (n, layers, units)."""
        device = replica.device
        pin = device.type == "cuda"
        index = plan.to(device, pin=pin)
        dtype = next(replica.model.parameters()).dtype
        seq_len = next(iter(inputs.values())).shape[1]
        causal = self._mode == "text" and seq_len <= (replica.maskless or 0)
        inputs = _model_defaults(inputs, causal=causal)
        unmasked = causal and "attention_mask" not in inputs
        if "position_ids" in inputs and self._position_offset:
            inputs = {**inputs, "position_ids": inputs["position_ids"] + self._position_offset}
        feed = _to_device(
            {k: v for k, v in inputs.items() if replica.accepted is None or k in replica.accepted},
            device,
            replica.input_stream,
        )
        if "pixel_values" in feed:
            pixels = feed["pixel_values"]
            if pixels.dtype == torch.uint8:
                # Images at the processor's size: only its normalization, here on the device.
                feed["pixel_values"] = self._pixel_norm(pixels, dtype)
            else:
                feed["pixel_values"] = pixels.to(dtype)
        if replica.accepted is None or "use_cache" in replica.accepted:
            feed["use_cache"] = False
        pooled: dict[tuple[str, int], torch.Tensor] = {}

        def on_activation(address: str, tensor: torch.Tensor) -> None:
            for space, pos in self.consumers[address]:
                if space == "attn_pattern":
                    pooled[space, pos] = pool_attention(tensor, index, self.n_lags)
                elif space == "embeds":
                    # One embedding per image already: the item's row of the batch.
                    batch = torch.div(index["first"], plan.seq_len, rounding_mode="floor")
                    pooled[space, pos] = tensor.index_select(0, batch)
                else:
                    pooled[space, pos] = pool_tokens(tensor, index, self.pooling)

        if replica.attention is None:
            if "attention_mask" in feed:
                problem = "masked"
            else:
                problem = "causal" if replica.causal and self._mode != "image" else "full"
            replica.attention = self._attention_order(replica, inputs, problem)
        if replica.attention:
            kernels = sdpa_kernel(replica.attention, set_priority=True)
        else:
            kernels = contextlib.nullcontext()
        rows = contextlib.nullcontext()
        if replica.rows:
            batch = next(iter(inputs.values())).shape[0]
            wanted = QueryRows.from_flat(plan.last, batch, plan.seq_len).to(device)
            rows = query_rows(replica.weight_modules, wanted)
        with (
            torch.inference_mode(),
            kernels,
            rows,
            maskless(replica.configs) if unmasked else contextlib.nullcontext(),
            capture(replica.model, self.consumers, on_activation, stop_after=self.stop_after),
        ):
            try:
                replica.entry(**feed)
            except StopForward:
                pass
        out = {}
        for space in self.units:
            if space in unit_spaces.UNLAYERED:
                out[space] = pooled[space, 0]
            else:
                out[space] = torch.stack([pooled[space, p] for p in range(len(self.layers))], 1)
        return out

    def _attention_order(
        self, replica: _Replica, inputs: dict[str, torch.Tensor], problem: str = "causal"
    ) -> list:
        """Attention kernels cheapest first on this batch's shape and attention ``problem``
        (:func:`~neuroalign.models.attention.rank_backends`), their set-up on new shapes
        counted, for a model that runs ``scaled_dot_product_attention`` on a device where the
        kernels are timed; else []."""
        config = getattr(replica.model, "config", None)
        if getattr(config, "_attn_implementation", None) not in SDPA_LIKE:
            return []
        if not _ranks_attention(replica.device):
            return []
        batch = next(iter(inputs.values())).shape[0]
        seq_len = inputs["input_ids"].shape[1] if "input_ids" in inputs else self._seq_len
        dtype = next(replica.model.parameters()).dtype
        order = rank_backends(
            batch,
            self.arch.n_heads,
            seq_len,
            self.arch.head_dim,
            dtype=dtype,
            device=replica.device,
            problem=problem,
            new_shapes=replica.new_shapes,
        )
        logger.info("attention kernels, cheapest first: %s", ", ".join(b.name for b in order))
        return order

    def _run_device(self, replica: _Replica, jobs: Iterable[_Job]) -> Iterator[_Job]:
        """Run the jobs' inputs on one device, blocks compiled (and their MLPs' GELU fused,
        :mod:`neuroalign.models.fused`) if asked, patch embeddings as matrix products
        (:mod:`neuroalign.models.patchify`); yield each job once all its batches have reached
        the host."""
        jobs = iter(jobs)
        first = next(jobs, None)
        if first is None:
            return
        self.compiled = self._backend(replica, first)
        blocks = compilable_blocks(self.arch, self.consumers) if self.compiled else []
        with (
            rows_attention(replica.model, bool(replica.weight_modules)) as replica.rows,
            compiled_blocks(replica.model, blocks, self.compiled or "inductor"),
            fused_mlps(replica.model, self.arch, blocks),
            patch_matmuls(replica.model),
        ):
            yield from self._run_batches(replica, itertools.chain([first], jobs))

    def _backend(self, replica: _Replica, first: _Job) -> str | None:
        """The compile backend of this run (None: eager); ``auto`` decides from the first
        chunk's tokens, scaled to the inputs of the run."""
        if self.compile != "auto":
            return self.compile
        lengths = _lengths(first.work)
        tokens = float(lengths.sum()) * self._n_inputs / max(1, len(lengths))
        n_params = sum(p.numel() for p in replica.model.parameters())
        chosen = should_compile(n_params, tokens, replica.device)
        logger.info(
            "compile: auto chose %s (about %.3g tokens x %.3g parameters)",
            "inductor" if chosen else "eager",
            tokens,
            n_params,
        )
        return "inductor" if chosen else None

    def _run_batches(self, replica: _Replica, jobs: Iterable[_Job]) -> Iterator[_Job]:
        """The batch loop over the jobs in order, as one stream: the copy of a batch to pinned
        memory is waited for only after the next batch is launched, also when the next batch
        is the first of the next job, so the device does not idle between chunks. Batches go
        through :func:`~neuroalign.models.batches.iter_batches` (out-of-memory halving)."""
        pending = None
        pin = replica.device.type == "cuda"
        if pin and replica.copy_stream is None:
            replica.copy_stream = torch.cuda.Stream(replica.device)
            replica.input_stream = torch.cuda.Stream(replica.device)
        for job in jobs:
            lengths = _lengths(job.work)
            if replica.attention is None:
                replica.new_shapes = new_shape_share(lengths[job.order], replica.batch_size.size)

            def step(batch: np.ndarray, job: _Job = job) -> tuple[dict, PoolPlan]:
                inputs, plan = self._collate(job.work, batch, pin)
                return self._forward(replica, inputs, plan), plan

            def too_large(batch: np.ndarray, lengths: np.ndarray = lengths) -> str:
                return (
                    f"one input of {lengths[batch[0]]} tokens does not fit in {replica.device} "
                    "memory; use shorter inputs or shard the model (device_map: auto)"
                )

            done = 0
            for batch, (out, plan) in iter_batches(
                job.order,
                step,
                batch_size=replica.batch_size,
                device=replica.device,
                too_large=too_large,
            ):
                host, event = _to_host(out, replica.copy_stream, STORAGE_DTYPES[self.storage_dtype])
                done += len(batch)
                if pending is not None and (finished := _finish(*pending)) is not None:
                    yield finished
                pending = (event, plan, host, job, done == len(job.order))
        if pending is not None and (finished := _finish(*pending)) is not None:
            yield finished

    def iter_chunks(
        self,
        table: pd.DataFrame,
        *,
        images: Sequence[Any] | None = None,
        start_input: int = 0,
        base_dir: Path | None = None,
    ) -> Iterator[Chunk]:
        """Yield chunks of pooled activations in table order, from input ``start_input`` on.

        Parameters
        ----------
        table : DataFrame
            Stimulus table in presentation order (``text``; ``image`` for images).
        images : sequence, optional
            Images (PIL, arrays or paths) aligned with the table's rows.
        start_input : int, default=0
            Skip the inputs before this one (to resume an interrupted run).
        base_dir : Path, optional
            Directory that relative image paths are relative to.
        """
        self._mode = self.mode(table, images)
        self._pixel_norm = None
        per_input = max(1, self.context.stride if self._mode == "text" else 1)
        chunk_inputs = max(1, self.chunk_bytes // (self.item_bytes() * per_input))
        replicas = self._replicas()
        stream = None
        if self._mode == "text":
            stream = TextStream(
                self.tokenizer,
                table,
                self.context,
                self._max_tokens(),
                part_inputs=chunk_inputs,
                start=start_input,
            )
            n_inputs = len(stream)
        else:
            inputs = self.inputs(table, images)
            n_inputs = len(inputs)
        if self._mode == "image":
            self._seq_len, self._n_prefix = self._probe_vision(
                replicas[0], table, images, inputs, base_dir
            )
        starts = list(range(start_input, n_inputs, chunk_inputs))
        self._n_inputs = n_inputs - start_input

        def prepare(first: int) -> _Job:
            stop = min(n_inputs, first + chunk_inputs)
            if stream is not None:
                work = stream.take(first, stop)
            else:
                work = self._prepare(table, images, inputs[first:stop], base_dir)
            return self._job(work, first, stop)

        def jobs() -> Iterator[_Job]:
            # Preparing the next chunk (tokens, images) overlaps with running this one.
            with ThreadPoolExecutor(max_workers=1) as pool:
                upcoming = pool.submit(prepare, starts[0]) if starts else None
                for i in range(len(starts)):
                    job = upcoming.result()
                    if i + 1 < len(starts):
                        upcoming = pool.submit(prepare, starts[i + 1])
                    yield job

        try:
            if len(replicas) == 1:
                for job in self._run_device(replicas[0], jobs()):
                    yield job.chunk
            else:
                for job in jobs():
                    self._run_shards(replicas, job)
                    yield job.chunk
        finally:
            if stream is not None:
                stream.close()

    def _job(self, work: Any, first: int, stop: int) -> _Job:
        """A chunk's inputs, longest first, and its (empty) result; arrays are made in row
        order when first read."""
        if isinstance(work, TextWork):
            rows = np.sort(work.rows)
        else:
            rows = np.sort(np.concatenate([w.rows for w in work]))
        shapes = {
            space: (len(rows),)
            + (() if space in unit_spaces.UNLAYERED else (len(self.layers),))
            + (self.n_units(space),)
            for space in self.units
        }
        n_tokens = np.zeros(len(rows), dtype=np.int32)
        chunk = Chunk(first, stop, rows, n_tokens, [], shapes, self.storage_dtype)
        order = np.argsort(-_lengths(work), kind="stable")
        return _Job(chunk, work, order, threading.Lock())

    def _run_shards(self, replicas: list[_Replica], job: _Job) -> None:
        """Run one job on n devices, every n-th of its inputs (longest first) on each."""
        errors: list[BaseException] = []

        def run(i: int) -> None:
            shard = dataclasses.replace(job, order=job.order[i :: len(replicas)])
            try:
                for _ in self._run_device(replicas[i], [shard]):
                    pass
            except BaseException as err:  # re-raised in the caller's thread
                errors.append(err)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(replicas))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _probe_vision(
        self,
        replica: _Replica,
        table: pd.DataFrame,
        images: Sequence[Any] | None,
        inputs: list[Any],
        base: Path | None,
    ) -> tuple[int, int]:
        """Sequence length and number of tokens before the patches, from one image."""
        work = self._prepare(table, images, inputs[:1], base)
        seen = {}
        address = f"{self.arch.blocks[0].path}:input"
        dtype = next(self.model.parameters()).dtype
        pixels = work[0].pixel_values[None].to(replica.device)
        norm = self._pixel_norm
        feed = {"pixel_values": norm(pixels, dtype) if norm is not None else pixels.to(dtype)}

        def record(address: str, tensor: torch.Tensor) -> None:
            seen["n"] = tensor.shape[1]

        with (
            torch.inference_mode(),
            capture(self.model, [address], record, stop_after=address),
        ):
            try:
                replica.entry(**feed)
            except StopForward:
                pass
        seq_len = int(seen["n"])
        config = getattr(self.model.config, "vision_config", self.model.config)
        patches = n_patches(config, tuple(feed["pixel_values"].shape[-2:]))
        prefix = seq_len - patches if patches and patches <= seq_len else 0
        return seq_len, prefix


def new_shape_share(lengths: np.ndarray, batch_size: int) -> float:
    """Share of the batches of ``lengths`` (in batch order, longest first) whose padded
    length no batch before them had: the batches in a shape an attention kernel has not seen.

    Examples
    --------
    >>> new_shape_share(np.array([9, 9, 7, 7, 5, 5]), 2)
    1.0
    >>> new_shape_share(np.array([9, 9, 9, 9, 8, 8]), 2)
    0.6666666666666666
    """
    padded = np.asarray(lengths)[::batch_size]
    return len(np.unique(padded)) / len(padded) if len(padded) else 0.0


def _lengths(work: Any) -> np.ndarray:
    """Tokens of each input of a chunk's work."""
    if isinstance(work, TextWork):
        return work.n_tokens
    return np.array([len(w) for w in work], dtype=np.int64)


def _to_device(
    inputs: dict[str, torch.Tensor], device: torch.device, stream: torch.cuda.Stream | None
) -> dict[str, torch.Tensor]:
    """Copy a batch's inputs to ``device``.

    On CUDA the copies run from pinned memory on ``stream``, which the current stream then
    waits for: queued while the device still runs the batch before, they overlap its kernels
    instead of running between them. Elsewhere (``stream`` None) they are plain copies.
    """
    if stream is None:
        return {k: v.to(device) for k, v in inputs.items()}
    with torch.cuda.stream(stream):
        moved = {k: v.pin_memory().to(device, non_blocking=True) for k, v in inputs.items()}
    current = torch.cuda.current_stream(device)
    current.wait_stream(stream)
    for value in moved.values():
        value.record_stream(current)  # its memory is not reused before the batch's kernels end
    return moved


def _to_host(
    out: dict[str, torch.Tensor],
    stream: torch.cuda.Stream | None,
    dtype: torch.dtype = torch.float32,
) -> tuple[dict[str, torch.Tensor], torch.cuda.Event | None]:
    """Start copying pooled device tensors to pinned host memory as ``dtype``.

    On CUDA the copies run on ``stream``, after the work queued so far on the current stream,
    so the next batch's kernels do not wait for them; the returned event marks their end.
    Elsewhere the copies are done on return and the event is None.
    """
    if stream is None:
        return {space: tensor.to(dtype) for space, tensor in out.items()}, None
    # Cast on the device (on the compute stream): the host only places rows.
    values = {space: tensor.to(dtype) for space, tensor in out.items()}
    ready = torch.cuda.Event()
    ready.record()
    host = {}
    with torch.cuda.stream(stream):
        stream.wait_event(ready)
        for space, value in values.items():
            host[space] = torch.empty(value.shape, dtype=dtype, pin_memory=True)
            host[space].copy_(value, non_blocking=True)
            value.record_stream(stream)  # its memory is not reused before the copy ends
        done = torch.cuda.Event()
        done.record(stream)
    return host, done


def _finish(event: Any, plan: PoolPlan, host: dict, job: _Job, last: bool) -> _Job | None:
    """Wait for a batch's copy to the host and hand it to its job; the job if it is done."""
    if event is not None:
        event.synchronize()
    job.deliver(plan, host)
    return job if last else None


class BackgroundWriter:
    """Run ``sink(chunk)`` on a thread, one chunk behind the producer; errors re-raise.

    Use as a context manager; leaving the block waits for the last write.
    """

    def __init__(self, sink: Callable[[Chunk], None], depth: int = 1) -> None:
        self._sink = sink
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._sink(chunk)
                except BaseException as err:  # re-raised in put() or close()
                    self._error = err

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def put(self, chunk: Chunk) -> None:
        """Queue a chunk (blocks while the previous one is still being written)."""
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def __exit__(self, *exc: Any) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error
