"""JSON Schemas for the configuration and the dataset manifests, and a validator."""

from __future__ import annotations

import math
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


def _is_integer(checker: Any, instance: Any) -> bool:
    """JSON integers only: ``2.0`` is a float (JSON Schema would take it), ``True`` is no number."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _validator_class(name: str) -> type:
    """The schema's validator class, with integers that refuse floats such as ``2.0``."""
    schema = load_schema(name)
    base = jsonschema.validators.validator_for(schema)
    return jsonschema.validators.extend(
        base, type_checker=base.TYPE_CHECKER.redefine("integer", _is_integer)
    )


def _check_finite(instance: Any, source: str | Path, path: tuple = ()) -> None:
    """Refuse NaN and infinities anywhere (JSON Schema's bounds let NaN through)."""
    if isinstance(instance, float) and not math.isfinite(instance):
        field = ".".join(map(str, path)) or "(top level)"
        raise NeuroalignError(
            f"{source}: field {field!r} is {instance}, which is not a finite number; write a "
            "number (or null where the field allows it)."
        )
    if isinstance(instance, dict):
        for key, value in instance.items():
            _check_finite(value, source, (*path, key))
    elif isinstance(instance, list):
        for k, value in enumerate(instance):
            _check_finite(value, source, (*path, k))


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0] if extra else "?"
        field = ".".join([*map(str, error.absolute_path), key])
        if not allowed:
            return f"unknown key {field!r}; no keys are allowed here."
        return (
            f"unknown key {field!r}; allowed keys here are {', '.join(allowed)}."
            f"{suggest(key, allowed)}"
        )
    if error.validator == "pattern":
        # The regular expression alone is hard to read: say what it allows, from the schema.
        allowed = error.schema.get("description") or "see the field's description in the schema"
        allowed = " ".join(str(allowed).split()).rstrip(".")
        if error.parent is not None and error.parent.validator == "propertyNames":
            return (
                f"key {error.instance!r} under {_where(error)!r} does not match the regular "
                f"expression {error.validator_value}; allowed: {allowed}."
            )
        return (
            f"field {_where(error)!r} is {error.instance!r}, which does not match the regular "
            f"expression {error.validator_value}; allowed: {allowed}."
        )
    if error.validator == "minLength" and error.schema.get("description"):
        allowed = " ".join(str(error.schema["description"]).split()).rstrip(".")
        return f"field {_where(error)!r}: {error.message}; allowed: {allowed}."
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
    _check_finite(instance, source)
    errors = sorted(_validator_class(name)(schema).iter_errors(instance), key=lambda e: e.path)
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
        # A default written beside a $ref applies; so does the default of a referenced value
        # type (alphas, layers, device). The default of a referenced object definition applies
        # only where the key is present (an absent simulated dataset stays absent).
        if key not in instance:
            target = _resolve(sub, root)
            if "default" in sub:
                instance[key] = _copy(sub["default"])
            elif "default" in target and target.get("type") != "object":
                instance[key] = _copy(target["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra, root)
    # Conditional parts (`allOf: [{if, then}]`, e.g. a stimulus reader's options): the defaults
    # of the branch that applies to this instance.
    for part in schema.get("allOf", []):
        part = _resolve(part, root)
        if "if" not in part:
            _fill_defaults(instance, part, root)
            continue
        matches = jsonschema.validators.validator_for(root)(
            {**part["if"], "$defs": root.get("$defs", {})}
        ).is_valid(instance)
        branch = part.get("then" if matches else "else")
        if isinstance(branch, dict):
            _fill_defaults(instance, branch, root)


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def section_schema(pointer: str, name: str = "config") -> dict:
    """Return the part of schema ``name`` at JSON pointer ``pointer`` (``#/properties/...``).

    The returned schema keeps the whole schema's ``$defs``, so references inside it resolve.
    """
    root = load_schema(name)
    if not pointer.startswith("#/"):
        raise ValueError(f"schema pointer must start with '#/', got {pointer!r}")
    return {
        "$schema": root.get("$schema"),
        "$defs": root.get("$defs", {}),
        **_resolve(_at(root, pointer), root),
    }


def _at(root: dict, pointer: str) -> dict:
    target: Any = root
    for part in pointer[2:].split("/"):
        target = target[part]
    return target


def validate_section(instance: Any, pointer: str, source: str | Path, name: str = "config") -> Any:
    """Validate one section of a config against its part of the schema, filling in defaults.

    Parameters
    ----------
    instance : object
        The section (a mapping for every stage section).
    pointer : str
        JSON pointer of the section's schema, e.g. ``"#/properties/encode/additionalProperties"``.
    source : str or Path
        Where the section came from, for the error message.
    name : str
        Which schema (``"config"``).

    Returns
    -------
    instance : object
        The same object with the section's defaults filled in.

    Raises
    ------
    NeuroalignError
        One line naming the source, the field and what is wrong.
    """
    schema = section_schema(pointer, name)
    _check_finite(instance, source)
    errors = sorted(_validator_class(name)(schema).iter_errors(instance), key=lambda e: e.path)
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise NeuroalignError(f"{source}: {_message(best)}")
    _fill_defaults(instance, schema, schema)
    return instance
