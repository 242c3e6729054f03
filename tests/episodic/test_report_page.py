"""The report page of the stage, built from results of the hand-built model."""

import numpy as np
import pandas as pd
import pytest

from neuroalign.episodic.analysis import analyze_heads, run_ablation, trajectory
from neuroalign.episodic.cmr import cmr_grid
from neuroalign.episodic.human_cmr import human_cmr
from neuroalign.episodic.probes import make_probe
from neuroalign.episodic.recall import recall_curves
from neuroalign.episodic.settings import GridSettings, HeadSettings
from neuroalign.report.blocks import Notice
from neuroalign.report.context import ReportContext
from neuroalign.report.stages.episodic import collect
from neuroalign.results import write_netcdf


def _human():
    rows = []
    for lst, order in enumerate(["abcdef", "fabcde", "cdefab"], start=1):
        rows += [(1, lst, i, "study", it) for i, it in enumerate("abcdef", start=1)]
        rows += [(1, lst, i, "recall", it) for i, it in enumerate(order, start=1)]
    table = pd.DataFrame(rows, columns=["subject", "list", "position", "trial_type", "item"])
    return recall_curves(table, dataset="toy").expand_dims(dataset=["toy"])


def test_page_shows_heads_ablation_human_and_training(induction_model, vocab, tmp_path):
    model, arch = induction_model
    config = HeadSettings(half_len=20, n_seq=4, max_lag=8, n_copy_seq=1)
    rng = np.random.default_rng(0)
    probes = {
        kind: make_probe(kind, n_seq=4, half_len=20, vocab=vocab, rng=rng, bos_id=0)
        for kind in ("repeat", "permuted")
    }
    grid = cmr_grid(
        GridSettings(beta_enc=(0.5, 1.0), beta_rec=(0.0, 1.0), gamma_ft=(0.0,), n_runs=2)
    )
    human = _human()
    fits = human_cmr(human, grid, fit_lag=config.fit_lag)
    human = human.merge(fits)
    human.attrs = fits.attrs
    assert np.isfinite(human.group_cmr_fit_beta_rec).all()
    heads = analyze_heads(model, arch, probes, config, grid=grid, human=human)
    assert heads.human_jsd.dims == ("dataset", "probe", "layer", "head")
    assert float(heads.cmr_distance.sel(probe="repeat", layer=1, head=0)) < 1e-6
    root = tmp_path / "results" / "episodic"
    write_netcdf(heads, root / "heads" / "hand.nc")
    write_netcdf(human, root / "human.nc")
    ablation = run_ablation(model, arch, heads, probes, config, k=1, n_random=2)
    write_netcdf(ablation, root / "ablation" / "hand.nc")
    write_netcdf(trajectory({"a": heads, "b": heads}), root / "trajectory" / "run.nc")
    site = tmp_path / "site"
    (site / "figures").mkdir(parents=True)
    ctx = ReportContext(config={}, results=tmp_path / "results", data_root=None, site=site)
    page = collect(ctx)
    assert page is not None
    assert [p.slug for p in page.subpages] == ["episodic-hand", "episodic-training-run"]
    assert page.headline is page.subpages[0].headline  # the index shows the model's top head
    assert page.headline.text().startswith("hand: top induction score (head L")
    # its interval: the top head's mean over sequences +- 1.96 standard errors of that mean
    rep = heads.sel(probe="repeat")
    values = rep.induction_score.values
    layer, head = np.unravel_index(int(np.nanargmax(values)), values.shape)
    top = rep.isel(layer=layer, head=head)
    assert page.headline.has_interval
    assert page.headline.value == pytest.approx(float(top.induction_score))
    half = page.headline.high - page.headline.value
    assert half == pytest.approx(1.96 * float(top.induction_score_sem))
    figures = sorted(p.name for p in (site / "figures").glob("*.png"))
    assert len(figures) == 6
    assert "episodic-hand-cmr-params.png" in figures
    human_section = page.sections[0]
    assert human_section.blocks[-1].columns[:3] == ["dataset", "curve", "beta_enc"]
    assert str(root / "heads" / "hand.nc") in ctx.inputs
    # a grid of 2 runs per point gives low-precision fits: both the human and the model pages say
    for where in (page, page.subpages[0]):
        notices = [b.text for sec in where.sections for b in sec.blocks if isinstance(b, Notice)]
        assert any("low-precision" in t.lower() and "2 runs" in t for t in notices), notices


def test_no_results_no_page(tmp_path):
    site = tmp_path / "site"
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=site)
    assert collect(ctx) is None


def test_model_page_without_human_results_draws_no_empty_panel(induction_model, vocab, tmp_path):
    """Without human free recall, the lag figure's human panel says so instead of empty axes."""
    from neuroalign.report.blocks import Figure

    model, arch = induction_model
    config = HeadSettings(half_len=20, n_seq=4, max_lag=8, n_copy_seq=1)
    rng = np.random.default_rng(0)
    probes = {
        kind: make_probe(kind, n_seq=4, half_len=20, vocab=vocab, rng=rng, bos_id=0)
        for kind in ("repeat", "permuted")
    }
    heads = analyze_heads(model, arch, probes, config)
    root = tmp_path / "results" / "episodic"
    write_netcdf(heads, root / "heads" / "hand.nc")
    site = tmp_path / "site"
    (site / "figures").mkdir(parents=True)
    ctx = ReportContext(config={}, results=tmp_path / "results", data_root=None, site=site)
    page = collect(ctx)
    figures = [b for sec in page.subpages[0].sections for b in sec.blocks if isinstance(b, Figure)]
    lags = next(f for f in figures if f.src.endswith("episodic-hand-lags.png"))
    assert lags.n_axes == 2
    assert lags.n_empty == 0
    assert all(f.n_empty == 0 for f in figures)
