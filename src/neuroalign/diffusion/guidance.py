"""BrainDiVE's guidance step, as functions of tensors.

At a step with cumulative signal level ``a`` (``alphas_cumprod[t]``) and latent ``z_t``:

1. the one-step estimate ``x0 = (z_t - sqrt(1 - a) eps) / sqrt(a)`` (epsilon prediction; for
   v prediction ``x0 = sqrt(a) z_t - sqrt(1 - a) v``),
2. the blend ``z~ = sqrt(1 - a) x0 + (1 - sqrt(1 - a)) z_t`` (the "first-order prediction with
   residual noise"),
3. decode ``z~`` to an image in [0, 1], score it with the encoder's objective ``S``,
4. ``g = s * dS/dz_t`` through all of the above (the UNet included), and
5. ``eps^ = eps - sqrt(1 - a) g``: classifier guidance with ``log p(y | z) = s S``.

Euler-type schedulers keep ``z = x0 + sigma eps`` (variance exploding): the model sees
``z / sqrt(sigma^2 + 1)``, which is the variance-preserving latent with ``a = 1 / (sigma^2 +
1)``; steps 1-3 run on it and step 5 becomes ``eps^ = eps - sigma dS/dz`` (the same classifier
guidance, with the gradient taken with respect to ``z`` itself). :class:`NoiseLevel` carries
both forms; the guided output is returned in the model's own prediction type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from neuroalign._check import NeuroalignError

__all__ = ["NoiseLevel", "blend", "guide_output", "noise_level", "predict_x0"]

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


@dataclass(frozen=True)
class NoiseLevel:
    """The noise level of one step.

    Attributes
    ----------
    alpha_bar : float
        Signal level of the variance-preserving latent (``alphas_cumprod[t]``).
    noise_scale : float
        How much noise the stepped latent holds: ``sqrt(1 - a)`` (DDIM, DPM-Solver) or sigma
        (Euler), the factor of the guidance shift ``eps^ = eps - noise_scale * g``.
    input_scale : float
        The variance-preserving latent is ``input_scale * z`` (1, or ``1 / sqrt(sigma^2+1)``).
    """

    alpha_bar: float
    noise_scale: float
    input_scale: float


def noise_level(scheduler: Any, timestep: Any) -> NoiseLevel:
    """The :class:`NoiseLevel` of ``timestep`` in a diffusers scheduler.

    Euler-type schedulers (``init_noise_sigma`` above 1) are read through their ``sigmas`` at
    the current step index (call ``scale_model_input`` first); the others through
    ``alphas_cumprod``.
    """
    if float(getattr(scheduler, "init_noise_sigma", 1.0)) > 1.0:
        index = scheduler.step_index if scheduler.step_index is not None else 0
        sigma = float(scheduler.sigmas[index])
        return NoiseLevel(1.0 / (sigma**2 + 1.0), sigma, (sigma**2 + 1.0) ** -0.5)
    a = float(scheduler.alphas_cumprod[int(timestep)])
    return NoiseLevel(a, (1.0 - a) ** 0.5, 1.0)


def predict_x0(
    z_vp: torch.Tensor, output: torch.Tensor, alpha_bar: float, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The one-step x0 estimate and the noise it implies, from the variance-preserving latent.

    Returns
    -------
    x0, eps : tensor, same shape as ``z_vp``
    """
    a = torch.as_tensor(alpha_bar, dtype=z_vp.dtype, device=z_vp.device)
    sa, sb = a.sqrt(), (1 - a).sqrt()
    if prediction_type == "epsilon":
        return (z_vp - sb * output) / sa, output
    if prediction_type == "v_prediction":
        return sa * z_vp - sb * output, sa * output + sb * z_vp
    if prediction_type == "sample":
        return output, (z_vp - sa * output) / sb
    raise NeuroalignError(
        f"prediction_type {prediction_type!r}: the sampler knows {', '.join(PREDICTION_TYPES)}."
    )


def blend(x0: torch.Tensor, z_vp: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """BrainDiVE's latent to decode: ``sqrt(1 - a) x0 + (1 - sqrt(1 - a)) z_t``."""
    fac = (1.0 - float(alpha_bar)) ** 0.5
    return fac * x0 + (1.0 - fac) * z_vp


def guide_output(
    output: torch.Tensor, grad: torch.Tensor, level: NoiseLevel, prediction_type: str
) -> torch.Tensor:
    """Shift a model output by the guidance gradient, in the model's prediction type.

    ``grad`` is ``s * dS/dz`` with respect to the stepped latent ``z``. The noise estimate
    moves by ``-noise_scale * grad``; a v prediction by that over ``sqrt(a)``; an x0
    prediction by ``sqrt(1 - a) / sqrt(a)`` times it, with the opposite sign.
    """
    d_eps = -level.noise_scale * grad
    a = float(level.alpha_bar)
    if prediction_type == "epsilon":
        return output + d_eps
    if prediction_type == "v_prediction":
        return output + d_eps / a**0.5
    if prediction_type == "sample":
        return output - ((1 - a) ** 0.5 / a**0.5) * d_eps
    raise NeuroalignError(
        f"prediction_type {prediction_type!r}: the sampler knows {', '.join(PREDICTION_TYPES)}."
    )
