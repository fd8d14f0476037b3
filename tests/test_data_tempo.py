"""Tempo curves: the time map is the integral of the inverse speed."""

import numpy as np
import pytest

from bachata_sep.data.tempo import SINE_PERIOD_SECONDS, TempoCurve, drift_curve
from bachata_sep.errors import BadInputError


def test_a_ramp_integrates_to_its_logarithm():
    curve = drift_curve("ramp", 3, 100.0)
    # speed 0.97 + 0.0006 t: performed time is ln(speed / 0.97) / 0.0006.
    expected = np.log((0.97 + 0.0006 * np.array([50.0, 100.0])) / 0.97) / 0.0006
    np.testing.assert_allclose(curve.warp([50.0, 100.0]), expected, atol=1e-4)
    assert curve.warp(0.0) == 0.0


def test_beyond_the_curve_the_last_speed_holds():
    curve = TempoCurve(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    end = curve.warp(1.0)
    np.testing.assert_allclose(curve.warp([2.0, 3.0]), [end + 0.5, end + 1.0], atol=1e-9)


def test_a_sine_drifts_and_comes_back():
    curve = drift_curve("sine", 3, 2 * SINE_PERIOD_SECONDS)
    beats = curve.warp(np.arange(0.0, 2 * SINE_PERIOD_SECONDS, 0.5))
    intervals = np.diff(beats) / 0.5
    assert intervals.min() == pytest.approx(1 / 1.03, abs=1e-3)
    assert intervals.max() == pytest.approx(1 / 0.97, abs=1e-3)
    # Over a whole period the mean of 1 / (1 + d sin) is 1 / sqrt(1 - d²).
    one_period = curve.warp(SINE_PERIOD_SECONDS)
    assert one_period == pytest.approx(SINE_PERIOD_SECONDS / np.sqrt(1 - 0.03**2), abs=1e-3)


@pytest.mark.parametrize(("shape", "percent"), [("wobble", 3), ("sine", -1), ("ramp", 50)])
def test_a_bad_drift_is_refused(shape, percent):
    with pytest.raises(BadInputError, match="tempo drift"):
        drift_curve(shape, percent, 10.0)
