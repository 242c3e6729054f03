"""Build the static HTML report: collect every stage's page, render them, write the site atomically.

The report reads saved results only; it never reruns an analysis. Everything it reads is optional:
a stage without results simply has no page. `build_report` is the stage (``neuroalign report``,
rule ``build_report``); its settings are the configuration's ``report`` section
(`ReportSettings`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import jinja2
import yaml

from neuroalign import __version__
from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, config_hash, git_commit, sha256_file
from neuroalign._yaml import load_yaml
from neuroalign.report._format import as_text, human_size
from neuroalign.report.blocks import Code, Link, Page, Section, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.pages import Collector, load_collectors
from neuroalign.report.provenance import (
    environment,
    input_checksums,
    package_versions,
    result_provenance,
)
from neuroalign.settings import StageSettings

logger = logging.getLogger(__name__)

#: Hidden file that marks a folder as a neuroalign report (only such folders are replaced).
MARKER = ".neuroalign-report"
RESERVED = ("index", "provenance")


@dataclass(frozen=True)
class ReportSettings(StageSettings):
    """Settings of the HTML report: the ``report`` section of the configuration.

    Attributes
    ----------
    title : str
        Title of the report.
    """

    SECTION: ClassVar[str] = "#/properties/report"

    title: str = "neuroalign report"


def load_run_config(value: str | Path) -> tuple[dict[str, Any], Path | None]:
    """Load the run's configuration from a YAML/JSON file or from inline JSON text.

    Parameters
    ----------
    value : str or Path
        A file path, or a JSON object as text (what the workflow passes).

    Returns
    -------
    config : dict
    path : Path or None
        The file it came from (None for inline JSON).
    """
    text = str(value)
    if text.lstrip().startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as err:
            raise NeuroalignError(f"--config: inline JSON is not valid ({err}).") from None
        path = None
    else:
        path = Path(text)
        config = load_yaml(path) or {}
    if not isinstance(config, Mapping):
        where = path or "--config"
        raise NeuroalignError(f"{where}: the configuration must be a mapping of keys to values.")
    return dict(config), path


def build_report(
    settings: ReportSettings | None = None,
    *,
    output: str | Path,
    config: Mapping[str, Any] | None = None,
    config_path: str | Path | None = None,
    results: str | Path | None = None,
    data_root: str | Path | None = None,
    inputs: Iterable[str | Path] = (),
    verify_checksums: bool = False,
    collectors: Mapping[str, Collector] | None = None,
) -> Path:
    """Write the HTML report whose index page is ``output``.

    The site (index, one page per stage and per dataset or stimulus set, ``figures/``,
    ``style.css``, ``provenance.json``) is built in a temporary folder and renamed onto
    ``output``'s folder only when every page succeeded, so a failed build leaves no half site.

    Parameters
    ----------
    settings : ReportSettings, optional
        The report's settings; default: the ``report`` section of ``config`` (schema defaults
        where it has none).
    output : str or Path
        Path of the index page, e.g. ``results/report/index.html``. Its folder holds the site
        and is replaced as a whole; it must be new, empty or a previous report.
    config : mapping, optional
        The run's configuration (shown with its hash on the provenance page).
    config_path : str or Path, optional
        The file the configuration came from; its checksum is recorded.
    results : str or Path, optional
        The results folder the stages wrote to.
    data_root : str or Path, optional
        The data folder (holding ``raw/<dataset>/``).
    inputs : iterable of str or Path
        More files whose checksums the provenance page records.
    verify_checksums : bool
        Recompute the sha256 of every fetched file (slow for large datasets) instead of
        checking sizes.
    collectors : mapping of str to callable, optional
        Stage name -> ``collect(ctx)``; default: every stage in `pages.STAGE_PAGES`.

    Returns
    -------
    index : Path
        The index page.

    Examples
    --------
    >>> build_report(ReportSettings(title="My run"), output="results/report/index.html",
    ...              results="results", data_root="data")  # doctest: +SKIP
    """
    output = Path(output)
    if output.suffix != ".html":
        raise NeuroalignError(
            f"--output {output}: must be an .html file (e.g. results/report/index.html)."
        )
    site = output.absolute().parent
    _check_replaceable(site, output)
    config = dict(config or {})
    if settings is None:
        report = config.get("report")
        settings = ReportSettings.from_config(
            report if isinstance(report, Mapping) else {}, source="config 'report'"
        )
    title = settings.title
    collectors = load_collectors() if collectors is None else collectors
    with atomic_path(site) as tmp:
        tmp.mkdir()
        ctx = ReportContext(
            config=config,
            results=None if results is None else Path(results),
            data_root=None if data_root is None else Path(data_root),
            site=tmp,
            verify_checksums=verify_checksums,
        )
        if config_path is not None:
            ctx.read(config_path)
        for path in inputs:
            ctx.read(path)
        stages: list[tuple[str, Page]] = []
        for name, collect in collectors.items():
            page = collect(ctx)
            logger.info("stage %s: %s", name, "page" if page else "no results")
            if page is not None:
                stages.append((name, page))
        provenance = _provenance(ctx, config, config_path)
        provenance_page = _provenance_page(provenance, config)
        _check_slugs([p for _, page in stages for p in page.walk()])
        _render_site(tmp, output.name, title, stages, provenance_page, provenance, collectors)
    logger.info("report written to %s", output)
    return output


def _check_replaceable(site: Path, output: Path) -> None:
    """Refuse to replace a folder that holds anything but a previous report."""
    if not site.exists():
        return
    if not site.is_dir():
        raise NeuroalignError(f"--output {output}: {site} exists and is not a folder.")
    if any(site.iterdir()) and not (site / MARKER).is_file():
        raise NeuroalignError(
            f"--output {output}: the folder {site} is not empty and holds no previous report; "
            "the report replaces its whole folder, so pick a new or empty one "
            "(e.g. results/report/index.html)."
        )


def _check_slugs(pages: list[Page]) -> None:
    seen: set[str] = set(RESERVED)
    for page in pages:
        if page.slug in seen:
            raise ValueError(
                f"Two report pages are named {page.slug!r}; page slugs must be unique."
            )
        seen.add(page.slug)


def _provenance(
    ctx: ReportContext, config: Mapping[str, Any], config_path: str | Path | None
) -> dict[str, Any]:
    return {
        "neuroalign_version": __version__,
        "git_commit": git_commit(),
        "environment": environment(),
        "packages": package_versions(),
        "config_hash": config_hash(config),
        "config_source": str(config_path) if config_path is not None else "inline or none",
        "config_sha256": (
            sha256_file(config_path)
            if config_path is not None and Path(config_path).is_file()
            else None
        ),
        "config": config,
        "results": None if ctx.results is None else str(ctx.results),
        "data_root": None if ctx.data_root is None else str(ctx.data_root),
        "inputs": input_checksums(ctx.inputs),
        "results_provenance": result_provenance(ctx.inputs),
    }


def _provenance_page(provenance: Mapping[str, Any], config: Mapping[str, Any]) -> Page:
    env = provenance["environment"]
    about = [
        ["neuroalign", provenance["neuroalign_version"]],
        ["git commit", provenance.get("git_commit") or "not run from a git checkout"],
        ["config hash", provenance["config_hash"]],
        ["config file", provenance["config_source"]],
        ["config file sha256", provenance.get("config_sha256") or "no file"],
        *[[k, v] for k, v in env.items()],
        ["results folder", as_text(provenance["results"])],
        ["data folder", as_text(provenance["data_root"])],
    ]
    packages = [[name, version] for name, version in provenance["packages"].items()]
    inputs = [[row["path"], human_size(row["size"]), row["sha256"]] for row in provenance["inputs"]]
    config_text = (
        yaml.safe_dump(config, sort_keys=False, default_flow_style=False) if config else ""
    )
    made = provenance.get("results_provenance", [])
    made_rows = [
        [
            r["file"],
            r["stage"],
            r["git_commit"] or "not recorded",
            f"{r['config_file']} (sha256 {r['config_file_sha256']})"
            if r["config_file"]
            else (f"settings hash {r['config_hash']}" if r["config_hash"] else "not recorded"),
            f"{r['model_source']} (revision {r['model_revision']})" if r["model_source"] else "",
            r["weights_sha256"],
            r["input_sha256"],
        ]
        for r in made
    ]
    return Page(
        slug="provenance",
        title="Provenance",
        summary="versions, configuration and input checksums",
        sections=[
            Section("Environment", [Table(["field", "value"], about)]),
            Section("Package versions", [Table(["package", "version"], packages)]),
            Section(
                "Results",
                [
                    Table(
                        [
                            "result",
                            "stage",
                            "git commit",
                            "config file",
                            "model",
                            "weights sha256",
                            "inputs sha256",
                        ],
                        made_rows,
                        caption="What each result the report read records about how it was "
                        "made: the git commit of the checkout, the settings file it ran with "
                        "and its sha256, the model source with its revision (a hub snapshot's "
                        "commit, or local and the folder) and the sha256 of its weight files, "
                        "and the sha256 of its input files.",
                    )
                ]
                if made_rows
                else [Text("The report read no result file.")],
            ),
            Section(
                "Configuration",
                [
                    Text(
                        f"Config hash: {provenance['config_hash']} "
                        f"(source: {provenance['config_source']})."
                    ),
                    Code(config_text) if config_text else Text("No configuration was given."),
                ],
            ),
            Section(
                "Inputs",
                [
                    Table(
                        ["file", "size", "sha256"],
                        inputs,
                        caption="Every file the report read, with its sha256 at build time.",
                    )
                ]
                if inputs
                else [Text("No input files were read.")],
            ),
        ],
    )


def _models(config: Mapping[str, Any]) -> list[list[str]]:
    """Rows (name, source, settings) for the config's ``models`` key, a mapping or a list."""
    models = config.get("models")
    if isinstance(models, Mapping):
        items = [(str(k), v) for k, v in models.items()]
    elif isinstance(models, list):
        items = []
        for i, item in enumerate(models):
            if isinstance(item, Mapping):
                name = item.get("name") or item.get("id") or item.get("source") or f"model {i}"
                items.append((str(name), item))
            else:
                items.append((str(item), item))
    else:
        return []
    rows = []
    for name, spec in items:
        if isinstance(spec, Mapping):
            source = as_text(spec.get("source") or spec.get("id") or "")
            rest = {k: v for k, v in spec.items() if k not in ("name", "source", "id")}
            rows.append([name, source, as_text(rest) if rest else ""])
        else:
            rows.append([name, as_text(spec), ""])
    return rows


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("neuroalign.report") / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.tests["link"] = lambda value: isinstance(value, Link)
    env.filters["kind"] = lambda block: type(block).__name__.lower()
    return env


