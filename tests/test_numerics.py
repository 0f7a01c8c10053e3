"""The NaN-free primitives: documented value and finite gradient at exact zeros."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec import _numerics as nm


def _grad_ok(f, x):
    g = jax.grad(lambda v: jnp.sum(f(v)))(x)
    for leaf in jax.tree.leaves(g):
        assert np.all(np.isfinite(np.asarray(leaf))), f"non-finite gradient of {f}"


def test_naive_versions_really_give_nan_gradients():
    # The reason the module exists: jnp.angle of complex zero, |z| ** p and sqrt(0) have NaN/inf
    # gradients (jnp.abs itself is safe in recent JAX, but not in every version we support).
    z = jnp.zeros(3, jnp.complex64)
    for f in (jnp.angle, lambda v: jnp.abs(v) ** 0.5):
        g = jax.grad(lambda v: jnp.sum(f(v)))(z)
        assert not np.all(np.isfinite(np.asarray(g)))
    g = jax.grad(lambda v: jnp.sum(jnp.sqrt(v)))(jnp.zeros(3))
    assert not np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("f,x,value", [
    (lambda v: nm.safe_div(v, v), jnp.zeros(3), 0.0),
    (lambda v: nm.safe_div(jnp.ones(3), v, fill=5.0), jnp.zeros(3), 5.0),
    (nm.safe_sqrt, jnp.zeros(3), 0.0),
    (nm.safe_abs, jnp.zeros(3, jnp.complex64), 0.0),
    (nm.safe_angle, jnp.zeros(3, jnp.complex64), 0.0),
    (lambda v: jnp.real(nm.safe_unit(v)), jnp.zeros(3, jnp.complex64), 1.0),
    (lambda v: nm.safe_pow(v, 0.3), jnp.zeros(3), 0.0),
    (lambda v: nm.safe_log10(v, floor=1e-10), jnp.zeros(3), -10.0),
])
def test_value_and_gradient_at_zero(f, x, value):
    np.testing.assert_allclose(np.asarray(f(x)), value, rtol=1e-6)
    _grad_ok(f, x)


def test_values_away_from_zero_match_numpy():
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(50) + 1j * rng.standard_normal(50)).astype(np.complex64)
    x = np.abs(rng.standard_normal(50)).astype(np.float32) + 0.1
    np.testing.assert_allclose(np.asarray(nm.safe_abs(z)), np.abs(z), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(nm.safe_angle(z)), np.angle(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(nm.safe_unit(z)), z / np.abs(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(nm.safe_div(x, x + 1)), x / (x + 1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(nm.safe_pow(x, 0.3)), x ** 0.3, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(nm.safe_log10(x)), np.log10(x), rtol=1e-5)
    _grad_ok(nm.safe_abs, jnp.asarray(z))


@pytest.mark.parametrize("scale", [1.0, 10.0, 20.0])
def test_scaled_log_has_finite_gradient_at_zero(scale):
    # 10 * log10(x) at x = 0: with a floor of finfo.tiny the cotangent overflows float32 to inf
    # and inf * 0 gives NaN; the default floor leaves headroom.
    x = jnp.zeros(4, jnp.float32)
    for f in (nm.safe_log, nm.safe_log10):
        g = jax.grad(lambda v: jnp.sum(scale * f(v)))(x)
        assert np.all(np.isfinite(np.asarray(g))), (f, scale)
