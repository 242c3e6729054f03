"""What guidance raises: a weighted sum of the encoder's predicted voxels.

Every objective here is linear in the predicted responses ``pred`` (batch, n_voxels), so it is
one weight vector ``w`` over the voxels and its value is ``pred @ w``:

==========  =======================================  ==========================================
kind        config                                   weights
==========  =======================================  ==========================================
roi         ``{roi: FFA}``                           ``1 / |FFA|`` on the ROI's voxels
weighted    ``{voxels: [3, 7], weights: [2, 1]}``    the given weights (default equal, sum 1)
mask        ``{mask: [true, false, ...]}``           ``1 / n_true`` on the true voxels
contrast    ``{contrast: [A, B], lambda: 0.5}``      ``1/|A|`` on A minus ``lambda/|B|`` on B
==========  =======================================  ==========================================

A voxel in both A and B of a contrast gets both terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuroalign._check import NeuroalignError, suggest

__all__ = ["Objective", "build_objective", "objectives_for"]


@dataclass(frozen=True)
class Objective:
    """A named linear objective over the encoder's voxels.

    Attributes
    ----------
    name : str
        Where its images go (``<output>/<name>/``).
    weights : ndarray of float, shape (n_voxels,)
    description : str
        What it is, e.g. ``mean(FFA)`` or ``mean(A) - 0.5 * mean(B)``.
    """

    name: str
    weights: np.ndarray
    description: str

    def __call__(self, pred: torch.Tensor) -> torch.Tensor:
        """Objective values, shape (batch,), of predictions of shape (batch, n_voxels)."""
        w = torch.as_tensor(self.weights, dtype=pred.dtype, device=pred.device)
        return pred @ w


def _roi_weights(name: str, roi: str, rois: Mapping[str, Any], n_voxels: int) -> np.ndarray:
    if roi not in rois:
        raise NeuroalignError(
            f"objective {name!r}: unknown ROI {roi!r}; the encoder has "
            f"{', '.join(sorted(rois)) or 'no ROIs'}.{suggest(roi, list(rois))}"
        )
    mask = np.asarray(rois[roi], bool).reshape(-1)
    if mask.size != n_voxels or not mask.any():
        raise NeuroalignError(f"objective {name!r}: ROI {roi!r} has no voxels of the encoder.")
    return mask / mask.sum()


def build_objective(
    name: str, spec: Mapping[str, Any], rois: Mapping[str, Any], n_voxels: int
) -> Objective:
    """Build one objective from its config form.

    Parameters
    ----------
    name : str
        The objective's name.
    spec : mapping
        One of ``{roi}``, ``{voxels[, weights]}``, ``{mask}``, ``{contrast: [A, B][,
        lambda]}`` (see the module's table).
    rois : mapping of str to bool array of shape (n_voxels,)
        The encoder's ROIs.
    n_voxels : int
        The encoder's number of voxels.

    Returns
    -------
    objective : Objective

    Raises
    ------
    NeuroalignError
        Unknown ROI, voxel id out of range, weights of the wrong length, several kinds at once.
    """
    kinds = [k for k in ("roi", "voxels", "mask", "contrast") if spec.get(k) is not None]
    if len(kinds) != 1:
        raise NeuroalignError(
            f"objective {name!r}: give exactly one of roi, voxels, mask, contrast (got "
            f"{', '.join(kinds) or 'none'})."
        )
    kind = kinds[0]
    if kind == "roi":
        roi = str(spec["roi"])
        return Objective(name, _roi_weights(name, roi, rois, n_voxels), f"mean({roi})")
    if kind == "contrast":
        a, b = (str(x) for x in spec["contrast"])
        lam = float(spec.get("lambda", 1.0))
        w = _roi_weights(name, a, rois, n_voxels) - lam * _roi_weights(name, b, rois, n_voxels)
        return Objective(name, w, f"mean({a}) - {lam:g} * mean({b})")
    if kind == "mask":
        mask = np.asarray(spec["mask"], bool).reshape(-1)
        if mask.size != n_voxels or not mask.any():
            raise NeuroalignError(
                f"objective {name!r}: the mask has {mask.size} entries ({int(mask.sum())} true); "
                f"it needs {n_voxels}, at least one true."
            )
        return Objective(name, mask / mask.sum(), f"mean(mask of {int(mask.sum())} voxels)")
    voxels = np.asarray(spec["voxels"], int).reshape(-1)
    bad = voxels[(voxels < 0) | (voxels >= n_voxels)]
    if bad.size:
        raise NeuroalignError(
            f"objective {name!r}: voxel id {int(bad[0])} is out of range; the encoder has "
            f"{n_voxels} voxels (0 to {n_voxels - 1})."
        )
    weights = spec.get("weights")
    if weights is None:
        weights = np.full(voxels.size, 1.0 / voxels.size)
    weights = np.asarray(weights, float).reshape(-1)
    if weights.size != voxels.size:
        raise NeuroalignError(
            f"objective {name!r}: {weights.size} weights for {voxels.size} voxels; give one "
            "weight per voxel."
        )
    w = np.zeros(n_voxels)
    np.add.at(w, voxels, weights)
    return Objective(name, w, f"weighted({voxels.size} voxels)")


def objectives_for(
    rois_wanted: Sequence[str] | None,
    specs: Mapping[str, Mapping[str, Any]],
    rois: Mapping[str, Any],
    n_voxels: int,
) -> list[Objective]:
    """The objectives of a synthesis run: one ROI mean per name of ``rois_wanted``, then
    ``specs``; with neither, the mean of every ROI of the encoder."""
    if rois_wanted is None and not specs:
        rois_wanted = list(rois)
    out = [build_objective(r, {"roi": r}, rois, n_voxels) for r in rois_wanted or ()]
    out += [build_objective(str(k), v, rois, n_voxels) for k, v in specs.items()]
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise NeuroalignError(f"objectives: a name is given twice ({names}); rename one.")
    if not out:
        raise NeuroalignError("objectives: none given and the encoder has no ROIs.")
    return out
