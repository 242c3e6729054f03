"""The state a stage collector reads from and writes figures into."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from neuroalign.report.blocks import Figure
from neuroalign.report.figures import empty_axes

logger = logging.getLogger(__name__)

FIGURE_DIR = "figures"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class ReportContext:
    """Where the saved results are and where the site is being built.

    Parameters
    ----------
    config : mapping
        The run's configuration (may be empty).
    results : Path or None
        The results folder (``results/``); None when there is none.
    data_root : Path or None
        The data folder (``data/``, holding ``raw/<dataset>/``); None when there is none.
    site : Path
        The folder the site is written to (a temporary folder until the build succeeds).
    verify_checksums : bool
        Recompute the sha256 of fetched files instead of checking their sizes only.
    """

    config: Mapping[str, Any]
    results: Path | None
    data_root: Path | None
    site: Path
    verify_checksums: bool = False
    inputs: dict[str, Path] = field(default_factory=dict)

    def read(self, path: str | Path) -> Path:
        """Record ``path`` as an input of the report (its checksum goes to the provenance page)."""
        path = Path(path)
        self.inputs.setdefault(str(path), path)
        return path

    def results_path(self, *parts: str) -> Path | None:
        """``<results>/<parts...>``, or None when no results folder was given."""
        return None if self.results is None else self.results.joinpath(*parts)

    def data_path(self, *parts: str) -> Path | None:
        """``<data_root>/<parts...>``, or None when no data folder was given."""
        return None if self.data_root is None else self.data_root.joinpath(*parts)

    def save_figure(self, fig: MplFigure, name: str, *, alt: str, caption: str) -> Figure:
        """Save a matplotlib figure as ``figures/<name>.png`` and return its page block.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
            The figure; it is not used afterwards.
        name : str
            File stem, unique within the site (letters, digits, ``-``, ``_``, ``.``).
        alt : str
            Alternative text: what the figure shows, for readers who cannot see it.
        caption : str
            How to read the figure.

        Returns
        -------
        figure : neuroalign.report.blocks.Figure
        """
        if not _NAME.match(name):
            raise ValueError(f"Figure name {name!r} may only hold letters, digits, '-', '_', '.'.")
        if not alt.strip() or not caption.strip():
            raise ValueError(f"Figure {name!r} needs a non-empty alt text and caption.")
        rel = f"{FIGURE_DIR}/{name}.png"
        out = self.site / rel
        if out.exists():
            raise ValueError(f"Two figures of the report are named {name!r}; names must be unique.")
        out.parent.mkdir(parents=True, exist_ok=True)
        FigureCanvasAgg(fig)  # draw off-screen, whatever backend the session uses
        fig.savefig(out, format="png", dpi=100)
        n_axes, n_empty = empty_axes(fig)
        if n_empty:
            logger.warning("figure %s: %d of %d axes drawn without data", name, n_empty, n_axes)
        logger.debug("saved figure %s", rel)
        return Figure(src=rel, alt=alt, caption=caption, n_axes=n_axes, n_empty=n_empty)
