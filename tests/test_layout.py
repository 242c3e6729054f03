"""The test suite's own layout: pytest imports test modules by basename."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_module_basenames_are_unique():
    root = Path(__file__).parent
    names = Counter(path.name for path in root.rglob("*.py") if path.name != "conftest.py")
    assert not [name for name, count in names.items() if count > 1]
