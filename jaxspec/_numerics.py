"""NaN-free primitives for the risky operations: division, log, sqrt, abs, angle and powers.

Every function here uses the double-``where`` pattern: the unsafe operation is evaluated on an
input where the dangerous points have been replaced by a harmless value, and the result is then
selected. A single ``where`` gives a finite value but still a NaN gradient, because the gradient
of the unused branch is multiplied by zero (``0 * inf = nan``).

The value returned at the singular point is documented on each function and tested, with its
gradient, at exact zeros.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _tiny(dtype) -> jax.Array:
    """Default log floor: ``finfo.tiny / finfo.eps`` (~1e-31 in float32, ~2e-292 in float64).

    Not ``finfo.tiny`` itself: the gradient of ``c * log(x)`` at the floor is ``c / floor``, which
    overflows float32 to inf for ``c >= ~4`` (e.g. ``10 * log10``), and ``inf * 0`` is NaN.
    """
    fi = jnp.finfo(dtype)
    return jnp.asarray(fi.tiny / fi.eps, dtype)


def safe_div(num: jax.Array, den: jax.Array, *, fill: float = 0.0) -> jax.Array:
    """``num / den``, returning ``fill`` where ``den == 0`` (value and gradient finite)."""
    num = jnp.asarray(num)
    den = jnp.asarray(den)
    ok = den != 0
    safe_den = jnp.where(ok, den, jnp.ones_like(den))
    return jnp.where(ok, num / safe_den, jnp.asarray(fill, jnp.result_type(num, den)))


def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` for ``x >= 0``; 0 with gradient 0 at ``x <= 0``."""
    x = jnp.asarray(x)
    ok = x > 0
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, x, jnp.ones_like(x))), jnp.zeros_like(x))


def safe_abs(z: jax.Array) -> jax.Array:
    """``|z|`` for real or complex ``z``; value 0 and gradient 0 at ``z == 0``.

    ``jnp.abs`` of a complex zero has a NaN gradient in JAX; this does not.
    """
    z = jnp.asarray(z)
    if jnp.iscomplexobj(z):
        return safe_sqrt(z.real * z.real + z.imag * z.imag)
    return jnp.abs(z)


def safe_angle(z: jax.Array) -> jax.Array:
    """``angle(z)`` in (-pi, pi]; 0 with gradient 0 at ``z == 0``."""
    z = jnp.asarray(z)
    if not jnp.iscomplexobj(z):
        z = z.astype(jnp.result_type(z, jnp.complex64))
    re, im = z.real, z.imag
    ok = (re * re + im * im) > 0
    return jnp.where(ok, jnp.arctan2(jnp.where(ok, im, 0.0), jnp.where(ok, re, 1.0)), jnp.zeros_like(re))


def safe_unit(z: jax.Array) -> jax.Array:
    """``z / |z|`` (a unit phasor); ``1 + 0j`` with gradient 0 at ``z == 0``."""
    z = jnp.asarray(z)
    re, im = z.real, z.imag
    mag2 = re * re + im * im
    ok = mag2 > 0
    inv = jax.lax.rsqrt(jnp.where(ok, mag2, jnp.ones_like(mag2)))
    return jnp.where(ok, z * inv, jnp.ones_like(z))


def safe_pow(x: jax.Array, p) -> jax.Array:
    """``x ** p`` for ``x >= 0`` and any ``p > 0`` (may be traced); 0 with gradient 0 at ``x <= 0``.

    ``x ** p`` with ``p < 1`` has an infinite derivative at 0; here the gradient at 0 is 0.
    """
    x = jnp.asarray(x)
    ok = x > 0
    return jnp.where(ok, jnp.power(jnp.where(ok, x, jnp.ones_like(x)), p), jnp.zeros_like(x))


def safe_log(x: jax.Array, *, floor: float | jax.Array | None = None) -> jax.Array:
    """Natural log of ``max(x, floor)``; ``floor`` defaults to ``finfo.tiny / finfo.eps``.

    Finite value and gradient for ``x >= 0`` (also when scaled, as in ``10 * log10``); the
    gradient is 0 below the floor.
    """
    x = jnp.asarray(x)
    fl = _tiny(x.dtype) if floor is None else jnp.asarray(floor, x.dtype)
    return jnp.log(jnp.maximum(x, fl))


def safe_log10(x: jax.Array, *, floor: float | jax.Array | None = None) -> jax.Array:
    """Base-10 log of ``max(x, floor)``; see :func:`safe_log`."""
    return safe_log(x, floor=floor) / jnp.log(jnp.asarray(10.0, jnp.asarray(x).dtype))
