"""What a report page is made of: sections of text, tables and figures.

Stage collectors build these plain objects from saved results; the templates turn them into HTML.
Nothing here reads files or draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Link:
    """A table cell or list item that links to another page of the site."""

    text: str
    href: str


@dataclass(frozen=True)
class Figure:
    """A saved figure; ``src`` is relative to the site root, ``alt`` and ``caption`` required.

    ``n_axes`` and ``n_empty`` count the figure's axes and those drawn without data
    (`neuroalign.report.figures.empty_axes`), recorded when it was saved.
    """

    src: str
    alt: str
    caption: str
    n_axes: int = 0
    n_empty: int = 0


@dataclass(frozen=True)
class Table:
    """A table: ``rows`` are lists of cells (str, number, `Link` or None), one per column."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text (escaped when rendered)."""

    text: str


@dataclass(frozen=True)
class Notice:
    """A highlighted paragraph: ``level`` is "info", "warning" or "simulated"."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class Code:
    """Preformatted text (a configuration, a JSON record)."""

    text: str


@dataclass(frozen=True)
class Gallery:
    """Rows of images shown side by side (a reconstruction gallery: ground truth, then samples)."""

    rows: list[list[Figure]]
    caption: str = ""


Block = Figure | Table | Text | Notice | Code | Gallery


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset as the index lists it; ``href`` is the page that describes it."""

    id: str
    title: str
    simulated: bool
    href: str
    license: str = ""
    citation: str = ""
    files: int | None = None
    size: int | None = None
    checks: str = ""


@dataclass
class Section:
    """A titled part of a page; its blocks are rendered in order."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Page:
    """One HTML page of the site.

    Parameters
    ----------
    slug : str
        File name without ``.html``; letters, digits, ``-``, ``_`` and ``.`` only.
    title : str
        Page heading and ``<title>``.
    summary : str
        One line shown next to the link on the index page.
    sections : list of Section
        The page content.
    subpages : list of Page
        Pages linked from this one (a page per dataset or per stimulus set, say).
    simulated : bool
        Show the "simulated data" banner at the top of the page.
    datasets : list of DatasetEntry
        Datasets this page describes; the index lists them.
    template : str
        Template that renders the page; the generic one renders ``sections``. A stage may ship its
        own template (extending ``base.html.j2``) and pass extra values in ``extra``.
    extra : dict
        Additional values handed to the template.
    headline : Headline, optional
        The page's headline number with its interval (`neuroalign.report.headline`), shown
        next to its link on the index and under its title.
    """

    slug: str
    title: str
    summary: str = ""
    sections: list[Section] = field(default_factory=list)
    subpages: list[Page] = field(default_factory=list)
    simulated: bool = False
    datasets: list[DatasetEntry] = field(default_factory=list)
    template: str = "page.html.j2"
    extra: dict[str, Any] = field(default_factory=dict)
    headline: Any = None

    @property
    def href(self) -> str:
        """The page's file name, relative to the site root."""
        return f"{self.slug}.html"

    def walk(self) -> list[Page]:
        """This page followed by all its subpages, depth first."""
        pages = [self]
        for sub in self.subpages:
            pages.extend(sub.walk())
        return pages
