"""A coarse MNI brain grid and the planted regions of interest on it."""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import nibabel as nib
import numpy as np

# Sphere centers (MNI mm) and relative response gains. Left-lateralized fronto-temporal
# language network with a weaker right homologue; early visual cortex as a control region.
LANGUAGE_ROIS = {
    "L_IFG": ((-48.0, 20.0, 12.0), 1.0),
    "L_aTemp": ((-54.0, -8.0, -14.0), 1.0),
    "L_pTemp": ((-54.0, -40.0, 4.0), 1.0),
    "L_AngG": ((-44.0, -64.0, 28.0), 0.8),
    "R_pTemp": ((54.0, -36.0, 4.0), 0.6),
}
VISUAL_ROIS = {
    "L_V1": ((-14.0, -92.0, 2.0), 1.0),
    "R_V1": ((14.0, -92.0, 2.0), 1.0),
}


@cache
def _grid(voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    from nilearn.datasets import load_mni152_brain_mask
    from nilearn.image import resample_img

    template = load_mni152_brain_mask(resolution=1)
    affine = np.diag([voxel_size, voxel_size, voxel_size, 1.0])
    affine[:3, 3] = np.floor(template.affine[:3, 3] / voxel_size) * voxel_size
    span = np.array(template.shape) * np.abs(np.diag(template.affine)[:3])
    shape = tuple(int(s) for s in np.ceil(span / voxel_size).astype(int) + 1)
    data = template.get_fdata(dtype=np.float32)
    img = nib.Nifti1Image(data, template.affine)
    with warnings.catch_warnings():
        # Linear interpolation of the binary mask is wanted: it gives the fraction of brain in
        # each coarse voxel, thresholded at one half below.
        warnings.filterwarnings("ignore", message="Resampling binary images")
        coarse = resample_img(
            img,
            target_affine=affine,
            target_shape=shape,
            interpolation="linear",
            force_resample=True,
            copy_header=True,
        )
    return np.asarray(coarse.get_fdata() > 0.5), affine


def brain_grid(voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Return nilearn's bundled MNI152 brain mask resampled to ``voxel_size`` mm.

    Parameters
    ----------
    voxel_size : float
        Isotropic voxel size (mm).

    Returns
    -------
    mask : ndarray of bool, shape (x, y, z)
        Voxels inside the brain.
    affine : ndarray, shape (4, 4)
        Voxel-to-MNI affine.
    """
    mask, affine = _grid(float(voxel_size))
    return mask.copy(), affine.copy()


def voxel_coordinates(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return voxel indices ``(n_voxels, 3)`` (C order of ``mask``) and their MNI mm coordinates."""
    ijk = np.argwhere(mask)
    xyz = nib.affines.apply_affine(affine, ijk)
    return ijk, xyz


def voxel_dim_coords(ijk: np.ndarray, xyz: np.ndarray) -> dict[str, Any]:
    """Coordinates of a ``voxel`` dim: index, grid indices ``voxel_i/j/k`` and MNI ``x/y/z`` (mm).

    Parameters
    ----------
    ijk, xyz : ndarray, shape (n_voxels, 3)
        From :func:`voxel_coordinates`.

    Returns
    -------
    coords : dict
        For ``xarray.Dataset(coords=...)``.
    """
    return {
        "voxel": np.arange(len(xyz)),
        **{f"voxel_{axis}": ("voxel", ijk[:, n]) for n, axis in enumerate("ijk")},
        **{axis: ("voxel", xyz[:, n]) for n, axis in enumerate("xyz")},
    }


def roi_membership(
    xyz: np.ndarray, rois: dict[str, tuple[tuple[float, float, float], float]], radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return each voxel's ROI index (-1 outside every sphere) and gain.

    Parameters
    ----------
    xyz : ndarray, shape (n_voxels, 3)
        MNI coordinates (mm).
    rois : dict
        Name -> (center, gain), as :data:`LANGUAGE_ROIS`.
    radius : float
        Sphere radius (mm).

    Returns
    -------
    index : ndarray of int, shape (n_voxels,)
        Position of the voxel's ROI in ``rois`` (nearest center if spheres overlap), or -1.
    gain : ndarray of float, shape (n_voxels,)
        The ROI's gain, 0 outside.
    """
    centers = np.array([c for c, _ in rois.values()])
    gains = np.array([g for _, g in rois.values()])
    dist = np.linalg.norm(xyz[:, None, :] - centers[None], axis=2)
    nearest = dist.argmin(axis=1)
    inside = dist[np.arange(len(xyz)), nearest] <= radius
    index = np.where(inside, nearest, -1)
    return index, np.where(inside, gains[nearest], 0.0)


def to_volume(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Place per-voxel values (``(n_voxels, ...)``, C order of ``mask``) into a zero volume."""
    out = np.zeros(mask.shape + values.shape[1:], dtype=values.dtype)
    out[mask] = values
    return out
