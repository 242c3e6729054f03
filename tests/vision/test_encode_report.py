"""The vision encoding report page renders from a saved result: sweep, table, recovery, map."""

from __future__ import annotations

import nibabel as nib
import numpy as np
from _vision_encode_sim import simulate

from neuroalign.report.build import build_report
from neuroalign.report.pages import STAGE_PAGES, load_collectors
from neuroalign.results import write_netcdf
from neuroalign.vision.encode import encode_arrays
from neuroalign.vision.settings import VisionEncodeSettings


def test_page_renders(tmp_path):
    sim = simulate(seed=5, n_train=120, n_test=40, second_model=True)
    settings = VisionEncodeSettings.from_config(
        {
            "dataset": "sim_vision",
            "models": ["planted", "other"],
            "alphas": [1, 100],
            "n_permutations": 50,
            "n_bootstrap": 30,
            "device": "cpu",
            "seed": 0,
        }
    )
    ds = encode_arrays(
        settings,
        features=sim.features,
        Y=sim.Y,
        train=sim.train,
        test=sim.test,
        ceiling=sim.ceiling,
        rois=sim.rois,
        planted={"responsive": sim.responsive},
    )
    ds.attrs.update(dataset="sim_vision", simulated="true", q_level=0.05)
    out = tmp_path / "results" / "vision" / "encoding" / "sim_vision" / "sub-01.nc"
    out.parent.mkdir(parents=True)
    write_netcdf(ds, out)
    maps = out.with_name("sub-01_maps")
    maps.mkdir()
    vol = np.zeros((10, 12, 10), np.float32)
    vol.flat[: ds.sizes["voxel"]] = np.nan_to_num(ds["best_normalized"].values)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = [-20, -30, -10]
    nib.save(nib.Nifti1Image(vol, affine), maps / "best_normalized.nii.gz")
    assert "vision_encode" in STAGE_PAGES
    index = build_report(
        output=tmp_path / "report" / "index.html",
        results=tmp_path / "results",
        collectors=load_collectors(["vision_encode"]),
    )
    html = (index.parent / "vision-encode-sim_vision_sub-01.html").read_text()
    assert "Simulated data" in html
    assert "planted layer 0" in html and "planted layer 2" in html
    assert "precision" in html and "runner-up" in html
    figures = sorted(p.name for p in (index.parent / "figures").iterdir())
    assert figures == [
        "vision-encode-sim_vision_sub-01-layers.png",
        "vision-encode-sim_vision_sub-01-map.png",
    ]
    assert "Vision encoding" in index.read_text()
    # the headline: the best ROI's normalized score with its bootstrap interval, on the index
    j = int(np.nanargmax(ds["best_score"].values))
    low, high = (f"{float(ds[k].values[j]):.3f}" for k in ("best_low", "best_high"))
    expected = f"{float(ds['best_score'].values[j]):.3f} (bootstrap 95% interval over test images"
    assert f"{expected} [{low}, {high}])" in index.read_text()
    assert "Headline: sim_vision/sub-01: " in html
