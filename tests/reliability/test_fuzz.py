"""Property-based fuzzing of the inputs: configs, manifests, settings, stimulus files, CLI args.

Derandomized hypothesis runs with fixed example budgets (the same cases on every run, a few
seconds each). Every case must end in success or in one line that names the file (and the
field where there is one): no traceback, and no invalid value accepted silently (NaN,
infinities and ``2.0`` for an integer must be refused wherever they are put).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import io
import json
import math
import pkgutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from faults import FUZZ_COUNTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuroalign
from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.config import validate_config
from neuroalign.data.manifest import load_manifest, manifest_from_dict
from neuroalign.settings import StageSettings, read_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
MANIFEST = yaml.safe_load((REPO / "data_manifests" / "blimp.yaml").read_text())


def fuzz(examples: int):
    """Derandomized hypothesis settings with a fixed budget and no example database."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


# -- mutations of a document (config, manifest, settings) ----------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", " ", "..", "../x", "/", "$(touch pwned)", "a b", "ü∂", "\x00", "NA"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a document (keys and list indices)."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for k, value in enumerate(doc):
            out += _paths(value, (*prefix, k))
    return out


def _get(doc, path):
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw, base: dict) -> tuple[dict, str, tuple]:
    """A deep copy of ``base`` with one mutation: (document, kind of mutation, path)."""
    doc = copy.deepcopy(base)
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent, key = _get(doc, path[:-1]), path[-1]
    old = parent[key]
    kind = draw(
        st.sampled_from(
            ["delete", "unknown-key", "replace", "nan", "inf", "float-int", "huge", "empty"]
        )
    )
    if kind == "delete" and isinstance(parent, dict):
        del parent[key]
    elif kind == "unknown-key" and isinstance(old, dict):
        old[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in old))] = draw(values)
    elif kind == "nan":
        parent[key] = math.nan
    elif kind == "inf":
        parent[key] = draw(st.sampled_from([math.inf, -math.inf]))
    elif kind == "float-int" and isinstance(old, int) and not isinstance(old, bool):
        parent[key] = float(old)
    elif kind == "huge":
        parent[key] = draw(st.sampled_from([10**30, -(10**30), 1e308, "x" * 10_000]))
    elif kind == "empty":
        parent[key] = draw(st.sampled_from(["", [], {}, None]))
    else:
        kind = "replace"
        parent[key] = draw(values)
    return doc, kind, path


def _has_non_finite(doc: Any) -> bool:
    if isinstance(doc, float):
        return not math.isfinite(doc)
    if isinstance(doc, dict):
        return any(_has_non_finite(v) for v in doc.values())
    if isinstance(doc, list):
        return any(_has_non_finite(v) for v in doc)
    return False


def _check_error(err: NeuroalignError, source: str) -> None:
    message = str(err)
    assert "\n" not in message, message
    assert source in message, f"the file is not named: {message}"
    assert "field" in message or "key" in message or "'" in message, f"no field: {message}"


def _fractional(doc: dict, path: tuple) -> dict:
    """``doc`` with the (integral float) value at ``path`` given a fractional part."""
    doc = copy.deepcopy(doc)
    parent = _get(doc, path[:-1])
    parent[path[-1]] += 0.5
    return doc


def _accepts(run, doc) -> bool:
    try:
        run(doc)
    except NeuroalignError:
        return False
    return True


def _expect(run, doc, kind, source, path=()):
    """Run one case: success or a one-line error naming the file; never another exception."""
    try:
        result = run(doc)
    except NeuroalignError as err:
        _check_error(err, source)
        return None
    assert kind not in ("nan", "inf"), f"{kind} accepted silently at {path}"
    if kind == "float-int":
        # 2.0 may pass only where any number does (2.5 too): never for an integer field.
        assert _accepts(run, _fractional(doc, path)), f"2.0 accepted as an integer at {path}"
    return result


@fuzz(300)
@given(case=mutated(CONFIG))
def test_fuzzed_configs(case):
    doc, kind, path = case
    FUZZ_COUNTS["configs"] += 1
    run = lambda d: validate_config(d, source="fuzz.yaml")  # noqa: E731
    result = _expect(run, doc, kind, "fuzz.yaml", path)
    if result is not None:
        assert not _has_non_finite(result)


