"""Stimulus tables: the contract between readers and every later stage.

A stimulus table lists what a participant saw or heard, one row per word (or sentence, or
image), in presentation order. It is saved as ``results/stimuli/<stimset>.parquet`` with its
provenance in the parquet schema metadata (key ``b"neuroalign"``).

Columns (in this order; readers may add extra columns after them):

============  ========  =================================================================
column        dtype     meaning
============  ========  =================================================================
stimset       str       name of the stimulus set (the same on every row)
item          int       0..n-1, the row's rank in presentation order
text          str       the word, sentence or image label as presented
onset         float     seconds from the start of its run; NaN when the source has no timing
offset        float     seconds; NaN when unknown
run           str       recording (or block) the row was presented in; "" when not applicable
story         str       the text the row belongs to: rows sharing a story form one
                        continuous text (a model reads them in context); independent
                        stimuli (localizer trials, isolated sentences) get a story each
position      int       0-based position within its story
sentence      int       sentence index within its story, -1 when unknown
condition     str       experimental condition, "" when none
============  ========  =================================================================
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from neuroalign import __version__
from neuroalign._check import NeuroalignError, suggest
from neuroalign._io import atomic_path, provenance, sha256_file
from neuroalign.settings import StageSettings

logger = logging.getLogger(__name__)

METADATA_KEY = b"neuroalign"

COLUMNS: tuple[str, ...] = (
    "stimset",
    "item",
    "text",
    "onset",
    "offset",
    "run",
    "story",
    "position",
    "sentence",
    "condition",
)
_STR_COLUMNS = ("stimset", "text", "run", "story", "condition")
_FLOAT_COLUMNS = ("onset", "offset")
_INT_COLUMNS = ("item", "position", "sentence")
# Value used when a reader leaves an optional column out.
_DEFAULTS: dict[str, Any] = {
    "onset": np.nan,
    "offset": np.nan,
    "run": "",
    "sentence": -1,
    "condition": "",
}
_REQUIRED_FROM_READER = ("text", "story", "position")


def standardize(
    df: pd.DataFrame,
    *,
    stimset: str,
    reader: str,
    sources: Sequence[str | Path] = (),
    options: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Return ``df`` as a valid stimulus table (defaults filled, dtypes set, items numbered).

    Parameters
    ----------
    df : DataFrame
        Rows in presentation order with at least ``text``, ``story`` and ``position``;
        missing optional columns get their defaults (see the module docstring).
    stimset : str
        Name of the stimulus set.
    reader : str
        Name of the reader that made the table (stored in ``attrs``).
    sources : sequence of path
        Files the table was read from (stored in ``attrs``; checksums are added on writing).
    options : mapping, optional
        Reader options (stored in ``attrs``).
    info : mapping, optional
        Reader-specific facts worth keeping (alignment counts, a shift applied, ...).

    Returns
    -------
    table : DataFrame
        The standardized table; ``table.attrs`` holds ``reader``, ``sources``, ``options``
        and ``info``.
    """
    source = f"{reader} reader"
    missing = [c for c in _REQUIRED_FROM_READER if c not in df.columns]
    if missing:
        raise NeuroalignError(f"{source}: stimulus rows lack column(s) {missing}.")
    out = df.reset_index(drop=True).copy()
    for name, default in _DEFAULTS.items():
        if name not in out.columns:
            out[name] = default
    out["stimset"] = stimset
    out["item"] = np.arange(len(out))
    for name in _STR_COLUMNS:
        if name == "text":
            out[name] = out[name].astype(object).where(out[name].notna(), None)
        else:
            out[name] = out[name].fillna("").astype(str)
    for name in _FLOAT_COLUMNS:
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    extras = [c for c in out.columns if c not in COLUMNS]
    out = out[list(COLUMNS) + extras]
    validate_table(out, source)
    for name in _INT_COLUMNS:
        out[name] = out[name].astype(np.int64)
    out["text"] = out["text"].astype(str)
    out.attrs = {
        "reader": reader,
        "sources": [str(p) for p in sources],
        "options": dict(options or {}),
        "info": dict(info or {}),
    }
    return out


