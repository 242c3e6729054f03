"""Fixation detection (I-VT, I-DT through pymovements) on planted gaze and a real EyeLink file."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.gaze import (
    FIXATION_COLUMNS,
    Screen,
    detect_fixations,
    fixation_table,
    match_events,
)

SCREEN = Screen(1920, 1080, 53.0, 30.0, 60.0)
SFREQ = 500.0


def planted_gaze(rng, *, sfreq=SFREQ, noise_px=0.2):
    """Fixations at known samples joined by 10-sample saccades, with a blink in one saccade.

    Returns x, y and the planted fixations (first and last sample of each).
    """
    lengths = [120, 90, 150, 60, 200, 110]  # fixation samples (240 .. 400 ms at 500 Hz)
    saccade = 10  # samples: 20 ms, amplitude 150-400 px (4-10 deg, 200-500 deg/s)
    targets = [(300, 400), (600, 410), (820, 395), (1100, 420), (500, 600), (900, 610)]
    x, y, planted = [], [], []
    t = 0
    for i, (n, (px, py)) in enumerate(zip(lengths, targets, strict=True)):
        planted.append((t, t + n - 1))
        x.append(np.full(n, float(px)))
        y.append(np.full(n, float(py)))
        t += n
        if i + 1 < len(targets):
            qx, qy = targets[i + 1]
            ramp = np.linspace(0.0, 1.0, saccade + 2)[1:-1]
            x.append(px + (qx - px) * ramp)
            y.append(py + (qy - py) * ramp)
            t += saccade
    x, y = np.concatenate(x), np.concatenate(y)
    x += rng.normal(0, noise_px, len(x))
    y += rng.normal(0, noise_px, len(y))
    return x, y, np.array(planted)


@pytest.fixture(scope="module")
def planted():
    return planted_gaze(np.random.default_rng(0))


@pytest.mark.parametrize(
    ("kwargs", "tolerance"),
    [
        ({"method": "ivt", "velocity_method": "preceding"}, 1),
        ({"method": "ivt", "velocity_method": "neighbors"}, 1),
        # The five-point estimator differentiates over +-2 samples: edges move by up to 2.
        ({"method": "ivt", "velocity_method": "fivepoint"}, 2),
        # I-DT closes a window with the first sample that breaks the dispersion threshold
        # (each saccade's first step moves the gaze 0.5-1.5 deg, more than 0.4 deg).
        ({"method": "idt", "dispersion_threshold": 0.4}, 1),
    ],
)
def test_planted_fixations_are_recovered(planted, kwargs, tolerance):
    x, y, truth = planted
    found = detect_fixations(
        x, y, sampling_rate=SFREQ, screen=SCREEN, minimum_duration=100, **kwargs
    )
    assert len(found) == len(truth)
    assert np.abs(found["onset_sample"].to_numpy() - truth[:, 0]).max() <= tolerance
    assert np.abs(found["offset_sample"].to_numpy() - truth[:, 1]).max() <= tolerance
    # Durations follow EyeLink: last - first sample plus one sample period.
    expected = (found["offset_sample"] - found["onset_sample"] + 1) / SFREQ
    assert np.allclose(found["duration"], expected)
    assert np.allclose(found["onset"], found["onset_sample"] / SFREQ)
    # Mean positions are those of the planted targets (noise 0.2 px, edges within 2 samples).
    centre_x = np.array([x[a : b + 1].mean() for a, b in truth])
    assert np.allclose(found["x"], centre_x, atol=3.0)


def test_short_fixations_are_dropped_and_blinks_split(planted):
    x, y, truth = planted
    found = detect_fixations(x, y, sampling_rate=SFREQ, screen=SCREEN, minimum_duration=250)
    # Only the planted fixations of at least 125 samples (250 ms) remain: 150 and 200 samples.
    assert found["onset_sample"].tolist() == pytest.approx(truth[[2, 4], 0], abs=2)
    x = x.copy()
    a = truth[4, 0]
    x[a + 90 : a + 110] = np.nan  # a 40 ms loss of the eye inside the 400 ms fixation
    split = detect_fixations(x, y, sampling_rate=SFREQ, screen=SCREEN, minimum_duration=100)
    assert len(split) == len(truth) + 1
    assert np.isfinite(split[["x", "y"]].to_numpy()).all()


def test_wrapper_equals_pymovements_called_directly(planted):
    import pymovements as pm

    x, y, _ = planted
    x = x.copy()
    x[400:420] = np.nan
    experiment = pm.Experiment(
        screen_width_px=1920,
        screen_height_px=1080,
        screen_width_cm=53.0,
        screen_height_cm=30.0,
        distance_cm=60.0,
        origin="upper left",
        sampling_rate=SFREQ,
    )
    for method, kwargs in (
        ("ivt", {"velocity_threshold": 35.0}),
        ("idt", {"dispersion_threshold": 0.8}),
    ):
        gaze = pm.gaze.from_numpy(
            time=np.arange(len(x)) * 2, pixel=np.vstack([x, y]), experiment=experiment
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gaze.pix2deg()
            if method == "ivt":
                gaze.pos2vel(method="fivepoint")
            gaze.detect(method, minimum_duration=80, **kwargs)
        direct = gaze.events.frame.sort("onset")
        ours = detect_fixations(
            x, y, sampling_rate=SFREQ, screen=SCREEN, method=method, minimum_duration=80, **kwargs
        )
        assert ours["onset_sample"].tolist() == (direct["onset"].to_numpy() // 2).tolist()
        assert ours["offset_sample"].tolist() == (direct["offset"].to_numpy() // 2).tolist()
        assert np.allclose(ours["duration"] * 1000, direct["duration"].to_numpy() + 2)


def test_fixation_table_has_the_fixation_report_columns(planted):
    x, y, _ = planted
    found = detect_fixations(x, y, sampling_rate=SFREQ, screen=SCREEN)
    table = fixation_table({3: found, 7: found.iloc[:2]}, participant="p1", eye="Right")
    assert tuple(table.columns) == FIXATION_COLUMNS
    assert table["trial"].tolist() == [3] * len(found) + [7, 7]
    assert table["index"].tolist() == [*range(1, len(found) + 1), 1, 2]
    assert (table["position"] == -1).all() and (table["text"] == "").all()
    assert tuple(fixation_table({}).columns) == FIXATION_COLUMNS


def test_bad_parameters():
    x = np.zeros(100)
    with pytest.raises(NeuroalignError, match="whole number of milliseconds"):
        detect_fixations(x, x, sampling_rate=2000, screen=SCREEN)
    with pytest.raises(NeuroalignError, match="velocity_threshold must be positive"):
        detect_fixations(x, x, sampling_rate=SFREQ, screen=SCREEN, velocity_threshold=0)
    with pytest.raises(NeuroalignError, match="'method'"):
        detect_fixations(x, x, sampling_rate=SFREQ, screen=SCREEN, method="ihmm")
    with pytest.raises(NeuroalignError, match="1-D of one length"):
        detect_fixations(x, x[:5], sampling_rate=SFREQ, screen=SCREEN)
    empty = detect_fixations(np.full(100, np.nan), x, sampling_rate=SFREQ, screen=SCREEN)
    assert empty.empty and "onset_sample" in empty


def test_pixels_per_degree():
    # 60 cm away, 1 degree is 1.047 cm; 1920 px over 53 cm: 37.9 px per degree.
    assert SCREEN.pixels_per_degree == pytest.approx(37.94, abs=0.01)


def test_match_events_pairs_each_fixation_once():
    ref = pd.DataFrame({"onset": [0.0, 1.0, 2.0], "offset": [0.5, 1.5, 2.5]})
    det = pd.DataFrame({"onset": [0.004, 1.2, 1.996], "offset": [0.498, 1.5, 2.51]})
    assert match_events(det, ref, tolerance=0.01).tolist() == [0, -1, 2]


@pytest.fixture(scope="module")
def eyelink(shared_data):
    from neuroalign.data.readers.eyelink import eyelink_gaze, read_eyelink

    raw, events = read_eyelink(shared_data / "formats" / "test_eyelink.asc")
    return raw, events, {eye: eyelink_gaze(raw, eye)[:2] for eye in ("left", "right")}


#: The recording's own resolution: its END line says ``RES 45.90 46.06`` (pixels per degree).
RECORDED_SCREEN = Screen.from_pixels_per_degree(1920, 1080, 45.98)


@pytest.mark.parametrize(
    ("eye", "method", "kwargs", "tolerance", "expected"),
    [
        # I-VT at 40 deg/s (five-point velocity; the defaults) against the EyeLink parser's
        # EFIX events: measured 125/127 right-eye and 120/125 left-eye fixations with onset
        # and offset within 10 ms (5 samples); 0.95 leaves room for one or two more per eye.
        ("right", "ivt", {"velocity_threshold": 40.0}, 0.010, 0.95),
        ("left", "ivt", {"velocity_threshold": 40.0}, 0.010, 0.95),
        # I-DT at 1.25 deg: measured 99/127 (right) and 94/125 (left) within 50 ms. Dispersion
        # splits the long drifting fixations (up to 2.4 s) of this visual task, which the
        # EyeLink parser, a velocity and acceleration detector, keeps whole.
        ("right", "idt", {"dispersion_threshold": 1.25}, 0.050, 0.70),
        ("left", "idt", {"dispersion_threshold": 1.25}, 0.050, 0.70),
    ],
)
def test_agreement_with_the_eyelink_parser(eyelink, eye, method, kwargs, tolerance, expected):
    """The share of the file's own fixations (EFIX lines, MNE annotations) we detect.

    The recording is a real EyeLink CL file at 500 Hz on a 1920x1080 display, whose
    resolution of 46 pixels per degree the file states. EyeLink's parser is not I-VT (velocity
    and acceleration thresholds on its own filtered velocity), so agreement is high for I-VT,
    not exact, and lower for I-DT.
    """
    raw, events, gaze = eyelink
    sfreq = raw.info["sfreq"]
    x, y = gaze[eye]
    reference = events[(events["kind"] == "fixation") & (events["eye"] == eye)].copy()
    reference["offset"] = reference["onset"] + reference["duration"] - 1 / sfreq
    found = detect_fixations(
        x,
        y,
        sampling_rate=sfreq,
        screen=RECORDED_SCREEN,
        method=method,
        minimum_duration=50,
        **kwargs,
    )
    pair = match_events(found, reference, tolerance=tolerance)
    matched = pair >= 0
    assert matched.mean() >= expected
    # Durations of matched fixations as EyeLink counts them (EFIX: end - start + 1 sample).
    error = np.abs(found["duration"].to_numpy()[pair[matched]] - reference["duration"][matched])
    assert np.median(error) <= 2 * tolerance


def test_importing_pymovements_leaves_the_root_logger_alone():
    import subprocess
    import sys

    code = (
        "import logging; from neuroalign.data.gaze import _pymovements; _pymovements(); "
        "import pymovements.dataset; root = logging.getLogger(); "
        "print(len(root.handlers), root.level)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "30"]  # no handler added, still WARNING
