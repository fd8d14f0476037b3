import numpy as np
import pytest
import torch
from conftest import si_sdr as reference_si_sdr

from bachata_sep.train.metrics import CLAMP_DB, sdr, si_sdr


def _signals():
    generator = np.random.default_rng(0)
    target = generator.standard_normal((3, 4000))
    return target, target + 0.1 * generator.standard_normal((3, 4000))


def test_si_sdr_matches_the_definition_and_ignores_level():
    target, estimate = _signals()
    expected = [reference_si_sdr(t, e) for t, e in zip(target, estimate, strict=True)]
    np.testing.assert_allclose(si_sdr(target, estimate), expected, atol=1e-6)
    np.testing.assert_allclose(si_sdr(target, estimate / 300), expected, atol=1e-6)


def test_sdr_counts_a_wrong_level_as_error():
    target, estimate = _signals()
    # 20 dB of noise: both metrics agree at the right level...
    np.testing.assert_allclose(sdr(target, estimate), 20.0, atol=0.3)
    # ...but a stem 50 dB too quiet is as bad as silence for SDR, not for SI-SDR.
    np.testing.assert_allclose(sdr(target, estimate / 316), 0.0, atol=0.1)
    assert si_sdr(target, estimate / 316).min() > 19.5


def test_torch_and_numpy_agree_and_extremes_are_clamped():
    target, estimate = _signals()
    np.testing.assert_allclose(
        sdr(torch.from_numpy(target), torch.from_numpy(estimate)).numpy(), sdr(target, estimate)
    )
    assert sdr(target, target).max() == pytest.approx(CLAMP_DB)
    assert si_sdr(target, np.zeros_like(target)).max() == pytest.approx(-CLAMP_DB)
