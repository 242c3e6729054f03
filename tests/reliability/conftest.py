"""The fault suite reports what it tried: fault tests by outcome and fuzz cases by target."""

from __future__ import annotations

import collections

from faults import FUZZ_COUNTS

_OUTCOMES: collections.Counter[str] = collections.Counter()


def pytest_runtest_logreport(report):
    if "tests/reliability/" in report.nodeid.replace("\\", "/") and (
        report.when == "call" or report.outcome != "passed"
    ):
        _OUTCOMES[report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _OUTCOMES and not FUZZ_COUNTS:
        return
    terminalreporter.section("reliability")
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(_OUTCOMES.items()))
    terminalreporter.write_line(f"fault tests: {outcomes}")
    if FUZZ_COUNTS:
        total = sum(FUZZ_COUNTS.values())
        parts = ", ".join(f"{k} {n}" for k, n in sorted(FUZZ_COUNTS.items()))
        terminalreporter.write_line(f"fuzz cases tried: {total} ({parts})")
