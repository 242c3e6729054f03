"""The report reads saved results only: none of its pages imports torch or transformers."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import neuroalign.report
import neuroalign.report.stages as stages
names = ["neuroalign.report"]
for package in (neuroalign.report, stages):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        names.append(info.name)
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print(json.dumps({"modules": sorted(set(names)), "heavy": heavy}))
"""


def test_every_report_page_imports_without_torch_or_transformers():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "neuroalign.report.stages.extract" in result["modules"]
    assert "neuroalign.report.stages.encode" in result["modules"]
    assert result["heavy"] == [], f"the report imported {result['heavy']}"
