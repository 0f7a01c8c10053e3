"""magnitude / phase / power / polar: values against NumPy, finite gradients at silence."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxspec as js


def test_values_match_numpy():
    rng = np.random.default_rng(0)
    S = (rng.standard_normal((2, 33, 7)) + 1j * rng.standard_normal((2, 33, 7))).astype(np.complex64)
    np.testing.assert_allclose(np.asarray(js.magnitude(S)), np.abs(S), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(js.phase(S)), np.angle(S), atol=1e-6)
    np.testing.assert_allclose(np.asarray(js.power(S)), np.abs(S) ** 2, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(js.polar(js.magnitude(S), js.phase(S))), S, rtol=1e-5, atol=1e-6)


def test_gradients_through_stft_of_silence_are_finite():
    x = jnp.zeros((2, 800), jnp.float32)

    def loss(x):
        S = js.stft(x, n_fft=128, hop_length=32)
        return jnp.sum(js.magnitude(S)) + jnp.sum(js.phase(S)) + jnp.sum(js.power(S))

    g = jax.grad(loss)(x)
    assert np.all(np.isfinite(np.asarray(g)))


def test_polar_broadcasts_phase():
    mag = jnp.ones((3, 5))
    out = js.polar(mag, jnp.zeros((5,)))
    assert out.shape == (3, 5) and out.dtype == jnp.complex64
