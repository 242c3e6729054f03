"""Multiple-choice commonsense datasets as released: Social IQa, PIQA and Fig-QA.

Each item becomes one training text, the question with its right answer in plain text (the
form the divergence study's fine-tuning reads, docs/divergence.md):

- Social IQa: ``<context> <question> <right answer>``, from ``<split>.jsonl`` (``context``,
  ``question``, ``answerA``, ``answerB``, ``answerC``) and ``<split>-labels.lst`` (1, 2 or 3,
  one a line, aligned with the JSON lines);
- PIQA: ``<goal> <right solution>``, from ``<split>.jsonl`` (``goal``, ``sol1``, ``sol2``)
  and ``<split>-labels.lst`` (0 or 1);
- Fig-QA: ``<startphrase> <right ending>``, from a CSV with ``startphrase``, ``ending1``,
  ``ending2`` and ``labels`` (0 or 1).

A record may also carry its label itself (``label``, or ``labels`` for Fig-QA, as the
Hugging Face copies do); then no labels file is needed. Every malformed input is a one-line
:class:`~neuroalign._check.NeuroalignError` naming the file, the line and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from neuroalign._check import NeuroalignError, check_file, suggest

__all__ = ["QA_FORMATS", "QaFormat", "labels_path", "qa_texts", "read_labels", "read_qa_records"]


@dataclass(frozen=True)
class QaFormat:
    """How one dataset's items are laid out and become a text."""

    question: tuple[str, ...]
    options: tuple[str, ...]
    label: str
    first_label: int
    train_file: str


#: The released formats, by dataset id (the ids of their manifests).
QA_FORMATS: dict[str, QaFormat] = {
    "social_iqa": QaFormat(
        ("context", "question"), ("answerA", "answerB", "answerC"), "label", 1, "train.jsonl"
    ),
    "piqa": QaFormat(("goal",), ("sol1", "sol2"), "label", 0, "train.jsonl"),
    "fig_qa": QaFormat(("startphrase",), ("ending1", "ending2"), "labels", 0, "train_xl.csv"),
}


def labels_path(path: str | Path) -> Path:
    """The labels file released next to ``<split>.jsonl``: ``<split>-labels.lst``."""
    path = Path(path)
    return path.with_name(f"{path.stem}-labels.lst")


def read_labels(path: str | Path) -> list[str]:
    """The lines of a labels file (one label a line; a blank last line is ignored)."""
    path = check_file(path, "labels file")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [ln.strip() for ln in lines]


def read_qa_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``.jsonl`` (one JSON object a line) or ``.csv`` file, with line numbers.

    Each record gets ``_line``, its 1-based line in the file (for error messages).
    """
    path = check_file(path, "dataset file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise NeuroalignError(f"{path}: not a readable CSV file ({msg}).") from None
        return [{**rec, "_line": i + 2} for i, rec in enumerate(frame.to_dict("records"))]
    if suffix != ".jsonl":
        raise NeuroalignError(f"{path}: expected a .jsonl or .csv file, not {suffix or 'none'!r}.")
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise NeuroalignError(f"{path} line {i}: not JSON ({err.msg}).") from None
        if not isinstance(rec, dict):
            raise NeuroalignError(f"{path} line {i}: expected a JSON object.")
        records.append({**rec, "_line": i})
    return records


def _text(rec: Mapping[str, Any], field: str, where: str) -> str:
    if field not in rec:
        raise NeuroalignError(f"{where}: no field {field!r}.")
    value = rec[field]
    if not isinstance(value, str) or not value.strip():
        raise NeuroalignError(f"{where}: field {field!r} must be non-empty text, got {value!r}.")
    return " ".join(value.split())


def _label(value: Any, spec: QaFormat, where: str, field: str) -> int:
    allowed = range(spec.first_label, spec.first_label + len(spec.options))
    try:
        label = int(str(value).strip())
    except ValueError:
        label = None
    if label not in allowed:
        hidden = (
            " (the labels of a test split are hidden: read train or dev)" if label == -1 else ""
        )
        raise NeuroalignError(
            f"{where}: field {field!r} is {value!r}; expected one of "
            f"{', '.join(map(str, allowed))}{hidden}."
        )
    return label


def qa_texts(name: str, path: str | Path, *, labels: str | Path | None = None) -> list[str]:
    """The training texts of one split of Social IQa, PIQA or Fig-QA, as released.

    Parameters
    ----------
    name : str
        ``social_iqa``, ``piqa`` or ``fig_qa``.
    path : str or Path
        The split's ``.jsonl`` (Social IQa, PIQA) or ``.csv`` (Fig-QA).
    labels : str or Path, optional
        The labels file; by default ``<split>-labels.lst`` next to a ``.jsonl`` whose records
        have no label field (records that carry their label need none).

    Returns
    -------
    texts : list of str
        One per item: the question fields and the right answer, joined by single spaces.

    Raises
    ------
    NeuroalignError
        One line naming the file, the line and the field: a missing file, a line that is not
        JSON, a missing or empty field, a label out of range, or a labels file whose length
        differs from the records'.
    """
    if name not in QA_FORMATS:
        raise NeuroalignError(
            f"no released format for dataset {name!r}; name one of {', '.join(QA_FORMATS)}"
            f"{suggest(name, QA_FORMATS)}"
        )
    spec = QA_FORMATS[name]
    path = Path(path)
    records = read_qa_records(path)
    if not records:
        raise NeuroalignError(f"{path}: holds no records.")
    label_file = labels
    if label_file is None and spec.label not in records[0] and path.suffix.lower() == ".jsonl":
        label_file = labels_path(path)
    label_lines = None
    if label_file is not None:
        label_lines = read_labels(label_file)
        if len(label_lines) != len(records):
            raise NeuroalignError(
                f"{label_file}: {len(label_lines)} labels for the {len(records)} records of "
                f"{path}; the files must be aligned line by line."
            )
    texts = []
    for i, rec in enumerate(records):
        where = f"{path} line {rec['_line']}"
        question = " ".join(_text(rec, f, where) for f in spec.question)
        if label_lines is not None:
            label = _label(label_lines[i], spec, f"{label_file} line {i + 1}", "label")
        elif spec.label in rec:
            label = _label(rec[spec.label], spec, where, spec.label)
        else:
            raise NeuroalignError(f"{where}: no field {spec.label!r} and no labels file.")
        answer = _text(rec, spec.options[label - spec.first_label], where)
        texts.append(f"{question} {answer}")
    return texts
