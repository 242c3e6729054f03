"""The decoding page: score table, figure, retrieval examples and the image-metric table."""

import numpy as np
import pytest
import xarray as xr

from neuroalign.report.context import ReportContext
from neuroalign.report.stages import vision_decode
from neuroalign.results import write_netcdf
from neuroalign.vision.decode import _to_dataset, decode_arrays


def test_decode_page(tmp_path):
    rng = np.random.default_rng(0)
    E = rng.standard_normal((120, 8))
    X = E @ rng.standard_normal((8, 60)) + 0.5 * rng.standard_normal((120, 60))
    fit = decode_arrays(X, E, np.arange(100), np.arange(100, 120), n_bootstrap=50, n_subsets=3)
    ids = np.array([f"img{i}" for i in range(120)])
    split = np.where(np.arange(120) < 100, "train", "test")
    ds = _to_dataset(fit, ids, split, np.arange(100, 120))
    ds.attrs.update({"n_test_images": 20, "model": "tiny"})
    run = tmp_path / "vision" / "decode" / "sim_vision" / "sub-01" / "tiny"
    run.mkdir(parents=True)
    write_netcdf(ds, run / "decode.nc")
    (run / "metrics").mkdir()
    metrics = xr.Dataset(
        {
            "value": ("metric", [0.4, 0.9]),
            "low": ("metric", [0.3, 0.8]),
            "high": ("metric", [0.5, 1.0]),
            "chance": ("metric", [np.nan, 0.5]),
            "higher_is_better": ("metric", [True, True]),
        },
        coords={"metric": ["pixcorr", "clip"]},
        attrs={"extractors": "random"},
    )
    write_netcdf(metrics, run / "metrics" / "demo.nc")
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "site")
    page = vision_decode.collect(ctx)
    assert page is not None and page.simulated
    tables = [b for b in page.sections[0].blocks if hasattr(b, "rows")]
    scores = tables[0].rows
    assert scores[0][0] == "2-way identification"
    assert float(scores[0][1]) == round(fit.scores["two_way"]["value"], 3)
    assert scores[0][3] == "0.500"
    examples = tables[1].rows
    assert len(examples) == vision_decode.N_EXAMPLES and examples[0][0] == "img100"
    metric_table = tables[-1].rows
    assert metric_table[0][:2] == ["PixCorr", "0.400"] and metric_table[1][3] == "0.500"
    assert (tmp_path / "site" / "figures").is_dir()
    # the index headline: 2-way identification with its interval and chance
    head = page.headline
    assert head.label == "2-way identification" and head.has_interval
    assert head.value == pytest.approx(fit.scores["two_way"]["value"])
    assert "95% bootstrap interval" in head.text() and "chance 0.500" in head.text()


def test_no_results_no_page(tmp_path):
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "site")
    assert vision_decode.collect(ctx) is None