@fuzz(300)
@given(case=mutated(MANIFEST))
def test_fuzzed_manifests(case):
    doc, kind, path = case
    FUZZ_COUNTS["manifests"] += 1
    _expect(lambda d: manifest_from_dict(d, "blimp.yaml"), doc, kind, "blimp.yaml", path)


@fuzz(150)
@given(data=st.data())
def test_fuzzed_yaml_bytes(data):
    """Byte-level damage to a manifest file: cut, flipped bytes, inserted YAML syntax."""
    FUZZ_COUNTS["manifest files"] += 1
    text = (REPO / "data_manifests" / "blimp.yaml").read_bytes()
    op = data.draw(st.sampled_from(["cut", "flip", "insert"]))
    at = data.draw(st.integers(0, len(text)))
    if op == "cut":
        text = text[:at]
    elif op == "flip":
        text = text[:at] + data.draw(st.binary(min_size=1, max_size=4)) + text[at + 4 :]
    else:
        snippet = data.draw(
            st.sampled_from([b"&a ", b"*a", b": :", b"\t", b"!!python/object:os.system ", b"\xff"])
        )
        text = text[:at] + snippet + text[at:]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blimp.yaml"
        path.write_bytes(text)
        try:
            load_manifest(path)
        except NeuroalignError as err:
            assert "\n" not in str(err) and str(path) in str(err), str(err)


