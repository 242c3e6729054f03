"""Faults in the inputs: YAML bombs and recursion, non-UTF-8 files, broken stimulus files.

Every case ends in one line naming the file (and field where there is one), never a
traceback; real words such as "NA", "null" and "None" stay words.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign._yaml import MAX_ALIASES, load_yaml
from neuroalign.cli import main
from neuroalign.config import load_config

# A 9-way alias tree seven levels deep: 40 lines that expand to 9**7 (4.8 million) values.
BOMB = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True)
)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no message"
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (BOMB, "alias bomb"),
        ("a: &a [1, *a]\n", "refers to itself"),
        ("a: &a {b: *a}\n", "refers to itself"),
        ("x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(MAX_ALIASES + 1)), "aliases"),
        ("a: [1, 2\n", "not valid YAML"),
    ],
    ids=["bomb", "recursive-list", "recursive-map", "too-many-aliases", "syntax"],
)
def test_hostile_yaml_is_refused_in_one_line(tmp_path, text, match):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(NeuroalignError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_a_few_aliases_are_fine(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: &base [1, 2]\nother: [*base, *base]\n")
    assert load_yaml(path)["other"] == [[1, 2], [1, 2]]


@pytest.mark.parametrize("data", [b"results: r\xe9sultats\n", b"\xff\xfeid: x\n"])
def test_non_utf8_yaml_is_one_line(tmp_path, data):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(NeuroalignError, match="not UTF-8"):
        load_config(path)


def test_non_utf8_settings_file_is_one_line(tmp_path, capsys):
    settings = tmp_path / "s.json"
    settings.write_bytes(b'{"seed": "\xe9"}')
    assert (
        main(["simulate", "meg", "--settings", str(settings), "--output", str(tmp_path / "o")]) == 2
    )
    assert "not UTF-8" in _error_line(capsys)


def test_nan_in_a_settings_file_is_refused(tmp_path, capsys):
    settings = tmp_path / "s.json"
    settings.write_text('{"sfreq": NaN}')
    assert (
        main(["simulate", "meg", "--settings", str(settings), "--output", str(tmp_path / "o")]) == 2
    )
    line = _error_line(capsys)
    assert "'sfreq'" in line and "not a finite number" in line and str(settings) in line


def test_manifest_validate_reports_every_bad_file_and_goes_on(tmp_path, repo_root, capsys):
    good = tmp_path / "blimp.yaml"
    good.write_text((repo_root / "data_manifests" / "blimp.yaml").read_text())
    bad = {
        "bomb.yaml": BOMB.encode(),
        "recursive.yaml": b"a: &a [1, *a]\n",
        "latin1.yaml": b"id: caf\xe9\n",
        "syntax.yaml": b"id: [\n",
        "list.yaml": b"- 1\n- 2\n",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / n) for n in bad] + [str(good)]
    assert main(["manifest", "validate", *paths]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    for name in bad:
        assert f"invalid  {tmp_path / name}" in captured.err, captured.err
    assert f"ok       {good}" in captured.out
    assert f"{len(bad)} of {len(paths)} manifest(s) invalid" in captured.err


# -- stimulus files -------------------------------------------------------------------------

PEREIRA = (
    ",Sentence,EffectSize\n0,A cat sat.,0.5\n1,NA is a word here.,0.25\n2,None the less.,1.0\n"
)
GAZE = (
    ",sentence_num,word,n_fix,first_fix_dur,first_pass_dur,total_fix_dur,mean_fix_dur,"
    "fix_prob,n_refix,reread_prob\n"
    + "".join(
        f"{k},{k // 3},{w},1.0,100.0,100.0,120.0,100.0,0.5,0.0,0.0\n"
        for k, w in enumerate(["The", "null", "cat", "None", "saw", "NA"])
    )
)
EVENTS = "onset\tduration\ttrial_type\tword\n" + "".join(
    f"{k * 0.5}\t0.3\tword\t{w}\n" for k, w in enumerate(["We", "saw", "NA", "null", "None"])
)
#: reader -> (file name, valid content, the numeric field a text would break)
READERS = {
    "pereira2018": ("pereira.csv", PEREIRA),
    "wordlevel_gaze": ("zuco_val.csv", GAZE),
    "bids_events": ("sub-01_task-story_events.tsv", EVENTS),
}


def _mutations(text: str) -> dict[str, str | bytes]:
    lines = text.splitlines(keepends=True)
    sep = "\t" if "\t" in lines[0] else ","
    last = lines[-1]
    return {
        "header-only": lines[0],
        "zero-rows": lines[0] + "\n\n",
        "empty": "",
        "truncated": "".join(lines[:-1]) + last[: last.index(sep, last.index(sep) + 1)],
        "non-numeric": lines[0]
        + "".join(
            sep.join(
                "abc" if f.replace(".", "", 1).isdigit() and i > 0 else f
                for i, f in enumerate(line.rstrip("\n").split(sep))
            )
            + "\n"
            for line in lines[1:]
        ),
        "non-utf8": text.encode().replace(b"a", b"\xe9", 2),
        "binary": bytes(range(256)) * 4,
        "empty-text": text.replace("saw", "  ")
        if "saw" in text
        else text.replace("A cat sat.", ""),
    }


CASES = [(r, m) for r in READERS for m in _mutations(READERS[r][1])]


def _run_stimuli(tmp_path, reader, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"dataset": "x", "reader": reader}))
    argv = ["stimuli", "--settings", str(settings), "--input", str(path), "--stimset", "t"]
    return main([*argv, "--output", str(tmp_path / "t.parquet")]), path


@pytest.mark.parametrize(("reader", "mutation"), CASES, ids=[f"{r}-{m}" for r, m in CASES])
def test_broken_stimulus_files_are_one_line_errors(tmp_path, capsys, reader, mutation):
    name, text = READERS[reader]
    code, path = _run_stimuli(tmp_path, reader, name, _mutations(text)[mutation])
    line = _error_line(capsys)
    assert code == 2, line
    assert len(line.splitlines()) == 1, line
    assert str(path) in line, line
    assert not (tmp_path / "t.parquet").exists()


@pytest.mark.parametrize("reader", list(READERS))
def test_real_words_na_null_none_are_words(tmp_path, capsys, reader):
    name, text = READERS[reader]
    code, _ = _run_stimuli(tmp_path, reader, name, text)
    assert code == 0, capsys.readouterr().err
    table = pd.read_parquet(tmp_path / "t.parquet")
    words = " ".join(table["text"])
    for word in ("NA", "None") + (("null",) if "null" in text else ()):
        assert word in words.split() or word in words, (word, words)
    assert table["text"].notna().all()
