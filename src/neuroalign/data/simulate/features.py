"""Word features that drive the simulated brains and readers.

Without a model, each word gets a hashed random embedding (seeded by a stable hash of its
lookup form), its length, a frequency proxy and a bigram surprisal, all computed from the
bundled story, so the numbers never depend on the machine or the Python hash seed. With a
feature table (a model's activations per word), its columns replace the hashed embedding.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError, check_file, suggest
from neuroalign.data.simulate.story import word_key
from neuroalign.results import load_netcdf, open_activations

BOS = "<s>"


@dataclass(frozen=True)
class FeatureTable:
    """Numeric features per item (word), read from a file.

    Attributes
    ----------
    text : ndarray of str, shape (n_items,)
        Lookup form of each item's word (see :func:`~neuroalign.data.simulate.story.word_key`).
    values : ndarray of float, shape (n_items, n_units)
        The features.
    surprisal : ndarray of float, shape (n_items,), or None
        A ``surprisal`` column of the file, when it has one.
    source : str
        The file it came from.
    """

    text: np.ndarray
    values: np.ndarray
    surprisal: np.ndarray | None
    source: str


def read_feature_table(
    path: str | Path, *, variable: str | None = None, layer: int | None = None
) -> FeatureTable:
    """Read a feature table: CSV/Parquet with a ``text`` column, netCDF (item, unit), or a store.

    Tabular files: every numeric column except ``surprisal`` and the index-like columns
    ``onset``, ``duration``, ``item``, ``word_index``, ``sentence``, ``run`` is a feature. xarray
    files: the one data variable with dims ``(item, unit)`` (or the only data variable), with a
    ``text`` coordinate along ``item`` and optionally a ``surprisal`` coordinate. An activation
    store (a Zarr folder written by ``neuroalign extract``, variables with dims
    ``(item, layer, <space>_unit)``) is opened through `neuroalign.results.open_activations`,
    which refuses an unfinished store, and read by naming the unit space (``variable``) and the
    ``layer``.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.tsv``, ``.parquet``, ``.nc`` or ``.zarr``.
    variable : str, optional
        Data variable of an xarray file (e.g. ``"resid"`` in an activation store).
    layer : int, optional
        Layer to take from a variable with a ``layer`` dim; negative values count from the end
        of the store's layers (``-1`` is the last).

    Returns
    -------
    table : FeatureTable
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".zarr":
        return _from_xarray(open_activations(path), path, variable, layer)
    check_file(path, "feature table")
    if suffix in (".csv", ".tsv"):
        from neuroalign.data.readers._tables import read_delimited

        return _from_frame(read_delimited(path, "feature table", words=("text",)), path)
    if suffix == ".parquet":
        return _from_frame(pd.read_parquet(path), path)
    if suffix == ".nc":
        return _from_xarray(load_netcdf(path, "feature table"), path, variable, layer)
    raise NeuroalignError(
        f"{path}: unknown feature table format {suffix!r}; use .csv, .tsv, .parquet, .nc or .zarr."
    )


_NOT_FEATURES = {"surprisal", "onset", "duration", "item", "word_index", "sentence", "run"}


def _from_frame(frame: pd.DataFrame, path: Path) -> FeatureTable:
    if "text" not in frame.columns:
        raise NeuroalignError(f"{path}: no 'text' column; add one with each row's word.")
    numeric = [
        c
        for c in frame.columns
        if c not in _NOT_FEATURES and c != "text" and pd.api.types.is_numeric_dtype(frame[c])
    ]
    if not numeric:
        raise NeuroalignError(f"{path}: no numeric feature columns besides 'text'.")
    surprisal = frame["surprisal"].to_numpy(float) if "surprisal" in frame.columns else None
    return FeatureTable(
        text=np.array([word_key(str(t)) for t in frame["text"]]),
        values=frame[numeric].to_numpy(float),
        surprisal=surprisal,
        source=str(path),
    )


