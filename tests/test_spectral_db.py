"""dB scales (parity with librosa, per-example top_db), compression, real/imag channels."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

import jaxspec as js


def _wide_power(rng, shape, decades=12):
    """Power values spread over ``decades`` orders of magnitude, with some exact zeros."""
    p = 10.0 ** rng.uniform(-decades, 0, shape)
    p.flat[:: 17] = 0.0
    return p.astype(np.float32)


# -- parity with librosa for one example (<= 1e-3 dB) ---------------------------------------------

@pytest.mark.parametrize("ref,amin,top_db", [(1.0, 1e-10, 80.0), (1.0, 1e-10, None), (0.3, 1e-6, 40.0),
                                             (1e-4, 1e-10, 120.0)])
def test_power_to_db_matches_librosa(rng, ref, amin, top_db):
    P = _wide_power(rng, (33, 20))
    ours = np.asarray(js.power_to_db(P, ref=ref, amin=amin, top_db=top_db))
    theirs = librosa.power_to_db(P, ref=ref, amin=amin, top_db=top_db)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)


@pytest.mark.parametrize("ref,amin,top_db", [(1.0, 1e-5, 80.0), (2.0, 1e-5, None), (1.0, 1e-3, 30.0)])
def test_amplitude_to_db_matches_librosa(rng, ref, amin, top_db):
    A = np.sqrt(_wide_power(rng, (33, 20)))
    ours = np.asarray(js.amplitude_to_db(A, ref=ref, amin=amin, top_db=top_db))
    np.testing.assert_allclose(ours, librosa.amplitude_to_db(A, ref=ref, amin=amin, top_db=top_db), atol=1e-3, rtol=0)


def test_amplitude_to_db_of_complex_stft_uses_magnitude(rng):
    S = (rng.standard_normal((17, 6)) + 1j * rng.standard_normal((17, 6))).astype(np.complex64)
    S[0, 0] = 0
    np.testing.assert_allclose(np.asarray(js.amplitude_to_db(S)), librosa.amplitude_to_db(np.abs(S)), atol=1e-3)


def test_ref_max_is_per_example_and_matches_librosa_np_max(rng):
    P = _wide_power(rng, (3, 17, 8)) * np.array([1.0, 1e-3, 1e-6], np.float32)[:, None, None]
    ours = np.asarray(js.power_to_db(P, ref="max"))
    for b in range(3):
        np.testing.assert_allclose(ours[b], librosa.power_to_db(P[b], ref=np.max), atol=1e-3)
        assert ours[b].max() == pytest.approx(0.0, abs=1e-5)


def test_db_inverses_match_librosa(rng):
    d = rng.uniform(-90, 20, (9, 7)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(js.db_to_power(d, ref=2.0)), librosa.db_to_power(d, ref=2.0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(js.db_to_amplitude(d, ref=0.5)), librosa.db_to_amplitude(d, ref=0.5), rtol=1e-5)
    P = _wide_power(rng, (9, 7), decades=6) + 1e-7
    back = js.db_to_power(js.power_to_db(P, top_db=None))
    np.testing.assert_allclose(np.asarray(back), P, rtol=1e-4)


# -- per-example top_db: differs from librosa's whole-batch clamp exactly where it should ---------

def test_top_db_clamps_per_example_not_over_the_batch(rng):
    loud = rng.uniform(-60, 0, (17, 10))            # peak ~0 dB
    quiet = rng.uniform(-130, -40, (17, 10))        # peak ~-40 dB, reaches 90 dB below its peak
    loud[0, 0], quiet[0, 0] = 0.0, -40.0            # pin the peaks
    P = (10.0 ** (np.stack([loud, quiet]) / 10.0)).astype(np.float32)
    kw = dict(top_db=80.0, amin=1e-15)               # amin below the data: only top_db clamps
    ours = np.asarray(js.power_to_db(P, **kw))
    batch_clamp = librosa.power_to_db(P, **kw)                # floor = global peak - 80 = -80 dB
    # per example: identical to librosa run on each example alone
    for b in range(2):
        np.testing.assert_allclose(ours[b], librosa.power_to_db(P[b], **kw), atol=1e-3)
    # the loud example (it holds the global peak) is the same either way
    np.testing.assert_allclose(ours[0], batch_clamp[0], atol=1e-3)
    # the quiet one differs exactly where its dB value lies below the batch floor (-80 dB):
    # librosa lifts those to -80, we keep them down to our own floor of -40 - 80 = -120 dB
    raw = 10.0 * np.log10(P[1])
    should_differ = raw < -80.0 - 1e-3
    differs = np.abs(ours[1] - batch_clamp[1]) > 1e-3
    assert should_differ.any() and (~should_differ).any()
    np.testing.assert_array_equal(differs, should_differ)
    np.testing.assert_allclose(ours[1][should_differ], np.maximum(raw[should_differ], -120.0), atol=1e-3)
    assert ours[1].min() == pytest.approx(-120.0, abs=1e-3)


def test_top_db_is_traceable():
    P = jnp.asarray(10.0 ** -np.arange(12, dtype=np.float32)).reshape(3, 4)
    f = jax.jit(lambda p, t: js.power_to_db(p, top_db=t))
    np.testing.assert_allclose(np.asarray(f(P, 30.0)).min(), -30.0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(f(P, 50.0)).min(), -50.0, atol=1e-4)


def test_silence_is_finite_with_zero_gradient():
    z = jnp.zeros((2, 5, 4))
    for f in (js.power_to_db, js.amplitude_to_db):
        value, g = jax.jit(jax.value_and_grad(lambda x: jnp.sum(f(x))))(z)
        np.testing.assert_allclose(float(value), -100.0 * z.size, rtol=1e-5)
        assert np.all(np.asarray(g) == 0)


def test_db_errors():
    P = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="power_to_db: P must be a real power spectrogram.*jaxspec.power"):
        js.power_to_db(P + 0j)
    with pytest.raises(ValueError, match="power_to_db: amin must be finite and positive"):
        js.power_to_db(P, amin=0.0)
    with pytest.raises(ValueError, match="amplitude_to_db: top_db must be finite and non-negative"):
        js.amplitude_to_db(P, top_db=-1.0)
    with pytest.raises(TypeError, match="ref='max'"):
        js.power_to_db(P, ref=np.max)
    with pytest.raises(ValueError, match="power_to_db: ref must be one of 'max'"):
        js.power_to_db(P, ref="min")
    with pytest.raises(TypeError, match="power_to_db: P must be a floating-point array, got dtype int16"):
        js.power_to_db(np.ones((3, 4), np.int16))


# -- compression ----------------------------------------------------------------------------------

def test_compress_keeps_phase_and_inverts(rng):
    S = (rng.standard_normal((2, 17, 9)) + 1j * rng.standard_normal((2, 17, 9))).astype(np.complex64)
    S[0, 0, :3] = 0
    C = np.asarray(jax.jit(js.compress)(S))
    assert C.dtype == np.complex64
    np.testing.assert_allclose(np.abs(C), np.abs(S) ** 0.3, rtol=1e-5, atol=1e-6)
    nz = np.abs(S) > 0
    np.testing.assert_allclose(np.angle(C[nz]), np.angle(S[nz]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.jit(js.decompress)(C)), S, rtol=1e-4, atol=1e-5)
    r = rng.standard_normal(20).astype(np.float32)
    np.testing.assert_allclose(np.asarray(js.compress(r, power=0.5)), np.sign(r) * np.sqrt(np.abs(r)), rtol=1e-6)


def test_compress_power_may_be_traced_and_gradient_at_zero_is_finite(rng):
    S = np.zeros((5, 3), np.complex64)
    S[1, 1] = 2.0 + 1.0j
    f = jax.jit(lambda s, p: js.decompress(js.compress(s, power=p), power=p))
    np.testing.assert_allclose(np.asarray(f(S, 0.25)), S, rtol=1e-5, atol=1e-6)
    g = jax.jit(jax.grad(lambda s: jnp.sum(js.magnitude(js.compress(s)))))(S)  # NaN with a plain |S|**0.3
    assert np.all(np.isfinite(np.asarray(g)))
    with pytest.raises(ValueError, match="compress: power must be finite and positive"):
        js.compress(S, power=0.0)


# -- channels -------------------------------------------------------------------------------------

def test_channels_round_trip_exact(rng):
    S = (rng.standard_normal((3, 17, 5)) + 1j * rng.standard_normal((3, 17, 5))).astype(np.complex64)
    X = np.asarray(js.to_channels(S))
    assert X.shape == (3, 2, 17, 5) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 0], S.real)
    np.testing.assert_array_equal(X[:, 1], S.imag)
    np.testing.assert_array_equal(np.asarray(js.from_channels(X)), S)
    with pytest.raises(ValueError, match=r"from_channels: X must have shape \(\.\.\., 2, freq, frames\), got \(3, 17, 5\)"):
        js.from_channels(X[:, 0])
    with pytest.raises(ValueError, match="to_channels: S must have shape"):
        js.to_channels(S[0, 0])
