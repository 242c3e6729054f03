"""Simulated datasets with planted ground truth, in the formats of the real ones.

Four simulators write a dataset directory each (atomically), with the planted truth beside it
in ``derivatives/neuroalign-truth/`` (``truth.nc``, ``truth.json``, masks):

- :func:`simulate_fmri` (``sim_fmri``): story-listening fMRI, BIDS, NIfTI on an MNI grid.
- :func:`simulate_localizer` (``sim_localizer``): sentences vs non-words, BIDS.
- :func:`simulate_meg` (``sim_meg``): story MEG, BIDS with FIF via mne-bids.
- :func:`simulate_eyetracking` (``sim_eyetracking``): an EyeLink interest-area report.

:func:`~neuroalign.data.simulate.recover.recover` estimates the planted quantities back from
the written files with standard methods, for recovered-vs-planted checks.
"""

from neuroalign.data.simulate.eyetracking import simulate_eyetracking
from neuroalign.data.simulate.features import FeatureTable, read_feature_table
from neuroalign.data.simulate.fmri import simulate_fmri
from neuroalign.data.simulate.localizer import simulate_localizer
from neuroalign.data.simulate.meg import simulate_meg
from neuroalign.data.simulate.recover import recover
from neuroalign.data.simulate.settings import KINDS, resolve_settings

SIMULATORS = {
    "fmri": simulate_fmri,
    "localizer": simulate_localizer,
    "meg": simulate_meg,
    "eyetracking": simulate_eyetracking,
}

__all__ = [
    "KINDS",
    "SIMULATORS",
    "FeatureTable",
    "read_feature_table",
    "recover",
    "resolve_settings",
    "simulate_eyetracking",
    "simulate_fmri",
    "simulate_localizer",
    "simulate_meg",
]