def _from_xarray(
    opened: xr.Dataset, path: Path, variable: str | None, layer: int | None
) -> FeatureTable:
    with opened as ds:
        if variable is not None:
            if variable not in ds.data_vars:
                raise NeuroalignError(
                    f"{path}: no variable {variable!r}; it has {sorted(ds.data_vars)}."
                    f"{suggest(variable, ds.data_vars)}"
                )
            var = ds[variable]
            if "layer" in var.dims:
                layers = var.coords["layer"].values.tolist()
                if layer is not None and -len(layers) <= layer < 0:
                    layer = layers[layer]
                if layer is None or layer not in layers:
                    raise NeuroalignError(
                        f"{path}: {variable!r} has layers {layers}; pick one with the layer "
                        "setting (negative counts from the end)."
                    )
                var = var.sel(layer=layer, drop=True)
            unit_dims = [d for d in var.dims if d != "item"]
            if len(unit_dims) != 1:
                raise NeuroalignError(
                    f"{path}: {variable!r} has dims {var.dims}; expected one unit dim."
                )
            ds = var.rename({unit_dims[0]: "unit"}).to_dataset(name=variable)
        names = [n for n, v in ds.data_vars.items() if set(v.dims) == {"item", "unit"}]
        if len(names) != 1:
            names = list(ds.data_vars) if len(ds.data_vars) == 1 else names
        if len(names) != 1:
            raise NeuroalignError(
                f"{path}: expected one data variable with dims (item, unit), found "
                f"{ {n: v.dims for n, v in ds.data_vars.items()} }; select a layer first."
            )
        var = ds[names[0]]
        if set(var.dims) != {"item", "unit"}:
            raise NeuroalignError(
                f"{path}: variable {names[0]!r} has dims {var.dims}; expected (item, unit). "
                "Select one layer (e.g. ds.sel(layer=...)) before simulating."
            )
        if "text" not in var.coords:
            raise NeuroalignError(f"{path}: no 'text' coordinate along 'item'; add the words.")
        values = var.transpose("item", "unit").to_numpy().astype(float)
        surprisal = (
            var.coords["surprisal"].to_numpy().astype(float) if "surprisal" in var.coords else None
        )
        text = np.array([word_key(str(t)) for t in var.coords["text"].to_numpy()])
    return FeatureTable(text=text, values=values, surprisal=surprisal, source=str(path))


