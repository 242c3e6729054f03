"""Recovery of planted truth: estimate a simulated dataset's planted quantities back.

The layer above `neuroalign.encoding`: it reads simulated datasets (`neuroalign.data.simulate`)
and scores the estimates with the encoding engine's Pearson r and noise ceilings. The
``simulate recover`` subcommand and the workflow's ``recover_simulation`` rule call `recover`.
"""

from neuroalign.recovery.simulated import (
    RECOVERERS,
    correlation,
    dice,
    explainable_variance,
    logistic_fit,
    percent_signal,
    recover,
    recover_eyetracking,
    recover_fmri,
    recover_localizer,
    recover_meg,
    top_mask,
)

__all__ = [
    "RECOVERERS",
    "correlation",
    "dice",
    "explainable_variance",
    "logistic_fit",
    "percent_signal",
    "recover",
    "recover_eyetracking",
    "recover_fmri",
    "recover_localizer",
    "recover_meg",
    "top_mask",
]
