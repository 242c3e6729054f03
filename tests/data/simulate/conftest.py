"""Simulated datasets shared by the tests of this folder (each written once per session)."""

from __future__ import annotations

import pytest

from neuroalign.data.simulate import (
    SimEyetrackingSettings,
    SimFmriSettings,
    SimLocalizerSettings,
    SimMegSettings,
    simulate_eyetracking,
    simulate_fmri,
    simulate_localizer,
    simulate_meg,
)

FMRI_SETTINGS = {"n_subjects": 1}
LOCALIZER_SETTINGS = {"n_subjects": 1}
MEG_SETTINGS: dict = {}
EYE_SETTINGS = {"n_readers": 60}


@pytest.fixture(scope="session")
def sim_fmri(tmp_path_factory):
    return simulate_fmri(
        tmp_path_factory.mktemp("fmri") / "sim_fmri",
        SimFmriSettings.from_config({**FMRI_SETTINGS, "seed": 7}),
    )


@pytest.fixture(scope="session")
def sim_localizer(tmp_path_factory):
    out = tmp_path_factory.mktemp("loc") / "sim_localizer"
    return simulate_localizer(
        out, SimLocalizerSettings.from_config({**LOCALIZER_SETTINGS, "seed": 7})
    )


@pytest.fixture(scope="session")
def sim_meg(tmp_path_factory):
    return simulate_meg(
        tmp_path_factory.mktemp("meg") / "sim_meg",
        SimMegSettings.from_config({**MEG_SETTINGS, "seed": 7}),
    )


@pytest.fixture(scope="session")
def sim_eyetracking(tmp_path_factory):
    out = tmp_path_factory.mktemp("eye") / "sim_eyetracking"
    return simulate_eyetracking(
        out, SimEyetrackingSettings.from_config({**EYE_SETTINGS, "seed": 7})
    )
