"""Maps on an encoding fit's page: voxel maps on the MNI template, sensor topographies, lags.

The fMRI maps need the NIfTI folder ``<stem>_maps/`` that ``neuroalign encode fmri`` writes next
to its netCDF (for the grid and affine); the MEG topographies need the Evoked file
``<stem>_trf-ave.fif`` of ``neuroalign encode meg`` (for the sensor positions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report.blocks import Block, Notice
from neuroalign.report.brain_maps import glass_brain_figure, stat_map_figure, topomap_figure
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR, RECOVERED_COLOR

Q_LEVEL = 0.05


def map_blocks(ctx: ReportContext, slug: str, ds: xr.Dataset, path: Path, kind: str) -> list[Block]:
    """The map figures of one fit: fMRI voxel maps or MEG topographies and per-lag scores."""
    if kind == "fmri":
        return _fmri_maps(ctx, slug, ds, path.with_name(path.stem + "_maps") / "r.nii.gz")
    if kind == "meg":
        return _meg_maps(ctx, slug, ds, path.with_name(path.stem + "_trf-ave.fif"))
    return []


def _fmri_maps(ctx: ReportContext, slug: str, ds: xr.Dataset, ref: Path) -> list[Block]:
    import nibabel as nib

    if not ref.is_file() or "voxel_i" not in ds.coords:
        return [Notice(f"No voxel maps: {ref} is missing; rerun `neuroalign encode fmri`.")]
    grid = nib.load(ctx.read(ref))
    ijk = tuple(ds[c].values.astype(int) for c in ("voxel_i", "voxel_j", "voxel_k"))

    def volume(values) -> nib.Nifti1Image:
        vol = np.zeros(grid.shape[:3], np.float32)
        vol[ijk] = np.nan_to_num(np.asarray(values, np.float32))
        return nib.Nifti1Image(vol, grid.affine)

    r = ds["r"].values
    found = ds["q"].values < Q_LEVEL if "q" in ds else np.ones(r.shape, bool)
    planted = "planted_language" in ds
    outline = volume(ds["planted_language"].values) if planted else None
    note = " Black outlines: the planted language voxels." if planted else ""
    return [
        ctx.save_figure(
            glass_brain_figure(
                volume(np.where(found, r, 0.0)), title=f"r, q < {Q_LEVEL}", outline=outline
            ),
            f"{slug}-glass-brain",
            alt=f"Glass brain of held-out r at voxels with q < {Q_LEVEL}",
            caption=f"Held-out r of the voxels with q < {Q_LEVEL} (Benjamini-Hochberg over "
            f"voxels), projected through an MNI glass brain (left, top, back, right).{note}",
        ),
        ctx.save_figure(
            stat_map_figure(volume(r), title="held-out r"),
            f"{slug}-stat-map",
            alt="Axial slices of held-out r over the MNI152 template",
            caption="Held-out r of every voxel on axial slices of the MNI152 template "
            "(nilearn's bundled copy), unthresholded: red is predicted, blue anti-predicted.",
        ),
    ]


def _meg_maps(ctx: ReportContext, slug: str, ds: xr.Dataset, fif: Path) -> list[Block]:
    import mne

    if not fif.is_file():
        return [Notice(f"No sensor topographies: {fif} is missing; rerun `neuroalign encode meg`.")]
    evoked = mne.read_evokeds(ctx.read(fif), verbose="error")[0]
    sensors = [str(s) for s in ds["sensor"].values]
    missing = sorted(set(sensors) - set(evoked.ch_names))
    if missing:
        return [Notice(f"No sensor topographies: {fif} lacks sensors {missing[:5]}.", "warning")]
    info = mne.pick_info(evoked.info, [evoked.ch_names.index(s) for s in sensors])
    r = ds["r"].values
    maps = {"held-out r": r}
    masks = {"held-out r": ds["q"].values < Q_LEVEL} if "q" in ds else None
    lags = ds["lag"].values
    if "r_by_lag" in ds:
        by_lag = ds["r_by_lag"].transpose("lag", "sensor").values
        peak = int(np.argmax(np.nanmean(by_lag, axis=1)))
        maps[f"r of lag {lags[peak]:.2f} s"] = by_lag[peak]
    for predictor in ds["predictor"].values[:2]:
        trf = ds["trf"].sel(predictor=predictor).transpose("lag", "sensor").values
        at = int(np.argmax(np.sqrt((trf**2).mean(axis=1))))
        maps[f"{predictor} TRF at {lags[at]:.2f} s"] = trf[at]
    blocks: list[Block] = [
        ctx.save_figure(
            topomap_figure(maps, info, masks=masks),
            f"{slug}-topomaps",
            alt="Sensor topographies of held-out r, of the per-lag r at its peak, and of TRFs",
            caption=f"Sensor topographies (seen from above, nose up): held-out r (white dots: "
            f"q < {Q_LEVEL}); r of the prediction carried by the lag where sensors are best "
            "predicted on average; and the TRF of the word-onset impulse and of the first "
            "feature component, each at its peak lag (largest RMS over sensors).",
        )
    ]
    if "r_by_lag" in ds:
        blocks.append(
            ctx.save_figure(
                _lag_figure(lags, by_lag, r),
                f"{slug}-r-by-lag",
                alt="Held-out r per lag: mean over sensors and the best sensors",
                caption="Time-resolved scores: r on the held-out blocks of the part of the "
                "prediction carried by each lag, averaged over sensors (thick) and for the five "
                "sensors with the highest held-out r (thin). Positive lags follow the word.",
            )
        )
    return blocks


def _lag_figure(lags: np.ndarray, by_lag: np.ndarray, r: np.ndarray) -> MplFigure:
    fig = MplFigure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.subplots()
    for k in np.argsort(r)[::-1][:5]:
        ax.plot(lags, by_lag[:, k], color=RECOVERED_COLOR, lw=0.8, alpha=0.7)
    ax.plot(lags, np.nanmean(by_lag, axis=1), color=PLANTED_COLOR, lw=2.5, label="mean")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("lag (s)")
    ax.set_ylabel("held-out r of the lag's prediction")
    ax.legend(fontsize=8)
    return fig
