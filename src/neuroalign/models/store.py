"""Activation stores: one Zarr store per (model, stimulus set), written as a stream.

The store is an xarray Dataset with dims ``item``, ``layer`` and one unit dim per unit space
(``resid`` is (item, layer, resid_unit)), item coordinates copied from the stimulus table, layer
names, and provenance attrs. It is written under ``<path>.partial`` chunk by chunk; after each
chunk is on disk, ``progress.json`` in it records how many inputs are done, so a killed run
resumes there. Only a finished store is renamed to ``<path>``, marked complete by
:func:`neuroalign.results.mark_complete`; open it with :func:`neuroalign.results.open_activations`,
which refuses a store without the flag.

Results are stored in the extractor's storage dtype: float32 (default), float16, or bfloat16,
which Zarr has no type for and which is stored as its raw 16 bits (``uint16``, attribute
``storage_dtype: bfloat16``); :func:`~neuroalign.results.open_activations` gives float32 back
for every dtype. A chunk's arrays are written by several threads at once, one (unit space,
layer) block each, so the copies and file writes of a chunk overlap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._io import naming, write_json_atomic
from neuroalign.models import units as unit_spaces
from neuroalign.models.extract import (
    BackgroundWriter,
    Chunk,
    Extractor,
    host_numpy_dtype,
)
from neuroalign.results import (
    BFLOAT16_NAN_BITS,
    COMPLETE,
    bfloat16_to_float32,
    check_replaceable,
    is_activation_store,
    mark_complete,
)

logger = logging.getLogger(__name__)

PROGRESS = "progress.json"
_TARGET_CHUNK_BYTES = 4 * 2**20
#: Threads writing one chunk's (unit space, layer) blocks.
WRITERS = min(8, os.cpu_count() or 1)


def _item_coords(table: pd.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """Every table column as a coordinate along ``item`` (strings as str, missing as "")."""
    coords = {}
    for name in table.columns:
        if name == "image" and table[name].map(lambda v: not isinstance(v, str)).any():
            continue
        values = table[name]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            values = values.fillna("").astype(str).to_numpy(dtype=object)
        else:
            values = values.to_numpy()
        coords[str(name)] = ("item", values)
    if "item" not in coords:
        coords["item"] = ("item", np.arange(len(table)))
    return coords


def layout(extractor: Extractor, table: pd.DataFrame) -> xr.Dataset:
    """Return the store's coordinates (no data) as an empty-variable Dataset.

    Returns
    -------
    coords : Dataset
        Coordinates along ``item`` (table columns), ``layer`` (block index, ``layer_name``)
        and each ``<space>_unit`` dim (``<space>_head`` and the like where they apply).
    """
    arch = extractor.arch
    coords: dict[str, Any] = _item_coords(table)
    coords["layer"] = ("layer", np.array(extractor.layers))
    coords["layer_name"] = (
        "layer",
        np.array([arch.blocks[i].path for i in extractor.layers], dtype=object),
    )
    for space in extractor.units:
        dim = f"{space}_unit"
        coords[dim] = (dim, np.arange(extractor.n_units(space)))
        for name, values in unit_spaces.unit_coords(arch, space, extractor.n_lags).items():
            coords[f"{space}_{name}"] = (dim, values)
    return xr.Dataset(coords=coords)


def _dims(space: str) -> tuple[str, ...]:
    return (
        ("item", f"{space}_unit")
        if space in unit_spaces.UNLAYERED
        else ("item", "layer", f"{space}_unit")
    )


def _fingerprint(attrs: dict[str, str]) -> str:
    keys = ("config_hash", "stimulus_sha256", "model")
    return json.dumps({k: attrs.get(k) for k in keys}, sort_keys=True)


def _create(path: Path, extractor: Extractor, table: pd.DataFrame, attrs: dict[str, str]) -> None:
    import zarr

    base = layout(extractor, table)
    base.attrs.update(attrs)
    base.attrs[COMPLETE] = "false"
    base.to_zarr(path, mode="w", consolidated=False)
    group = zarr.open_group(path, mode="r+")
    n_items = len(table)
    storage = extractor.storage_dtype
    dtype = host_numpy_dtype(storage)
    for space in extractor.units:
        n_units = extractor.n_units(space)
        item_chunk = max(1, min(n_items, _TARGET_CHUNK_BYTES // (dtype.itemsize * n_units)))
        shape = (
            (n_items, n_units)
            if space in unit_spaces.UNLAYERED
            else (n_items, len(extractor.layers), n_units)
        )
        chunks = (
            (item_chunk, n_units) if space in unit_spaces.UNLAYERED else (item_chunk, 1, n_units)
        )
        group.create_array(
            space,
            shape=shape,
            chunks=chunks,
            dtype=dtype,
            fill_value=BFLOAT16_NAN_BITS if storage == "bfloat16" else np.nan,
            # Activations barely compress; writing raw keeps the writer ahead of the GPU.
            compressors=None,
            config={"write_empty_chunks": True},
            dimension_names=_dims(space),
            attributes={
                "pooling": extractor.pooling,
                "unit_space": space,
                "storage_dtype": storage,
            },
        )
    group.create_array(
        "n_tokens",
        shape=(n_items,),
        chunks=(max(1, min(n_items, 2**16)),),
        dtype="int32",
        fill_value=-1,
        dimension_names=("item",),
        attributes={"description": "tokens pooled for each item"},
    )


def _write_chunk(path: Path, fingerprint: str, chunk: Chunk, pool: ThreadPoolExecutor) -> None:
    import zarr

    group = zarr.open_group(path, mode="r+")
    rows = chunk.rows
    contiguous = len(rows) and rows[-1] - rows[0] + 1 == len(rows)
    blocks = []
    for name, values in [*chunk.arrays.items(), ("n_tokens", chunk.n_tokens)]:
        layered = values.ndim == 3
        for layer in range(values.shape[1]) if layered else [None]:
            blocks.append((group[name], values, layer))

    def write(block: tuple[Any, np.ndarray, int | None]) -> None:
        array, values, layer = block
        part = values if layer is None else values[:, layer]
        if contiguous:
            at = slice(int(rows[0]), int(rows[-1]) + 1)
            array[(at,) if layer is None else (at, layer)] = part
        else:
            array.oindex[(rows,) if layer is None else (rows, layer)] = part

    list(pool.map(write, blocks))
    # Written after the arrays: a crash before this line redoes the chunk, never skips it.
    write_json_atomic(
        path / PROGRESS, {"fingerprint": fingerprint, "inputs_done": chunk.stop_input}
    )


def check_store_output(path: str | Path) -> None:
    """Refuse an output store path whose folder (or ``.partial``) is not an activation store.

    The store and its ``<path>.partial`` are replaced when they exist; anything else found there
    (a user's folder passed as ``--output``) is left alone.

    Raises
    ------
    NeuroalignError
        If either folder exists, is not empty and is not a store this project wrote.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    check_replaceable(path, owned=is_activation_store, flag="--output", what="activation store")
    check_replaceable(
        partial,
        owned=lambda p: is_activation_store(p) or (p / PROGRESS).is_file(),
        flag="--output",
        what="partial activation store",
    )


def extract_to_zarr(
    extractor: Extractor,
    table: pd.DataFrame,
    path: str | Path,
    *,
    attrs: dict[str, str],
    images: Any = None,
    base_dir: Path | None = None,
) -> Path:
    """Extract activations for ``table`` into a Zarr store at ``path``, resuming if possible.

    Parameters
    ----------
    extractor : Extractor
        The configured engine.
    table : DataFrame
        Stimulus table in presentation order.
    path : str or Path
        The store to write (``.zarr``). Work in progress lives in ``<path>.partial``.
    attrs : dict of str to str
        Provenance attrs; ``config_hash``, ``stimulus_sha256`` and ``model`` decide whether a
        partial store can be resumed (same values) or is started again.
    images : sequence, optional
        Images aligned with the rows (else the ``image`` column is read).
    base_dir : Path, optional
        Directory that relative image paths are relative to.

    Returns
    -------
    path : Path
        The finished store.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    check_store_output(path)
    fingerprint = _fingerprint(attrs)
    start = 0
    progress = partial / PROGRESS
    if progress.is_file() and json.loads(progress.read_text())["fingerprint"] == fingerprint:
        start = json.loads(progress.read_text())["inputs_done"]
        logger.info("resuming %s at input %d", partial, start)
    else:
        if partial.exists():
            shutil.rmtree(partial)
        _create(partial, extractor, table, attrs)
        write_json_atomic(progress, {"fingerprint": fingerprint, "inputs_done": 0})
    with (
        naming(partial),
        ThreadPoolExecutor(max_workers=WRITERS) as pool,
        BackgroundWriter(lambda chunk: _write_chunk(partial, fingerprint, chunk, pool)) as writer,
    ):
        for chunk in extractor.iter_chunks(
            table, images=images, start_input=start, base_dir=base_dir
        ):
            writer.put(chunk)
    _record_compiled(partial, extractor)
    mark_complete(partial)
    progress.unlink()
    if path.exists():
        shutil.rmtree(path)
    partial.rename(path)
    return path


def _record_compiled(path: Path, extractor: Extractor) -> None:
    """Record in the store's attrs whether the blocks ran compiled (``compile: auto``
    decides during the run)."""
    import zarr

    zarr.open_group(path, mode="r+").attrs["compiled"] = int(extractor.compiled is not None)


def extract_dataset(
    extractor: Extractor, table: pd.DataFrame, *, images: Any = None, base_dir: Path | None = None
) -> xr.Dataset:
    """Extract activations for ``table`` into memory (for small stimulus sets).

    Returns
    -------
    ds : Dataset
        The same layout as a store, without provenance attrs.
    """
    ds = layout(extractor, table)
    shapes = {
        space: (len(table), extractor.n_units(space))
        if space in unit_spaces.UNLAYERED
        else (len(table), len(extractor.layers), extractor.n_units(space))
        for space in extractor.units
    }
    # Every row is the target of exactly one input, so every row gets written; the pages are
    # touched by the writer thread as results arrive, not all at once before the run.
    dtype = host_numpy_dtype(extractor.storage_dtype)
    data = {space: np.empty(shape, dtype=dtype) for space, shape in shapes.items()}
    n_tokens = np.full(len(table), -1, dtype=np.int32)

    def sink(chunk: Chunk) -> None:
        chunk.scatter(data)
        n_tokens[chunk.rows] = chunk.n_tokens

    # Chunks are converted and copied on a thread while the next one runs.
    with BackgroundWriter(sink) as writer:
        for chunk in extractor.iter_chunks(table, images=images, base_dir=base_dir):
            writer.put(chunk)
    for space, values in data.items():
        if extractor.storage_dtype == "bfloat16":
            values = bfloat16_to_float32(values)
        values = values.astype(np.float32, copy=False)
        ds[space] = (_dims(space), values, {"pooling": extractor.pooling, "unit_space": space})
    ds["n_tokens"] = ("item", n_tokens)
    return ds
