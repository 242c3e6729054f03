"""The registry of stage pages.

Each pipeline stage that has results to show owns one module, ``neuroalign.report.stages.<stage>``,
with a function ``collect(ctx: ReportContext) -> Page | None``: it reads that stage's saved results
(recording every file with ``ctx.read``), saves its figures with ``ctx.save_figure`` and returns
the stage's page, or None when the stage has no results. Adding a stage's page is adding its
module and one entry below; the order here is the order of the index.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from neuroalign._check import check_option
from neuroalign.report.blocks import Page
from neuroalign.report.context import ReportContext

Collector = Callable[[ReportContext], Page | None]

#: Stage name -> module defining ``collect(ctx)``.
STAGE_PAGES: dict[str, str] = {
    "fetch": "neuroalign.report.stages.fetch",
    "simulate": "neuroalign.report.stages.simulate",
    "stimuli": "neuroalign.report.stages.stimuli",
    "extract": "neuroalign.report.stages.extract",
    "encode": "neuroalign.report.stages.encode",
    "localize": "neuroalign.report.stages.localize",
    "reading_words": "neuroalign.report.stages.reading_words",
    "reading_decode": "neuroalign.report.stages.reading_decode",
    "divergence": "neuroalign.report.stages.divergence",
    "episodic": "neuroalign.report.stages.episodic",
    "vision_encode": "neuroalign.report.stages.vision_encode",
    "vision_decode": "neuroalign.report.stages.vision_decode",
    "vision_gallery": "neuroalign.report.stages.vision_gallery",
    "diffusion": "neuroalign.report.stages.diffusion",
    "captions": "neuroalign.report.stages.captions",
}


def load_collectors(stages: Iterable[str] | None = None) -> dict[str, Collector]:
    """Import the collectors of ``stages`` (all registered stages by default), in registry order.

    Raises
    ------
    ValueError
        If a stage is not registered.
    """
    names = list(STAGE_PAGES) if stages is None else list(stages)
    for name in names:
        check_option("stage", name, STAGE_PAGES)
    return {name: importlib.import_module(STAGE_PAGES[name]).collect for name in names}