def validate_table(df: pd.DataFrame, source: str) -> None:
    """Check that ``df`` follows the stimulus-table contract.

    Parameters
    ----------
    df : DataFrame
        The table to check.
    source : str
        Where the table came from (a file name or a reader), used in error messages.

    Raises
    ------
    NeuroalignError
        Naming the column, the first offending row and the fix: a missing column, a text
        that is missing, item numbers that are not 0..n-1, a repeated (run, story, position),
        onsets that go backwards within a run, offsets before onsets, or several stimsets.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise NeuroalignError(
            f"{source}: column(s) {missing} missing from the stimulus table; a reader must "
            f"return the columns {list(COLUMNS)} (use neuroalign.data.stimuli.standardize)."
        )
    if df["stimset"].nunique() > 1:
        raise NeuroalignError(
            f"{source}: column 'stimset' holds several names {sorted(df['stimset'].unique())}; "
            "write one table per stimulus set."
        )
    if len(df) == 0:
        raise NeuroalignError(
            f"{source}: the stimulus table has no rows; check that the input holds data rows "
            "(not just a header) and that the reader's options select some."
        )
    bad_text = df["text"].isna()
    if bad_text.any():
        row = int(np.flatnonzero(bad_text.to_numpy())[0])
        raise NeuroalignError(
            f"{source}: column 'text' is missing at row {row} ({int(bad_text.sum())} rows in "
            "all); drop those rows or fill them in the source file."
        )
    blank = df["text"].astype(str).str.strip() == ""
    if blank.any():
        row = int(np.flatnonzero(blank.to_numpy())[0])
        raise NeuroalignError(
            f"{source}: column 'text' is empty at row {row} ({int(blank.sum())} rows in all); "
            "every stimulus needs its text: drop those rows or fill them in the source file."
        )
    for name in _INT_COLUMNS:
        values = pd.to_numeric(df[name], errors="coerce")
        if values.isna().any() or not np.all(np.mod(values, 1) == 0):
            raise NeuroalignError(
                f"{source}: column {name!r} must hold whole numbers; found "
                f"{df[name][values.isna() | (np.mod(values, 1) != 0)].iloc[0]!r}."
            )
    items = df["item"].to_numpy()
    duplicated = pd.Series(items).duplicated()
    if duplicated.any():
        raise NeuroalignError(
            f"{source}: column 'item' repeats the value {items[duplicated.to_numpy()][0]}; "
            "items must be 0..n-1, one per row (renumber them in presentation order)."
        )
    if len(items) and not np.array_equal(items, np.arange(len(items))):
        raise NeuroalignError(
            f"{source}: column 'item' must be 0..n-1 in row order; renumber the rows in "
            "presentation order."
        )
    if (pd.to_numeric(df["position"]) < 0).any():
        raise NeuroalignError(f"{source}: column 'position' must be >= 0 (0-based).")
    if (pd.to_numeric(df["sentence"]) < -1).any():
        raise NeuroalignError(f"{source}: column 'sentence' must be >= 0, or -1 when unknown.")
    key = df[["run", "story", "position"]]
    dup = key.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        run, story, pos = key.iloc[row]
        raise NeuroalignError(
            f"{source}: row {row} repeats run {run!r}, story {story!r}, position {pos}; each "
            "word of a story must have its own position (give repeated presentations their "
            "own run)."
        )
    onset = pd.to_numeric(df["onset"], errors="coerce")
    offset = pd.to_numeric(df["offset"], errors="coerce")
    for run, idx in df.groupby("run", sort=False).indices.items():
        times = onset.to_numpy()[idx]
        times = times[~np.isnan(times)]
        back = np.flatnonzero(np.diff(times) < 0)
        if back.size:
            raise NeuroalignError(
                f"{source}: column 'onset' is not monotonic within run {run!r} "
                f"({times[back[0] + 1]:.3f} s follows {times[back[0]]:.3f} s); sort the rows "
                "by onset within each run, or give each recording its own run."
            )
    early = (offset < onset).to_numpy()
    if early.any():
        row = int(np.flatnonzero(early)[0])
        raise NeuroalignError(
            f"{source}: column 'offset' is before 'onset' at row {row}; offsets must be "
            "onset + duration."
        )


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Validate ``df`` and write it atomically to ``path`` as parquet with provenance.

    The schema metadata key ``b"neuroalign"`` holds JSON with the reader, its options, the
    sha256 of each source file, the package version, the reader's info and the dataset the
    table was read from (``df.attrs``).

    Parameters
    ----------
    df : DataFrame
        A stimulus table (see :func:`standardize`).
    path : path
        The parquet file to write.

    Returns
    -------
    path : Path
        The file written.
    """
    path = Path(path)
    validate_table(df, str(path))
    attrs = dict(df.attrs)
    sources = [Path(p) for p in attrs.get("sources", [])]
    meta = provenance(
        stage="stimuli",
        config=attrs.get("options", {}),
        reader=attrs.get("reader", ""),
        stimset=str(df["stimset"].iloc[0]) if len(df) else "",
    )
    meta["sources"] = {str(p): sha256_file(p) for p in sources if p.is_file()}
    meta["options"] = attrs.get("options", {})
    meta["info"] = attrs.get("info", {})
    if attrs.get("dataset"):  # the dataset the table was read from (sim_<kind> if simulated)
        meta["dataset"] = str(attrs["dataset"])
    if "image_root" in meta["info"]:  # where the image paths of an image table are relative to
        meta["image_root"] = meta["info"]["image_root"]
    meta["neuroalign_version"] = __version__
    table = pa.Table.from_pandas(df, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(meta, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(schema_meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a stimulus table written by :func:`write_table`.

    Parameters
    ----------
    path : path
        A parquet file.

    Returns
    -------
    df : DataFrame
        The validated table (``df.attrs`` holds the provenance too).
    attrs : dict
        The provenance: ``reader``, ``sources`` (path -> sha256), ``options``, ``info``,
        ``neuroalign_version``, ``created``, ...
    """
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(
            f"stimulus table not found: {path}. Run `neuroalign stimuli` to make it."
        )
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise NeuroalignError(
            f"{path}: not a readable parquet file ({err}); delete it and run "
            "`neuroalign stimuli` again."
        ) from err
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise NeuroalignError(
            f"{path}: no neuroalign provenance in the parquet metadata; write stimulus "
            "tables with neuroalign.data.stimuli.write_table."
        )
    attrs = json.loads(raw)
    df = table.to_pandas()
    validate_table(df, str(path))
    df.attrs = attrs
    return df, attrs


# --------------------------------------------------------------------------------------------
# Registry of stimulus readers.


@dataclass(frozen=True)
class Reader:
    """A registered stimulus reader.

    Attributes
    ----------
    target : str
        ``"module:function"`` of the reader; imported on first use.
    summary : str
        One line for ``neuroalign stimuli --list-readers``.
    inputs : str
        What ``--input`` takes.
    bind : mapping of str to str, optional
        How input files map to the function's arguments: suffix (``".tsv"``) -> argument
        name. Empty means all inputs go, as one list, to the first argument.
    """

    target: str
    summary: str
    inputs: str
    bind: Mapping[str, str] = field(default_factory=dict)

    @property
    def func(self) -> Callable[..., pd.DataFrame]:
        """The reader function."""
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)

    def options(self) -> dict[str, Any]:
        """Return the reader's keyword options and their defaults."""
        params = inspect.signature(self.func).parameters.values()
        return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


_R = "neuroalign.data.readers"
READERS: dict[str, Reader] = {
    "bids_events": Reader(
        f"{_R}.bids_events:read_bids_events",
        "word (or sentence) events from a BIDS dataset's *_events.tsv files",
        "a BIDS dataset folder, or *_events.tsv files",
    ),
    "megmasc": Reader(
        f"{_R}.megmasc:read_megmasc",
        "MEG-MASC word events aligned to the story text (text_index, gaps allowed)",
        "*_events.tsv file(s) (with their *_channels.tsv: samples on the recording's time base) "
        "and the story text file(s) (<story>.txt)",
        {".tsv": "events", ".txt": "text"},
    ),
    "onestop": Reader(
        f"{_R}.onestop:read_onestop_ia",
        "OneStop (EyeLink Data Viewer) interest-area report: one row per word per paragraph",
        "an IA report CSV",
    ),
    "ucl_frank2013": Reader(
        f"{_R}.wordlevel:read_ucl_frank2013",
        "UCL corpus (Frank et al. 2013) all_measures.csv, in reading order",
        "all_measures.csv",
    ),
    "wordlevel_gaze": Reader(
        f"{_R}.wordlevel:read_wordlevel_gaze",
        "ZuCo or GECO word-level gaze means (sentence_num, word, measures)",
        "one or more split CSVs (*train*, *val*, *test*)",
    ),
    "natural_stories": Reader(
        f"{_R}.wordlevel:read_natural_stories_spr",
        "Natural Stories self-paced reading per-word RTs (with the one-position shift)",
        "processed_wordinfo.tsv",
    ),
    "pereira2018": Reader(
        f"{_R}.pereira:read_pereira2018",
        "Pereira et al. (2018) sentences with their mean language-network response",
        "the sentence-means CSV (,Sentence,EffectSize)",
    ),
    "langloc": Reader(
        f"{_R}.localizers:read_langloc",
        "Fedorenko et al. (2010) language localizer: sentences vs non-word lists",
        "langloc_*run<r>*_set<s>*.csv files or their folder",
    ),
    "md_arithmetic": Reader(
        f"{_R}.localizers:read_md_arithmetic",
        "multiple-demand arithmetic localizer: hard vs easy problems",
        "the arithmetic CSV (item, condition, ..., text)",
    ),
    "tom": Reader(
        f"{_R}.localizers:read_tom",
        "theory-of-mind localizer: false-belief vs false-photograph stories",
        "the folder of <i>belief|photo_story|question.txt files, or the files",
    ),
    "images": Reader(
        f"{_R}.images:read_images",
        "a vision dataset's images (NSD, THINGS-fMRI, BOLD5000, NOD, sim_vision), caption as text",
        "the dataset folder, or its image table (images.tsv)",
    ),
}


def get_reader(name: str) -> Reader:
    """Return the registered reader ``name`` (error lists the names and suggests one)."""
    if name not in READERS:
        raise NeuroalignError(
            f"unknown reader {name!r}; choose one of {sorted(READERS)}.{suggest(name, READERS)}"
        )
    return READERS[name]


def run_reader(
    name: str,
    inputs: Sequence[str | Path],
    *,
    stimset: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Read a stimulus table with the registered reader ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`READERS`.
    inputs : sequence of path
        Input files or folders (see ``READERS[name].inputs``).
    stimset : str, optional
        Name of the stimulus set; the reader's default when None.
    options : mapping, optional
        Keyword options of the reader, typed as the schema declares them (``stimuli.<set>.
        options``); lists are passed as tuples.

    Returns
    -------
    table : DataFrame
        A standardized, validated stimulus table.
    """
    reader = get_reader(name)
    paths = [Path(p) for p in inputs]
    if not paths:
        raise NeuroalignError(f"reader {name!r} needs --input: {reader.inputs}.")
    for path in paths:
        if not path.exists():
            raise NeuroalignError(f"input not found: {path}. Check the --input path.")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in (options or {}).items()}
    allowed = reader.options()
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise NeuroalignError(
            f"reader {name!r} has no option(s) {unknown}; its options are {sorted(allowed)}."
        )
    if stimset is not None:
        kwargs["stimset"] = stimset
    with _reader_errors(name, reader, paths):
        if not reader.bind:
            return reader.func(paths, **kwargs)
        return _run_bound(name, reader, paths, kwargs)


@contextlib.contextmanager
def _reader_errors(name: str, reader: Reader, paths: Sequence[Path]) -> Iterator[None]:
    """Turn a reader's crash on a malformed file into one line naming the file.

    Readers check the fields they know; a file cut short, holding only its header or text
    where numbers belong can still fail deep inside pandas. The user's fix is the file.
    """
    where = ", ".join(map(str, paths[:3])) + (" ..." if len(paths) > 3 else "")
    try:
        yield
    except NeuroalignError as err:
        # The table checks name the reader; say which input it read.
        if str(err).startswith(f"{name} reader: "):
            raise NeuroalignError(f"{where}: {err}") from None
        raise
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
        logger.debug("reader %s failed", name, exc_info=True)
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise NeuroalignError(
            f"{where}: reader {name!r} cannot read this input ({type(err).__name__}: {detail}); "
            f"it takes {reader.inputs}: check the file is complete (not cut short or "
            "header-only) and its numeric fields hold numbers."
        ) from None


def _run_bound(
    name: str, reader: Reader, paths: Sequence[Path], kwargs: dict[str, Any]
) -> pd.DataFrame:
    """Run a reader whose inputs bind to arguments by file suffix."""
    grouped: dict[str, list[Path]] = {arg: [] for arg in reader.bind.values()}
    for path in paths:
        arg = reader.bind.get(path.suffix.lower())
        if arg is None:
            raise NeuroalignError(
                f"input {path}: reader {name!r} takes files ending in "
                f"{sorted(reader.bind)}; got {path.suffix!r}."
            )
        grouped[arg].append(path)
    for arg, files in grouped.items():
        if not files:
            raise NeuroalignError(f"reader {name!r} needs --input for {arg!r}: {reader.inputs}.")
    return reader.func(**grouped, **kwargs)


# --------------------------------------------------------------------------------------------
# The stimuli stage.


@dataclass(frozen=True)
class StimuliSettings(StageSettings):
    """Settings of one stimulus set (``stimuli.<stimset>`` of the configuration).

    Attributes
    ----------
    dataset : str
        The dataset the stimuli come from (a manifest id or ``sim_<kind>``).
    reader : str
        A key of `READERS`.
    files : tuple of str
        Input files relative to the dataset folder (the workflow's concern; empty: the folder).
    options : dict
        The reader's options, each declared in the schema with its type and default (the
        schema fills them); unknown keys are refused.
    """

    SECTION: ClassVar[str] = "#/properties/stimuli/additionalProperties"

    dataset: str
    reader: str
    files: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


def build_stimuli(
    settings: StimuliSettings,
    *,
    inputs: Sequence[str | Path],
    stimset: str,
    output: str | Path,
) -> Path:
    """Read a stimulus set with its reader and write the stimulus table atomically.

    Parameters
    ----------
    settings : StimuliSettings
        The stimulus set's settings (reader and options).
    inputs : sequence of path
        The reader's input files or folders (see ``READERS[settings.reader].inputs``).
    stimset : str
        Name of the stimulus set (the ``stimset`` column).
    output : str or Path
        The parquet file to write (with provenance: reader, options, input checksums).

    Returns
    -------
    output : Path

    Examples
    --------
    >>> settings = StimuliSettings.from_config({"dataset": "sim_meg", "reader": "bids_events"})
    >>> build_stimuli(settings, inputs=["data/raw/sim_meg"], stimset="meg_story",
    ...               output="results/stimuli/meg_story.parquet")  # doctest: +SKIP
    """
    table = run_reader(settings.reader, inputs, stimset=stimset, options=settings.options)
    table.attrs["dataset"] = settings.dataset
    return write_table(table, output)