def _render_site(
    site: Path,
    index_name: str,
    title: str,
    stages: list[tuple[str, Page]],
    provenance_page: Page,
    provenance: Mapping[str, Any],
    collectors: Mapping[str, Collector],
) -> None:
    env = _environment()
    nav = [{"title": page.title, "href": page.href} for _, page in stages]
    nav.append({"title": provenance_page.title, "href": provenance_page.href})
    common = {
        "report_title": title,
        "index_href": index_name,
        "nav": nav,
        "version": __version__,
        "built": provenance["environment"]["date"],
        "config_hash": provenance["config_hash"],
    }
    datasets = [entry for _, page in stages for p in page.walk() for entry in p.datasets]
    datasets = list({(d.id, d.href): d for d in datasets}.values())
    index = env.get_template("index.html.j2").render(
        **common,
        page_title=title,
        datasets=datasets,
        models=_models(provenance["config"]),
        stages=[{"name": name, "page": page} for name, page in stages],
        absent=[name for name in collectors if name not in dict(stages)],
        provenance_href=provenance_page.href,
    )
    (site / index_name).write_text(index, encoding="utf-8")
    parents: dict[str, Page | None] = {provenance_page.slug: None}
    for _, page in stages:
        for p in page.walk():
            parents.update({sub.slug: p for sub in p.subpages})
            parents.setdefault(p.slug, None)
    for page in [p for _, stage in stages for p in stage.walk()] + [provenance_page]:
        html = env.get_template(page.template).render(
            **common, page_title=f"{page.title} · {title}", page=page, parent=parents[page.slug]
        )
        (site / page.href).write_text(html, encoding="utf-8")
    css = (resources.files("neuroalign.report") / "static" / "style.css").read_text()
    (site / "style.css").write_text(css, encoding="utf-8")
    provenance_json = json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n"
    (site / "provenance.json").write_text(provenance_json, encoding="utf-8")
    (site / MARKER).write_text(json.dumps({"neuroalign": __version__}) + "\n", encoding="utf-8")