def _settings_classes() -> list[type]:
    for info in pkgutil.walk_packages(neuroalign.__path__, "neuroalign."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    seen, stack = [], list(StageSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("neuroalign.") and dataclasses.is_dataclass(cls):
            if cls not in seen:
                seen.append(cls)
    return sorted(seen, key=lambda c: c.__qualname__)


SETTINGS = _settings_classes()


def _defaults(cls) -> dict:
    """A settings file as a rule writes it: the section with its defaults filled."""
    required = {"dataset": "x", "reader": "bids_events", "model": {"source": "hf:gpt2"}}
    for attempt in ({}, {k: v for k, v in required.items()}):
        try:
            return json.loads(json.dumps(cls.from_config(attempt).to_dict(), default=str))
        except (NeuroalignError, TypeError, AttributeError):
            continue
    return {}


@fuzz(400)
@given(data=st.data())
def test_fuzzed_settings_files(data):
    """Every stage's settings file, mutated, read the way each subcommand reads it."""
    cls = data.draw(st.sampled_from(SETTINGS))
    base = _defaults(cls)
    FUZZ_COUNTS["settings files"] += 1
    path = ()
    if base:
        doc, kind, path = data.draw(mutated(base))
    else:
        doc, kind = data.draw(st.dictionaries(st.text(max_size=8), values, max_size=3)), "new"
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "settings.json"

        def run(d):
            file.write_text(json.dumps(d))  # NaN/Infinity as JSON writes them
            return read_settings(cls, file)

        try:
            _expect(run, doc, kind, str(file), path)
        except AssertionError as err:
            raise AssertionError(f"{cls.__name__}: {err}") from None


# -- stimulus files ---------------------------------------------------------------------------

cells = st.one_of(
    st.sampled_from(["NA", "null", "None", "n/a", "", " ", "nan", "inf", "-1", "0", "1e308"]),
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)
STIMULUS_FORMATS = {
    "pereira2018": ("pereira.csv", ["", "Sentence", "EffectSize"], ","),
    "wordlevel_gaze": (
        "zuco_val.csv",
        [
            "",
            "sentence_num",
            "word",
            "n_fix",
            "first_fix_dur",
            "first_pass_dur",
            "total_fix_dur",
            "mean_fix_dur",
            "fix_prob",
            "n_refix",
            "reread_prob",
        ],
        ",",
    ),
    "bids_events": (
        "sub-01_task-story_events.tsv",
        ["onset", "duration", "trial_type", "word"],
        "\t",
    ),
    "natural_stories": (
        "processed_wordinfo.tsv",
        ["word", "zone", "item", "nItem", "meanItemRT", "sdItemRT", "gmeanItemRT", "gsdItemRT"],
        "\t",
    ),
}


@st.composite
def stimulus_file(draw) -> tuple[str, str, bytes]:
    reader = draw(st.sampled_from(sorted(STIMULUS_FORMATS)))
    name, header, sep = STIMULUS_FORMATS[reader]
    header = list(header)
    if draw(st.booleans()) and len(header) > 2:  # a column missing or renamed
        header[draw(st.integers(1, len(header) - 1))] = draw(st.sampled_from(["", "x", "wörd"]))
    n_rows = draw(st.integers(0, 6))
    rows = [
        [
            (f"{k * 0.5}" if reader == "bids_events" and c == "onset" else None)
            or ("word" if reader == "bids_events" and c == "trial_type" else None)
            or draw(cells)
            for c in header
        ]
        for k in range(n_rows)
    ]
    text = sep.join(header) + "\n" + "".join(sep.join(r).replace("\n", " ") + "\n" for r in rows)
    data = text.encode()
    damage = draw(st.sampled_from(["none", "none", "cut", "latin1", "nul"]))
    if damage == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "latin1":
        data = data.replace(b"e", b"\xe9", 1)
    elif damage == "nul":
        data = data + b"\x00\x00"
    return reader, name, data


@fuzz(250)
@given(case=stimulus_file())
def test_fuzzed_stimulus_files(case):
    reader, name, data = case
    FUZZ_COUNTS["stimulus files"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        settings_path = Path(tmp) / "s.json"
        settings_path.write_text(json.dumps({"dataset": "x", "reader": reader}))
        out = Path(tmp) / "t.parquet"
        argv = ["stimuli", "--settings", str(settings_path), "--input", str(path)]
        code, err = _main([*argv, "--stimset", "t", "--output", str(out)])
        if code == 0:
            import pandas as pd

            table = pd.read_parquet(out)
            assert len(table) > 0
            assert table["text"].notna().all() and (table["text"].str.strip() != "").all()
        else:
            assert code == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1, err
            assert str(path) in lines[0] or str(settings_path) in lines[0], err


def _main(argv: list[str]) -> tuple[int, str]:
    """Run the command line in-process; return its exit status and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: usage errors exit 2, --help exits 0
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, err.getvalue()


# -- command-line arguments ---------------------------------------------------------------

ARGUMENT_VALUES = st.one_of(
    st.sampled_from(["", "-", "--", "0", "-1", "nan", "inf", "1e400", "toy", "..", "a b", "ü"]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=12,
    ),
)
COMMANDS = {
    "fetch": ["--subset", "--settings", "--data-dir", "--manifests", "--mirror", "--retries",
              "--timeout", "--accept-terms", "--allow-unverified", "--no-progress"],
    "manifest validate": ["--manifests"],
    "manifest lock": ["--listing", "--add-missing", "--dry-run"],
    "stimuli": ["--settings", "--input", "--stimset", "--output", "--list-readers"],
    "extract": ["--settings", "--stimuli", "--output"],
    "simulate recover": ["--dataset", "--output"],
    "report": ["--settings", "--config", "--results", "--data-root", "--output"],
}  # fmt: skip


@st.composite
def command_line(draw, tmp: str) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    argv = command.split()
    if command == "simulate recover":
        argv.append(draw(st.sampled_from(["fmri", "meg", "nope", ""])))
    if command in ("fetch", "manifest lock"):
        argv.append(draw(st.sampled_from(["toy", "blimp", "", "../x"])))
    for flag in draw(st.lists(st.sampled_from(COMMANDS[command]), max_size=4)):
        argv.append(flag)
        if flag not in ("--accept-terms", "--allow-unverified", "--no-progress", "--add-missing",
                        "--dry-run", "--list-readers"):  # fmt: skip
            value = draw(ARGUMENT_VALUES)
            # Paths stay inside the scratch folder; never the user's files.
            argv.append(f"{tmp}/{value}" if flag in _PATH_FLAGS else value)
    return argv


_PATH_FLAGS = {"--settings", "--data-dir", "--manifests", "--mirror", "--output", "--stimuli",
               "--dataset", "--results", "--data-root", "--listing", "--input"}  # fmt: skip


@fuzz(150)
@given(data=st.data())
def test_fuzzed_command_lines(data):
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        # In a scratch folder: default outputs (results/, data/) land there, never in the repo.
        argv = data.draw(command_line(tmp))
        FUZZ_COUNTS["command lines"] += 1
        code, err = _main(argv)
        assert code in (0, 2), f"{argv}: exit {code}: {err[-2000:]}"
        assert "Traceback" not in err, f"{argv}: {err[-2000:]}"
        if code == 2 and "usage:" not in err:
            assert len([x for x in err.splitlines() if "error:" in x]) >= 1, err


@pytest.fixture(autouse=True)
def _no_env_mirror(monkeypatch):
    monkeypatch.delenv("NEUROALIGN_MIRROR", raising=False)
