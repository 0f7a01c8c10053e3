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


# ----------------------------------------------------------------------------- range and NaN policy


def test_pow2_scale_is_a_power_of_two_near_the_peak():
    m = jnp.asarray([0.0, 1e-30, 0.75, 1.0, 1e20, 3e38, np.inf, np.nan, 1e-40], jnp.float32)
    s = np.asarray(nm.pow2_scale(m))
    fin = np.isfinite(np.asarray(m)) & (np.asarray(m) >= np.finfo(np.float32).tiny)
    ratio = np.asarray(m)[fin] / s[fin]
    assert np.all((ratio >= 1) & (ratio < 2))
    np.testing.assert_array_equal(np.log2(s[fin]), np.round(np.log2(s[fin])))
    np.testing.assert_array_equal(s[~fin], 1.0)  # zero, inf, NaN, subnormal: unscaled
    x = jnp.asarray([[1e20, -3e20], [0.0, 0.0]], jnp.float32)
    np.testing.assert_array_equal(np.asarray(nm.pow2_scale(jnp.abs(x), axis=-1)), [[2.0 ** 68], [1.0]])


@pytest.mark.parametrize("c", [1e-30, 1.0, 1e20])
def test_helpers_keep_the_float32_range(c):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(20) + 1j * rng.standard_normal(20)) * c
    z32 = jnp.asarray(z, jnp.complex64)
    z64 = np.asarray(z32).astype(np.complex128)
    np.testing.assert_allclose(np.asarray(nm.safe_abs(z32)), np.abs(z64), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(nm.safe_angle(z32)), np.angle(z64), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(nm.safe_unit(z32)), z64 / np.abs(z64), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(nm.safe_norm(z32)), np.linalg.norm(z64), rtol=1e-6)
    for f in (nm.safe_abs, nm.safe_angle, lambda v: jnp.real(nm.safe_unit(v)), nm.safe_norm):
        g = np.asarray(jax.grad(lambda v: jnp.sum(f(v)))(z32))
        assert np.all(np.isfinite(g)), (f, c)
    # d|z|/dz is the unit phasor (conjugated by JAX's convention) at every scale
    g = np.asarray(jax.grad(lambda v: jnp.sum(nm.safe_abs(v)))(z32))
    np.testing.assert_allclose(g, np.conj(z64 / np.abs(z64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f,x", [
    (nm.safe_abs, np.nan + 0j), (nm.safe_angle, np.nan + 1j), (lambda v: jnp.real(nm.safe_unit(v)), np.nan + 0j),
    (nm.safe_sqrt, np.nan), (nm.safe_sqrt, -np.inf), (lambda v: nm.safe_pow(v, 0.3), np.nan),
    (lambda v: nm.safe_div(v, 0.0), np.nan), (lambda v: nm.safe_div(1.0, v), np.nan), (nm.safe_log10, np.nan),
    (lambda v: nm.safe_norm(v, axis=0), np.nan),
    (lambda v: nm.propagate_nonfinite(jnp.zeros_like(jnp.real(v)), v), np.inf),
])
def test_nan_in_nan_out_value_and_gradient(f, x):
    v = jnp.asarray([x, 0.0, 2.0], jnp.complex64 if isinstance(x, complex) else jnp.float32)
    assert np.isnan(np.asarray(f(v))).any()
    g = np.asarray(jax.grad(lambda u: jnp.sum(f(u)))(v))
    assert not np.all(np.isfinite(g))


@pytest.mark.parametrize("axis,keepdims", [(-1, False), ((-2, -1), True), ((0, 2), False), (1, True)])
def test_amax_is_jnp_max_with_its_gradient_on_one_maximum(axis, keepdims):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32))
    np.testing.assert_array_equal(nm.amax(x, axis=axis, keepdims=keepdims), jnp.max(x, axis=axis, keepdims=keepdims))
    loss = lambda f: lambda v: jnp.sum(jnp.sin(f(v)))  # noqa: E731
    g = jax.grad(loss(lambda v: nm.amax(v, axis=axis, keepdims=keepdims)))(x)
    np.testing.assert_allclose(g, jax.grad(loss(lambda v: jnp.max(v, axis=axis, keepdims=keepdims)))(x), rtol=1e-6)
    # under jit and vmap too
    gj = jax.jit(jax.vmap(jax.grad(loss(lambda v: nm.amax(v, axis=-1)))))(x)
    np.testing.assert_allclose(gj, jax.vmap(jax.grad(loss(lambda v: jnp.max(v, axis=-1))))(x), rtol=1e-6)


def test_amax_at_ties_gives_the_whole_gradient_to_the_first_maximum_and_propagates_nan():
    g = jax.grad(lambda v: jnp.sum(nm.amax(v, axis=-1)))(jnp.zeros((2, 4)))
    np.testing.assert_array_equal(g, [[1, 0, 0, 0], [1, 0, 0, 0]])
    v = nm.amax(jnp.array([[1.0, np.nan, 2.0], [1.0, 3.0, 2.0]]), axis=-1)
    assert np.isnan(v[0]) and v[1] == 3.0
