"""Activations for encoding: the layers of a store, and its items matched to the stimuli."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.results import open_activations

__all__ = ["align_items", "pick_layers", "read_activations", "store_info"]


def _open(path: Path) -> xr.Dataset:
    ds = open_activations(path)
    # Zarr 3 reads text back as NumPy's variable-width StringDType; plain objects behave like
    # the stimulus table's strings everywhere downstream.
    return ds.assign_coords(
        {name: coord.astype(object) for name, coord in ds.coords.items() if coord.dtype.kind == "T"}
    )


def pick_layers(spec: str | Sequence[int], labels: Sequence[int], where: str) -> list[int]:
    """Return the layer labels a ``layers`` setting selects from a store's ``labels``.

    Parameters
    ----------
    spec : "all" or sequence of int
        ``"all"``, or block indices as the store labels them; a negative index counts from the
        end of the store's layers (``-1`` is the last one extracted).
    labels : sequence of int
        The store's ``layer`` coordinate.
    where : str
        The store, named in error messages.

    Returns
    -------
    layers : list of int
        Labels in the given order, without repeats.

    Raises
    ------
    NeuroalignError
        If a layer is not in the store.

    Examples
    --------
    >>> pick_layers([0, -1], [0, 2, 5], "store")
    [0, 5]
    """
    labels = [int(v) for v in labels]
    if isinstance(spec, str):
        if spec != "all":
            raise NeuroalignError(f"layers: {spec!r} is not 'all'; give 'all' or a list of ints.")
        return labels
    out: list[int] = []
    for index in spec:
        index = int(index)
        if -len(labels) <= index < 0:
            index = labels[index]
        if index not in labels:
            raise NeuroalignError(
                f"{where}: layer {index} is not in the store (it has layers {labels}); pick "
                f"among them, or -1 to -{len(labels)} from the end."
            )
        if index not in out:
            out.append(index)
    return out


def read_activations(
    path: str | Path, variable: str | None = None, layers: str | Sequence[int] = "all"
) -> dict[Any, xr.DataArray]:
    """Return ``{layer: DataArray (item, unit)}`` from an activation store.

    Parameters
    ----------
    path : str or Path
        A finished activation store (Zarr folder or netCDF file) with dims (item, [layer,]
        unit) and item coordinates such as ``text`` and ``story``.
    variable : str, optional
        The unit space (a data variable); None: the only one.
    layers : "all" or sequence of int
        Layers to read (see `pick_layers`). A unit space without a layer dim is one entry,
        ``"all"``.

    Raises
    ------
    NeuroalignError
        If the store is missing, incomplete or unreadable, or lacks the unit space or a layer.
    """
    path = Path(path)
    ds = _open(path)
    candidates = [v for v in ds.data_vars if "item" in ds[v].dims and ds[v].ndim >= 2]
    if variable is None:
        if len(candidates) != 1:
            raise NeuroalignError(f"{path}: pick a unit space with variable (one of {candidates}).")
        variable = candidates[0]
    if variable not in candidates:
        raise NeuroalignError(
            f"{path}: no unit space {variable!r}; it has {candidates}. Set variable to one of them."
        )
    da = ds[variable]
    if "layer" not in da.dims:
        return {"all": da.load()}
    wanted = pick_layers(layers, da["layer"].values, str(path))
    return {k: da.sel(layer=k).load() for k in wanted}


def store_info(path: str | Path) -> tuple[dict[str, Any], np.ndarray | None]:
    """The activation store's attrs and its tokens per item (None if it has none)."""
    with _open(Path(path)) as ds:
        tokens = ds["n_tokens"].values if "n_tokens" in ds else None
        return dict(ds.attrs), tokens


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", str(word)).lower()


def align_items(da: xr.DataArray, words: list[str], story: str | None, where: str) -> np.ndarray:
    """Return the row indices of ``da``'s items for ``words`` (same order, same text).

    Parameters
    ----------
    da : DataArray
        Activations with an ``item`` dim (and ``story``, ``text`` coordinates when known).
    words : list of str
        The stimuli in presentation order.
    story : str, optional
        Restrict to the items of this story when the store has several.
    where : str
        The stimulus file, named in error messages.

    Raises
    ------
    NeuroalignError
        If the counts differ or a word's text differs from its item's (punctuation and case
        aside).
    """
    index = np.arange(da.sizes["item"])
    if story is not None and "story" in da.coords:
        stories = da["story"].values.astype(str)
        if story in set(stories):
            index = index[stories == story]
    if index.size != len(words):
        raise NeuroalignError(
            f"{where}: {len(words)} words but the activations have {index.size} items for "
            f"story {story!r}. Extract activations for this dataset's stimulus table."
        )
    if "text" in da.coords:
        text = da["text"].values.astype(str)[index]
        bad = [k for k, (a, b) in enumerate(zip(text, words, strict=True)) if _norm(a) != _norm(b)]
        if bad:
            k = bad[0]
            raise NeuroalignError(
                f"{where}: word {k} is {words[k]!r} but activation item is {text[k]!r} "
                f"({len(bad)} mismatches). Use the stimulus table made from this dataset."
            )
    return index
