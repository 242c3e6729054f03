"""Brain maps of the report: voxel maps on the MNI template (nilearn) and sensor topographies (MNE).

As in `neuroalign.report.figures`, every function takes saved values (NIfTI images, arrays, an
``mne.Info``) and returns a `matplotlib.figure.Figure` drawn without pyplot. nilearn draws over
the MNI152 template it ships, so nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

OUTLINE_COLOR = "#1b1b1b"


def _limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


def glass_brain_figure(img, *, title: str, outline=None, threshold: float = 1e-6) -> Figure:
    """A glass brain (sagittal, axial, coronal and right projections) of a volume in MNI space.

    Parameters
    ----------
    img : nibabel.Nifti1Image
        A 3-D map (held-out r, say); values whose magnitude is below ``threshold`` are not drawn.
    title : str
    outline : nibabel.Nifti1Image, optional
        A 0/1 mask on the same grid, drawn as outlines (the planted voxels of a simulation).
    threshold : float

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from nilearn import plotting

    fig = Figure(figsize=(9, 3.2))
    vmax = _limit(np.asarray(img.dataobj))
    display = plotting.plot_glass_brain(
        img,
        figure=fig,
        display_mode="lzry",
        plot_abs=False,
        colorbar=True,
        cmap="RdBu_r",
        vmin=-vmax,
        vmax=vmax,
        threshold=threshold,
        title=title,
    )
    if outline is not None and np.any(np.asarray(outline.dataobj) > 0):
        display.add_contours(outline, levels=[0.5], colors=OUTLINE_COLOR, linewidths=1.0)
    return fig


def stat_map_figure(img, *, title: str, n_cuts: int = 6, threshold: float = 1e-6) -> Figure:
    """Axial slices of a volume over nilearn's bundled MNI152 template.

    Parameters
    ----------
    img : nibabel.Nifti1Image
        A 3-D map in MNI space.
    title : str
    n_cuts : int
        Number of axial slices, spread over the volume.
    threshold : float
        Values whose magnitude is below it are not drawn.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from nilearn import datasets, plotting

    fig = Figure(figsize=(10, 2.6))
    vmax = _limit(np.asarray(img.dataobj))
    plotting.plot_stat_map(
        img,
        bg_img=datasets.load_mni152_template(resolution=2),
        figure=fig,
        display_mode="z",
        cut_coords=n_cuts,
        cmap="RdBu_r",
        vmax=vmax,
        threshold=threshold,
        colorbar=True,
        title=title,
    )
    return fig


def topomap_figure(
    maps: Mapping[str, np.ndarray],
    info,
    *,
    masks: Mapping[str, np.ndarray] | None = None,
) -> Figure:
    """One sensor topography per map, each on a symmetric colour scale with its colour bar.

    Parameters
    ----------
    maps : mapping of title to array of shape (n_sensors,)
        Values in the channel order of ``info``.
    info : mne.Info
        Sensor positions (from the Evoked file ``neuroalign encode meg`` writes).
    masks : mapping of title to array of bool, shape (n_sensors,), optional
        Sensors to mark on the map of the same title (q < 0.05, say).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from mne.viz import plot_topomap

    n_sensors = len(info["ch_names"])
    fig = Figure(figsize=(3.0 * len(maps), 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    for ax, (title, values) in zip(axes, maps.items(), strict=True):
        values = np.asarray(values, float)
        if values.shape != (n_sensors,):
            raise ValueError(
                f"Topography {title!r} has shape {values.shape} but the Info has {n_sensors} "
                "channels; give one value per channel, in its order."
            )
        mask = None if masks is None else masks.get(title)
        limit = _limit(values)
        image, _ = plot_topomap(
            values,
            info,
            axes=ax,
            show=False,
            cmap="RdBu_r",
            vlim=(-limit, limit),
            mask=mask,
            mask_params={"marker": "o", "markerfacecolor": "w", "markersize": 3},
            contours=4,
        )
        fig.colorbar(image, ax=ax, shrink=0.7)
        ax.set_title(title, fontsize=9)
    return fig
