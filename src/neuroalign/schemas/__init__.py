"""JSON Schemas for the configuration and the dataset manifests, and a validator."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from neuroalign._check import NeuroalignError, suggest


@cache
def load_schema(name: str) -> dict:
    """Return the schema ``name`` (``"config"`` or ``"manifest"``) as a dict."""
    text = files("neuroalign.schemas").joinpath(f"{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0] if extra else "?"
        field = ".".join([*map(str, error.absolute_path), key])
        return (
            f"unknown key {field!r}; allowed keys here are {', '.join(allowed)}."
            f"{suggest(key, allowed)}"
        )
    if error.validator == "required":
        return f"field {_where(error)!r}: {error.message}; add it."
    return f"field {_where(error)!r}: {error.message}."


def validate(instance: Any, name: str, source: str | Path) -> Any:
    """Validate ``instance`` against schema ``name``, filling in defaults.

    Parameters
    ----------
    instance : object
        The loaded YAML document.
    name : str
        ``"config"`` or ``"manifest"``.
    source : str or Path
        Where the document came from, for the error message.

    Returns
    -------
    instance : object
        The same object with schema defaults filled in.

    Raises
    ------
    NeuroalignError
        One line naming the file, the field and what is wrong.
    """
    schema = load_schema(name)
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(instance), key=lambda e: e.path)
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise NeuroalignError(f"{source}: {_message(best)}")
    _fill_defaults(instance, schema, schema)
    return instance


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        return _resolve(target, root)
    return schema


def _fill_defaults(instance: Any, schema: dict, root: dict) -> None:
    schema = _resolve(schema, root)
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        # A default written beside a $ref applies; one inside the referenced definition
        # applies only where the key is present (an absent simulated dataset stays absent).
        if key not in instance and "default" in sub:
            instance[key] = _copy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra, root)


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))