def lookup(table: FeatureTable, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the table's features (and surprisal) for a sequence of words.

    If the table lists exactly these words in this order, rows are taken one to one (features
    of words in context). Otherwise each word gets the mean of the rows with its lookup form.

    Parameters
    ----------
    table : FeatureTable
    texts : sequence of str
        Lookup forms of the words, in order.

    Returns
    -------
    values : ndarray, shape (n_words, n_units)
    surprisal : ndarray, shape (n_words,), or None

    Raises
    ------
    NeuroalignError
        If some words are not in the table.
    """
    texts = np.asarray(texts)
    if table.text.shape == texts.shape and np.array_equal(table.text, texts):
        return table.values, table.surprisal
    keys, inverse = np.unique(table.text, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(keys)).astype(float)
    means = np.zeros((len(keys), table.values.shape[1]))
    np.add.at(means, inverse, table.values)
    means /= counts[:, None]
    position = np.searchsorted(keys, texts)
    position = np.clip(position, 0, len(keys) - 1)
    missing = sorted(set(texts[keys[position] != texts].tolist()))
    if missing:
        raise NeuroalignError(
            f"{table.source}: {len(missing)} story words have no row, e.g. {missing[:5]}; "
            "extract features for the simulation's stimulus table."
        )
    surprisal = None
    if table.surprisal is not None:
        s = np.zeros(len(keys))
        np.add.at(s, inverse, table.surprisal)
        surprisal = (s / counts)[position]
    return means[position], surprisal


def hashed_embedding(texts: Sequence[str], dim: int) -> np.ndarray:
    """Return a deterministic random embedding per word.

    Parameters
    ----------
    texts : sequence of str
        Lookup forms of the words.
    dim : int
        Embedding size.

    Returns
    -------
    embedding : ndarray, shape (n_words, dim)
        Standard normal values seeded by the sha256 of each word (same word, same row).
    """
    cache: dict[str, np.ndarray] = {}
    rows = []
    for text in texts:
        if text not in cache:
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
            cache[text] = np.random.default_rng(seed).standard_normal(dim)
        rows.append(cache[text])
    return np.array(rows).reshape(len(rows), dim)


def frequency_proxy(texts: Sequence[str], corpus: Sequence[str]) -> np.ndarray:
    """Return -log2 of each word's add-one unigram probability in ``corpus`` (bits).

    Same scale and sign as ``wordfreq_frequency`` in eye-tracking reports: rare words are high.
    """
    counts = Counter(corpus)
    total = len(corpus) + len(counts) + 1
    return np.array([-np.log2((counts.get(t, 0) + 1) / total) for t in texts])


def bigram_surprisal(sequences: Sequence[Sequence[str]], strength: float = 2.0) -> list[np.ndarray]:
    """Return each word's surprisal (bits) under a bigram model fit on the sequences.

    The bigram estimate is interpolated with the add-one unigram, with weight
    ``c(prev) / (c(prev) + strength)`` on the bigram (Witten-Bell style); each sequence
    starts after a begin-of-sequence token.

    Parameters
    ----------
    sequences : sequence of sequence of str
        Word lookup forms, one sequence per chapter.
    strength : float
        Pseudo-count pulling rare contexts toward the unigram.

    Returns
    -------
    surprisal : list of ndarray
        One array per sequence, one value per word.
    """
    unigram = Counter(w for seq in sequences for w in seq)
    total = sum(unigram.values()) + len(unigram) + 1
    pairs = Counter((a, b) for seq in sequences for a, b in zip([BOS, *seq[:-1]], seq, strict=True))
    context = Counter(a for seq in sequences for a in [BOS, *seq[:-1]])
    out = []
    for seq in sequences:
        values = []
        for prev, word in zip([BOS, *seq[:-1]], seq, strict=True):
            p_uni = (unigram[word] + 1) / total
            lam = context[prev] / (context[prev] + strength)
            p = lam * pairs[(prev, word)] / context[prev] + (1 - lam) * p_uni
            values.append(-np.log2(p))
        out.append(np.array(values))
    return out


def reduce_dim(values: np.ndarray, n_components: int) -> np.ndarray:
    """Return the first principal-component scores (signs fixed so results are reproducible).

    Parameters
    ----------
    values : ndarray, shape (n_words, n_units)
    n_components : int
        Kept components; when ``n_units <= n_components`` the centered values are returned.

    Returns
    -------
    scores : ndarray, shape (n_words, min(n_units, n_components))
    """
    centered = values - values.mean(axis=0)
    if centered.shape[1] <= n_components:
        return centered
    u, s, vt = np.linalg.svd(centered, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    return (u[:, :n_components] * s[:n_components]) * signs[:n_components]


def story_features(
    words: Mapping[str, pd.DataFrame],
    *,
    dim: int = 16,
    table: FeatureTable | None = None,
) -> dict[str, pd.DataFrame]:
    """Return the features of every word of every chapter.

    Parameters
    ----------
    words : mapping of str to DataFrame
        Chapter id -> :func:`~neuroalign.data.simulate.story.tokenize` output (needs ``text``
        and ``word``). Frequency and surprisal are fit on all chapters given.
    dim : int
        Size of the embedding part (hashed embedding size, or principal components kept from
        the table's features).
    table : FeatureTable, optional
        External features per word; replace the hashed embedding (and the bigram surprisal
        if the table has a ``surprisal`` column).

    Returns
    -------
    features : dict of str to DataFrame
        Per chapter, one row per word with columns ``emb_00`` ... (embedding), ``length``
        (letters without punctuation), ``frequency`` (-log2 unigram probability, bits) and
        ``surprisal`` (bits).
    """
    names = list(words)
    sequences = [words[n]["text"].tolist() for n in names]
    corpus = [w for seq in sequences for w in seq]
    surprisal = dict(zip(names, bigram_surprisal(sequences), strict=True))
    if table is None:
        embedding = hashed_embedding(corpus, dim)
    else:
        values, table_surprisal = lookup(table, corpus)
        embedding = reduce_dim(values, dim)
        if table_surprisal is not None:
            bounds = np.cumsum([0, *(len(s) for s in sequences)])
            pieces = zip(names, bounds[:-1], bounds[1:], strict=True)
            surprisal = {n: table_surprisal[a:b] for n, a, b in pieces}
    columns = [f"emb_{i:02d}" for i in range(embedding.shape[1])]
    out = {}
    start = 0
    for name, seq in zip(names, sequences, strict=True):
        stop = start + len(seq)
        frame = pd.DataFrame(embedding[start:stop], columns=columns)
        frame["length"] = [len(t) for t in seq]
        frame["frequency"] = frequency_proxy(seq, corpus)
        frame["surprisal"] = surprisal[name]
        out[name] = frame
        start = stop
    return out
