"""One rule for devices and dtypes in every stage."""

from __future__ import annotations

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.devices import (
    devices_for,
    dtype_name,
    parse_device,
    resolve_device,
    resolve_devices,
    resolve_dtype,
)
from neuroalign.schemas import validate_section


@pytest.mark.parametrize(
    ("spec", "n_gpus", "expected"),
    [
        ("auto", 0, ["cpu"]),
        ("auto", 2, ["cuda:0", "cuda:1"]),
        ("cpu", 4, ["cpu"]),
        ("cuda", 2, ["cuda:0", "cuda:1"]),
        ("cuda:1", 2, ["cuda:1"]),
        ("cuda:0", 1, ["cuda:0"]),
    ],
)
def test_devices_for(spec, n_gpus, expected):
    assert devices_for(spec, n_gpus) == expected


@pytest.mark.parametrize(("spec", "n_gpus"), [("cuda", 0), ("cuda:2", 2), ("cuda:0", 0)])
def test_devices_for_missing_gpu(spec, n_gpus):
    with pytest.raises(NeuroalignError, match=spec):
        devices_for(spec, n_gpus)


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "CPU", "", "mps"])
def test_bad_device(spec):
    with pytest.raises(NeuroalignError, match="auto, cpu, cuda or cuda:N"):
        parse_device(spec)


@pytest.mark.parametrize("spec", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_schema_accepts_every_device_form(spec):
    assert validate_section(spec, "#/$defs/device", "x") == spec


def test_schema_refuses_other_devices():
    with pytest.raises(NeuroalignError):
        validate_section("gpu:0", "#/$defs/device", "x")


def test_dtype_rule():
    assert dtype_name("auto", "cpu") == "float32"
    assert dtype_name("auto", "cuda:1") == "bfloat16"
    assert dtype_name("auto", "cuda:0", bf16_supported=False) == "float32"
    assert dtype_name("float16", "cpu") == "float16"
    with pytest.raises(NeuroalignError, match="dtype"):
        dtype_name("half", "cpu")


def test_resolution_on_this_machine():
    torch = pytest.importorskip("torch")
    assert resolve_devices("cpu") == ["cpu"]
    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("bfloat16", "cpu") is torch.bfloat16
