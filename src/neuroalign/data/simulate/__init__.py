"""Simulated datasets with planted ground truth, in the formats of the real ones.

Four simulators write a dataset directory each (atomically), with the planted truth beside it
in ``derivatives/neuroalign-truth/`` (``truth.nc``, ``truth.json``, masks):

- :func:`simulate_fmri` (``sim_fmri``): story-listening fMRI, BIDS, NIfTI on an MNI grid.
- :func:`simulate_localizer` (``sim_localizer``): sentences vs non-words, BIDS.
- :func:`simulate_meg` (``sim_meg``): story MEG, BIDS with FIF via mne-bids.
- :func:`simulate_eyetracking` (``sim_eyetracking``): an EyeLink interest-area report.
- :func:`simulate_reading_goals` (``sim_reading_goals``): paragraph reading under two goals
  with comprehension questions, OneStop fixation and IA reports, and a planted null.
- :func:`simulate_vision_images` then :func:`simulate_vision` (``sim_vision``): procedural
  images, then image-viewing single-trial betas in the THINGS-fMRI layout (planted truth in
  ``derivatives/planted/``).

Each takes its typed settings (:class:`SimFmriSettings`, ...; the ``simulate.<kind>`` section
of the configuration). :func:`simulate` is the stage: it picks the simulator from the settings'
class and reads the driving word features. :mod:`neuroalign.recovery` estimates the planted
quantities back from the written files.
"""

from neuroalign.data.simulate.eyetracking import simulate_eyetracking
from neuroalign.data.simulate.features import FeatureTable, read_feature_table
from neuroalign.data.simulate.fmri import simulate_fmri
from neuroalign.data.simulate.localizer import simulate_localizer
from neuroalign.data.simulate.meg import simulate_meg
from neuroalign.data.simulate.reading_goals import simulate_reading_goals
from neuroalign.data.simulate.settings import (
    KINDS,
    SETTINGS,
    SimEyetrackingSettings,
    SimFeatures,
    SimFmriSettings,
    SimLocalizerSettings,
    SimMegSettings,
    SimReadingGoalsSettings,
    SimulateSettings,
    SimVisionFeatures,
    SimVisionSettings,
    settings_class,
)
from neuroalign.data.simulate.stage import SIMULATORS, simulate, write_story_stimuli
from neuroalign.data.simulate.vision import simulate_vision, simulate_vision_images

__all__ = [
    "KINDS",
    "SETTINGS",
    "SIMULATORS",
    "FeatureTable",
    "SimEyetrackingSettings",
    "SimFeatures",
    "SimFmriSettings",
    "SimLocalizerSettings",
    "SimMegSettings",
    "SimReadingGoalsSettings",
    "SimVisionFeatures",
    "SimVisionSettings",
    "SimulateSettings",
    "read_feature_table",
    "settings_class",
    "simulate",
    "simulate_eyetracking",
    "simulate_fmri",
    "simulate_localizer",
    "simulate_meg",
    "simulate_reading_goals",
    "simulate_vision",
    "simulate_vision_images",
    "write_story_stimuli",
]
