import numpy as np

from neuroalign.data.simulate.hrf import convolve_events, spm_hrf


def test_spm_hrf_peaks_near_five_seconds_with_unit_area():
    hrf = spm_hrf(0.1)
    assert np.isclose(hrf.sum(), 1.0)
    assert 4.5 <= hrf.argmax() * 0.1 <= 5.5
    assert hrf.min() < 0  # undershoot


def test_convolution_does_not_depend_on_time_step():
    onsets = np.array([3.0, 10.2, 20.0])
    coarse = convolve_events(onsets, np.ones(3), 30, 2.0, dt=0.1)
    fine = convolve_events(onsets, np.ones(3), 30, 2.0, dt=0.01)
    assert np.allclose(coarse, fine, atol=0.01 * coarse.max())


def test_long_block_plateaus_at_its_weight():
    x = convolve_events(
        np.array([0.0]), np.array([[2.0, 0.5]]), 60, 2.0, durations=np.array([100.0])
    )
    assert np.allclose(x[30:45], [2.0, 0.5], rtol=0.01)
    assert x.shape == (60, 2)
