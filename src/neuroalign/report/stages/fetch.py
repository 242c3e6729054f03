"""Fetched datasets: one row per fetch stamp, one page per dataset with its files and checks.

Reads ``<data_root>/raw/<id>/.neuroalign-fetch-<subset>.json``, the stamp `neuroalign fetch` writes
once every file is verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign._io import sha256_file
from neuroalign.report._format import as_text, human_size, slugify
from neuroalign.report.blocks import DatasetEntry, Link, Page, Section, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.stages._read import read_json

STAMP_GLOB = "raw/*/.neuroalign-fetch-*.json"
MAX_FILE_ROWS = 1000  # a dataset page lists at most this many files


def collect(ctx: ReportContext) -> Page | None:
    """The page of fetched datasets, or None when no fetch stamp exists."""
    if ctx.data_root is None:
        return None
    stamps = _configured(ctx.config, sorted(ctx.data_root.glob(STAMP_GLOB)))
    if not stamps:
        return None
    subpages = [_dataset_page(ctx, ctx.read(stamp)) for stamp in stamps]
    rows = []
    for sub in subpages:
        entry = sub.datasets[0]
        rows.append(
            [
                Link(entry.id, sub.href),
                sub.extra["subset"],
                entry.title,
                entry.license,
                entry.files,
                human_size(entry.size),
                entry.checks,
                sub.extra["date"],
            ]
        )
    table = Table(
        ["dataset", "subset", "title", "license", "files", "size", "checks", "fetched"],
        rows,
        caption="Checks: every file listed in the stamp is present with its recorded size "
        "(and sha256, when the report was built with --verify-checksums).",
    )
    return Page(
        slug="fetch",
        title="Fetched datasets",
        summary=f"{len(subpages)} dataset subset(s) fetched",
        sections=[Section("Datasets", [table])],
        subpages=subpages,
        datasets=[sub.datasets[0] for sub in subpages],
    )


def _configured(config: Mapping[str, Any], stamps: list[Path]) -> list[Path]:
    """The stamps of the datasets and subsets the run's config names (all without a config):
    a data root shared by several runs holds other runs' datasets too."""
    if "datasets" not in config:
        return stamps
    wanted = {
        f"{dataset}/.neuroalign-fetch-{(entry or {}).get('subset')}.json"
        for dataset, entry in (config["datasets"] or {}).items()
    }
    return [s for s in stamps if f"{s.parent.name}/{s.name}" in wanted]


def _dataset_page(ctx: ReportContext, stamp: Path) -> Page:
    record = read_json(stamp)
    if not isinstance(record, Mapping):
        raise NeuroalignError(f"{stamp}: a fetch stamp must be a JSON object. Rerun the fetch.")
    folder = stamp.parent
    dataset_id = str(record.get("id") or folder.name)
    subset = str(record.get("subset") or stamp.stem.removeprefix(".neuroalign-fetch-"))
    slug = slugify(f"fetch-{dataset_id}-{subset}")
    files = record.get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, Mapping) for f in files):
        raise NeuroalignError(
            f"{stamp}: field 'files' must be a list of objects with path, size and sha256."
        )
    statuses = [_check_file(folder, f, ctx.verify_checksums) for f in files]
    total = sum(int(f.get("size") or 0) for f in files)
    entry = DatasetEntry(
        id=dataset_id,
        title=as_text(record.get("title")),
        simulated=False,
        href=f"{slug}.html",
        license=as_text(record.get("license")),
        citation=as_text(record.get("citation"), limit=1000),
        files=len(files),
        size=total,
        checks=_summarize(statuses, ctx.verify_checksums),
    )
    about = {
        "title": entry.title,
        "subset": subset,
        "license": entry.license,
        "citation": entry.citation,
        "fetched": as_text(record.get("date")),
        "files": len(files),
        "total size": human_size(total),
        "checks": entry.checks,
    }
    known = {"id", "title", "subset", "files", "license", "citation", "date"}
    about.update({k: as_text(v) for k, v in record.items() if k not in known})
    file_rows = [
        [
            as_text(f.get("path")),
            human_size(_int_or_none(f.get("size"))),
            as_text(f.get("sha256")),
            status,
            as_text(f.get("url")),
        ]
        for f, status in zip(files, statuses, strict=True)
    ]
    return Page(
        slug=slug,
        title=f"Dataset {dataset_id} ({subset})",
        summary=entry.title,
        sections=[
            Section("About", [Table(["field", "value"], [[k, v] for k, v in about.items()])]),
            Section(
                "Files",
                [
                    Text(f"Stamp: {stamp.name}"),
                    Table(
                        ["path", "size", "sha256", "check", "source"],
                        file_rows[:MAX_FILE_ROWS],
                        caption=""
                        if len(file_rows) <= MAX_FILE_ROWS
                        else f"The first {MAX_FILE_ROWS} of {len(file_rows)} files; the "
                        "checks above cover them all.",
                    ),
                ],
            ),
        ],
        datasets=[entry],
        extra={"subset": subset, "date": about["fetched"]},
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _check_file(folder: Path, info: Mapping[str, Any], verify: bool) -> str:
    """Status of one file of a stamp; statuses ending in " ok" passed."""
    path = Path(str(info.get("path", "")))
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        return "missing"
    size = _int_or_none(info.get("size"))
    if size is not None and path.stat().st_size != size:
        return f"size differs ({path.stat().st_size} bytes)"
    if verify and info.get("sha256"):
        if sha256_file(path) != info["sha256"]:
            return "sha256 differs"
        return "sha256 ok"
    return "size ok"


def _summarize(statuses: list[str], verify: bool) -> str:
    bad = [s for s in statuses if not s.endswith(" ok")]
    if not statuses:
        return "no files listed"
    if not bad:
        what = "sha256 verified" if verify else "present, sizes match"
        return f"all {len(statuses)} {what}"
    missing = sum(s == "missing" for s in bad)
    differ = len(bad) - missing
    parts = [f"{missing} missing"] * bool(missing) + [f"{differ} differ"] * bool(differ)
    return f"{', '.join(parts)} of {len(statuses)}"
