"""The results I/O edge: every netCDF result and activation store is written and opened here.

Two formats, one engine each, and one completeness rule:

- **netCDF results** (small: fits, scores, truths) are written with the ``h5netcdf`` engine through
  a temporary file renamed into place (`write_netcdf`), so a file at its final path is complete;
  `load_netcdf` reads one into memory and closes it.
- **Activation stores** (large: Zarr, written as a stream) carry ``complete = "true"`` in their
  attrs only once every chunk is on disk. A store whose flag is missing or anything but
  ``"true"`` is incomplete, and `open_activations` refuses it, whichever format it is in.
  Stores hold float32, float16 or bfloat16 (as raw 16 bits, which Zarr has no type for);
  `open_activations` gives float32 for all three, lazily.

This module imports xarray and zarr only (no torch), so the report can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path

__all__ = [
    "BFLOAT16_NAN_BITS",
    "COMPLETE",
    "ENGINE",
    "bfloat16_to_float32",
    "check_replaceable",
    "is_activation_store",
    "is_complete",
    "load_netcdf",
    "mark_complete",
    "open_activations",
    "write_netcdf",
]

#: The engine of every netCDF file the project writes or reads.
ENGINE = "h5netcdf"
#: The attribute that marks a finished activation store.
COMPLETE = "complete"


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file, then rename) and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE)
    return path


def load_netcdf(path: str | Path, what: str = "result") -> xr.Dataset:
    """Read a netCDF result into memory and close the file.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is (``"encoding result"``, ...), named in the error message.

    Raises
    ------
    NeuroalignError
        If the file does not exist or is not a readable netCDF file.
    """
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(f"{what} not found: {path}; run the stage that writes it first.")
    try:
        return xr.load_dataset(path, engine=ENGINE)
    except (OSError, ValueError) as err:
        raise NeuroalignError(f"{path}: not a readable netCDF {what} ({err}).") from err


def check_replaceable(
    path: str | Path, *, owned: Callable[[Path], bool], flag: str, what: str
) -> None:
    """Refuse to replace a folder that is neither empty nor a stage's own earlier output.

    Stages that write a whole folder (a simulated dataset, an activation store) replace it when
    it exists; this guard keeps them from deleting anything else a user points them at.

    Parameters
    ----------
    path : str or Path
        The folder about to be replaced.
    owned : callable
        ``owned(path)`` is true when ``path`` holds this stage's own (complete or partial) output.
    flag : str
        The argument that named the folder (``"--output"``), for the message.
    what : str
        What the stage writes (``"simulated dataset"``), for the message.

    Raises
    ------
    NeuroalignError
        If ``path`` is a file, or a non-empty folder that ``owned`` does not recognise.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir() or path.is_symlink():
        raise NeuroalignError(
            f"{flag} {path}: exists and is not a folder; the output {what} would replace it, "
            "so pick a new path."
        )
    if any(path.iterdir()) and not owned(path):
        raise NeuroalignError(
            f"{flag} {path}: the folder is not empty and holds no earlier {what}; it would be "
            "replaced with everything in it, so pick a new or empty folder."
        )


def is_activation_store(path: str | Path) -> bool:
    """Whether ``path`` is a Zarr store this project wrote (finished or not: it has the flag)."""
    path = Path(path)
    if not ((path / "zarr.json").is_file() or (path / ".zgroup").is_file()):
        return False
    import zarr

    try:
        return COMPLETE in zarr.open_group(path, mode="r").attrs
    except Exception:  # any unreadable folder is simply not ours
        return False


def is_complete(attrs: Mapping[str, Any]) -> bool:
    """Whether a store's attrs mark it finished: ``complete`` present and equal to ``"true"``."""
    return str(attrs.get(COMPLETE, "")).lower() == "true"


def mark_complete(path: str | Path) -> None:
    """Set ``complete = "true"`` on a Zarr store once every chunk is written."""
    import zarr

    zarr.open_group(Path(path), mode="r+").attrs[COMPLETE] = "true"


#: The raw bits of a bfloat16 NaN (the fill value of bfloat16 arrays).
BFLOAT16_NAN_BITS = 0x7FC0


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """float32 values of bfloat16 numbers given as their raw 16 bits (exact: bfloat16 is the
    upper half of float32)."""
    return (np.asarray(bits).astype(np.uint32) << 16).view(np.float32)


class _Float32View(BackendArray):
    """A lazily indexed float32 view of a Zarr array of 16-bit results."""

    def __init__(self, array: Any, storage_dtype: str) -> None:
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(np.float32)
        self.storage_dtype = storage_dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._read
        )

    def _read(self, key: tuple) -> np.ndarray:
        values = self.array.oindex[key]
        if self.storage_dtype == "bfloat16":
            return bfloat16_to_float32(values)
        return np.asarray(values, dtype=np.float32)


def _widen_16_bit(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """Replace the 16-bit variables of a store (float16, bfloat16 bits) by lazy float32 ones."""
    import zarr

    group = None
    for name, var in ds.data_vars.items():
        storage = var.attrs.get("storage_dtype")
        if storage not in ("float16", "bfloat16"):
            continue
        group = group or zarr.open_group(path, mode="r")
        lazy = indexing.LazilyIndexedArray(_Float32View(group[name], storage))
        ds[name] = xr.Variable(var.dims, lazy, var.attrs)
    return ds


def open_activations(path: str | Path) -> xr.Dataset:
    """Open a finished activation store: a Zarr folder (lazily) or a netCDF file.

    Raises
    ------
    NeuroalignError
        If the store is missing, unreadable, or not marked complete (a missing flag is
        incomplete).
    """
    path = Path(path)
    if path.is_dir():
        try:
            ds = _widen_16_bit(xr.open_zarr(path, consolidated=False, mask_and_scale=False), path)
        except (OSError, ValueError, KeyError) as err:
            raise NeuroalignError(f"{path}: not a readable activation store ({err}).") from err
    elif path.is_file():
        ds = load_netcdf(path, "activation store")
    else:
        raise NeuroalignError(f"activation store not found: {path}; run `neuroalign extract`.")
    if not is_complete(ds.attrs):
        ds.close()
        raise NeuroalignError(
            f"activation store {path} is incomplete (no complete = 'true' flag); run the "
            "extraction again."
        )
    return ds
