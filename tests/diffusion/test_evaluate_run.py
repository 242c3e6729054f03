"""Evaluation of a real synthesis run (tiny SD from configs, an encoder file on a tiny CLIP)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuroalign.diffusion.evaluate import EvaluateSettings, evaluate_synthesis
from neuroalign.diffusion.settings import SynthesizeSettings
from neuroalign.diffusion.synthesize import synthesize
from neuroalign.models.random_init import init_model
from neuroalign.results import load_netcdf


def _encoder_file(root):
    tower = init_model("clip-vision-tiny", root / "tiny_clip", seed=1)
    rng = np.random.default_rng(0)
    n_units, n_vox = 32, 6
    xr.Dataset(
        {
            "weight": (("unit", "voxel"), rng.standard_normal((n_units, n_vox)).astype("f4")),
            "intercept": ("voxel", np.zeros(n_vox, "f4")),
            "feature_mean": ("unit", np.zeros(n_units, "f4")),
            "feature_scale": ("unit", np.ones(n_units, "f4")),
            "roi_A": ("voxel", (np.arange(n_vox) < 3).astype("i1")),
            "roi_B": ("voxel", (np.arange(n_vox) >= 3).astype("i1")),
        },
        attrs={
            "model": "tiny_clip",
            "model_source": f"path:{tower}",
            "units": "resid",
            "layer": 3,
            "pooling": "mean",
            "dataset": "sim_vision",
        },
    ).to_netcdf(root / "enc.nc")
    return root / "enc.nc"


def test_rescoring_agrees_with_the_run_and_guidance_shows(tiny_sd, tmp_path):
    folder, _ = tiny_sd
    encoder = _encoder_file(tmp_path)
    settings = SynthesizeSettings.from_config(
        {
            "dataset": "sim_vision",
            "encoder": "sim_vision",
            "steps": 3,
            "scheduler": "ddim",
            "scale": 2000.0,
            "seeds": {"base": 0, "n": 6},
            "batch_size": 3,
            "device": "cpu",
            "dtype": "float32",
            "rois": ["A"],
        }
    )
    run = synthesize(settings, encoder=encoder, pipeline=f"path:{folder}", output=tmp_path / "run")
    out = evaluate_synthesis(
        EvaluateSettings.from_config({"n_bootstrap": 100, "device": "cpu"}),
        manifest=run / "manifest.parquet",
        encoders={"guiding": encoder},
        output=tmp_path / "eval.nc",
    )
    ds = load_netcdf(out)
    # The evaluation's re-scoring of the PNGs is the run's own score of the ROI mean.
    rescored = ds["score"].sel(encoder="guiding", target="A", roi="A")
    np.testing.assert_allclose(rescored, ds["objective"].sel(target="A"), atol=1e-4)
    d = ds["diff"].sel(encoder="guiding", target="A")
    assert float(d.sel(stat="mean")) > 0 and float(d.sel(stat="frac_positive")) >= 5 / 6
    assert int(ds["top"].sel(target="A").sum()) == 2  # ceil(0.2 * 6)
    assert ds.attrs["simulated"] == "true"
