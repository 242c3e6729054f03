"""The static HTML report: an index of datasets, models and stages, one page per stage.

`build_report` reads saved results only (never recomputes an analysis) and writes a site that
opens from disk without a server. A stage adds its page with one module in
``neuroalign.report.stages`` and one entry in `pages.STAGE_PAGES`.
"""

from neuroalign.report.blocks import (
    Code,
    DatasetEntry,
    Figure,
    Link,
    Notice,
    Page,
    Section,
    Table,
    Text,
)
from neuroalign.report.build import ReportSettings, build_report, load_run_config
from neuroalign.report.context import ReportContext
from neuroalign.report.pages import STAGE_PAGES, load_collectors

__all__ = [
    "STAGE_PAGES",
    "Code",
    "DatasetEntry",
    "Figure",
    "Link",
    "Notice",
    "Page",
    "ReportContext",
    "ReportSettings",
    "Section",
    "Table",
    "Text",
    "build_report",
    "load_collectors",
    "load_run_config",
]
