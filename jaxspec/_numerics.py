"""NaN-free, range-safe primitives for the risky operations: division, log, sqrt, abs, angle, powers.

Silence: every function here uses the double-``where`` pattern. The unsafe operation is evaluated
on an input where the singular points have been replaced by a harmless value, and the result is
then selected. A single ``where`` gives a finite value but still a NaN gradient, because the
gradient of the unused branch is multiplied by zero (``0 * inf = nan``). The value returned at the
singular point (an exact zero) is documented on each function and tested, with its gradient.

Range: float32 overflows above about 3.4e38 and flushes below about 1.2e-38, so anything built on
``re**2 + im**2`` or ``x**2`` fails for magnitudes above ~1.8e19 or below ~1e-19 although the
answer fits. The helpers here divide by :func:`pow2_scale`, a power of two near the largest
magnitude involved, before squaring, and multiply back after: ``|z| = s * sqrt((re/s)**2 +
(im/s)**2)``. A power of two makes the scaling exact, so in the ordinary range the results are
those of the unscaled formulas (bit for bit for sums of squares and ratios). The scale is
``stop_gradient``-ed: that is exact whenever the formula equals the unscaled one for every
constant ``s`` (the gradient through ``s`` is then zero), which holds for every use in jaxspec
(norms, ratios, angles, normalisation).

NaN policy: NaN or inf in the input propagates to the output, value and gradient, so that a
training loop sees corrupt data instead of a silently finite number: ``safe_abs(nan + 0j)`` is
NaN (with a NaN gradient), ``safe_div(nan, 0.0)`` is NaN, ``safe_sqrt(-inf)`` is NaN. Only exact
zeros (silence) take the documented finite branch. An infinite input gives inf or NaN in the
value or the gradient, except through a map that saturates (its limit at infinity is finite,
e.g. ``tanh``: ``masks.cirm_compress``). :func:`propagate_nonfinite` restores the policy for
results chosen by a comparison (a binary mask, a silence rule). Finite input never gives NaN or
inf, in value or gradient, except where the true answer itself does not fit in the dtype
(``|1e20 + 0j|**2``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _tiny(dtype) -> jax.Array:
    """Default log floor: ``finfo.tiny / finfo.eps`` (~1e-31 in float32, ~2e-292 in float64).

    Not ``finfo.tiny`` itself: the gradient of ``c * log(x)`` at the floor is ``c / floor``, which
    overflows float32 to inf for ``c >= ~4`` (e.g. ``10 * log10``), and ``inf * 0`` is NaN.
    """
    fi = jnp.finfo(dtype)
    return jnp.asarray(fi.tiny / fi.eps, dtype)


def _nonfinite(x: jax.Array) -> jax.Array:
    return jnp.logical_not(jnp.isfinite(x))


_EXPONENT_BITS = {
    jnp.dtype(jnp.float32): (jnp.int32, 0x7F800000),
    jnp.dtype(jnp.float64): (jnp.int64, 0x7FF0000000000000),
}


def pow2_scale(m: jax.Array, *, axis=None) -> jax.Array:
    """A power of two ``s`` with ``max(m) / s`` in ``[1, 2)``: the scale to divide by before squaring.

    Args:
      m: non-negative real magnitudes (e.g. ``abs(x)``).
      axis: ``None`` for one scale per element, or the axis/axes reduced by ``max`` (kept as
        size-1 dims, so the scale broadcasts back against ``m``).

    Returns:
      Real array (``stop_gradient``-ed) of powers of two; 1 where the maximum is 0, subnormal,
      inf or NaN (then the unscaled formula runs and a NaN/inf propagates).
    """
    m = jnp.asarray(m)
    if axis is not None:
        m = jnp.max(m, axis=axis, keepdims=True)
    m = jax.lax.stop_gradient(m)
    fi = jnp.finfo(m.dtype)
    ok = (m >= fi.tiny) & (m <= fi.max)  # False for 0, subnormals, inf and NaN
    bits = _EXPONENT_BITS.get(jnp.dtype(m.dtype))
    if bits is None:  # another float type: the same power of two via frexp
        _, e = jnp.frexp(jnp.where(ok, m, jnp.ones_like(m)))
        return jnp.where(ok, jnp.ldexp(jnp.ones_like(m), e - 1), jnp.ones_like(m))
    # clearing the mantissa bits of a normal number leaves 2 ** floor(log2 m): two cheap bit ops
    itype, mask = bits
    s = jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(m, itype) & jnp.asarray(mask, itype), m.dtype)
    return jnp.where(ok, s, jnp.ones_like(m))


def amax(x: jax.Array, *, axis, keepdims: bool = False) -> jax.Array:
    """``jnp.max`` whose gradient goes to one maximal element (the first), never NaN.

    ``jnp.max``'s gradient finds the maxima by comparing the input with the result and divides by
    their count. When XLA computes the input twice (once for the maximum, once for the
    comparison, in two fusions), the two copies can round differently; the count is then 0 and
    the gradient 0/0 = NaN. Seen on CPU with LLVM's optimisation level changed, and possible on
    any backend whose fusion decisions differ. Here the gradient follows ``argmax``: no count, no
    division. At ties (silence) all of it goes to the first maximum, a valid subgradient.

    Args:
      x: real array.
      axis: axis or tuple of axes reduced.
      keepdims: keep the reduced axes as size 1.

    Returns:
      The maximum, as ``jnp.max``; NaN where a reduced slice holds a NaN.
    """
    x = jnp.asarray(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return _amax(x, tuple(sorted(a % x.ndim for a in axes)), bool(keepdims))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _amax(x, axes, keepdims):
    return jnp.max(x, axis=axes, keepdims=keepdims)


@_amax.defjvp
def _amax_jvp(axes, keepdims, primals, tangents):
    (x,), (t,) = primals, tangents
    kept = [i for i in range(x.ndim) if i not in axes]

    def rows(a):  # the reduced axes last, as one
        a = jnp.transpose(a, kept + list(axes))
        return a.reshape(a.shape[:len(kept)] + (-1,))

    first = jnp.argmax(rows(x), axis=-1, keepdims=True)
    out = jnp.max(x, axis=axes, keepdims=keepdims)
    tan = jnp.take_along_axis(rows(t), first, axis=-1)[..., 0]
    return out, (jnp.expand_dims(tan, axes) if keepdims else tan)


def abs_max(z: jax.Array) -> jax.Array:
    """``max(|re|, |im|)`` for complex ``z``, ``|z|`` for real (NaN propagates)."""
    if jnp.iscomplexobj(z):
        return jnp.maximum(jnp.abs(z.real), jnp.abs(z.imag))
    return jnp.abs(z)


def divide_by_scale(z: jax.Array, s: jax.Array) -> jax.Array:
    """``z / s`` for real or complex ``z`` and a real scale ``s`` (exact for a power of two)."""
    z = jnp.asarray(z)
    if jnp.iscomplexobj(z):
        return jax.lax.complex(z.real / s, z.imag / s)
    return z / s


def safe_div(num: jax.Array, den: jax.Array, *, fill: float = 0.0) -> jax.Array:
    """``num / den``, returning ``fill`` where ``den == 0`` and ``num`` is finite.

    Value and gradient finite there; a NaN or inf ``num`` over a zero ``den`` gives NaN/inf (see
    the NaN policy in the module docstring), as does a NaN ``den``.
    """
    num = jnp.asarray(num)
    den = jnp.asarray(den)
    ok = (den != 0) | _nonfinite(num)
    safe_den = jnp.where(ok, den, jnp.ones_like(den))
    return jnp.where(ok, num / safe_den, jnp.asarray(fill, jnp.result_type(num, den)))


def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` for ``x >= 0``; 0 with gradient 0 at finite ``x <= 0``; NaN at NaN or ``-inf``."""
    x = jnp.asarray(x)
    ok = (x > 0) | _nonfinite(x)
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, x, jnp.ones_like(x))), jnp.zeros_like(x))


def safe_abs(z: jax.Array) -> jax.Array:
    """``|z|`` for real or complex ``z``; value 0 and gradient 0 at ``z == 0``.

    Complex ``z`` is scaled by :func:`pow2_scale` of ``max(|re|, |im|)`` before squaring, so
    ``|1e20 + 1e20j|`` is 1.41e20 and ``|1e-30 + 1e-30j|`` is 1.41e-30 in float32 (value and
    gradient), like ``hypot``. ``jnp.abs`` of a complex zero has a NaN gradient in some JAX
    versions; this does not.
    """
    z = jnp.asarray(z)
    if not jnp.iscomplexobj(z):
        return jnp.abs(z)
    s = pow2_scale(abs_max(z))
    re, im = z.real / s, z.imag / s
    q = re * re + im * im
    ok = q != 0  # True for NaN
    return jnp.where(ok, s * jnp.sqrt(jnp.where(ok, q, jnp.ones_like(q))), jnp.zeros_like(q))


def safe_norm(x: jax.Array, *, axis=-1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm ``sqrt(sum |x|**2)`` over ``axis`` without overflow or underflow.

    Scaled by :func:`pow2_scale` of ``max |x|`` over ``axis`` (real or complex ``x``). 0 with
    gradient 0 where all of ``x`` is 0 over ``axis``.
    """
    x = jnp.asarray(x)
    s = pow2_scale(abs_max(x), axis=axis)
    xs = divide_by_scale(x, s)
    q = jnp.sum(xs.real * xs.real + xs.imag * xs.imag if jnp.iscomplexobj(xs) else xs * xs, axis=axis, keepdims=True)
    n = s * safe_sqrt(q)
    return n if keepdims else jnp.squeeze(n, axis=axis)


def safe_angle(z: jax.Array) -> jax.Array:
    """``angle(z)`` in (-pi, pi]; 0 with gradient 0 at ``z == 0``.

    Scale-free: ``angle(1e-30 * (1 + 1j))`` is pi/4 and its gradient (about 1e30) is finite.
    """
    z = jnp.asarray(z)
    if not jnp.iscomplexobj(z):
        z = z.astype(jnp.result_type(z, jnp.complex64))
    s = pow2_scale(abs_max(z))
    re, im = z.real / s, z.imag / s
    ok = (re != 0) | (im != 0)  # True for NaN
    return jnp.where(ok, jnp.arctan2(jnp.where(ok, im, 0.0), jnp.where(ok, re, 1.0)), jnp.zeros_like(re))


def safe_unit(z: jax.Array) -> jax.Array:
    """``z / |z|`` (a unit phasor); ``1 + 0j`` with gradient 0 at ``z == 0`` (scaled like :func:`safe_abs`)."""
    z = jnp.asarray(z)
    s = pow2_scale(abs_max(z))
    zs = divide_by_scale(z, s)
    re, im = zs.real, zs.imag
    mag2 = re * re + im * im
    ok = mag2 != 0  # True for NaN
    inv = jax.lax.rsqrt(jnp.where(ok, mag2, jnp.ones_like(mag2)))
    return jnp.where(ok, zs * inv.astype(zs.dtype), jnp.ones_like(z))


def safe_pow(x: jax.Array, p) -> jax.Array:
    """``x ** p`` for ``x >= 0`` and any ``p > 0`` (may be traced); 0 with gradient 0 at finite ``x <= 0``.

    ``x ** p`` with ``p < 1`` has an infinite derivative at 0; here the gradient at 0 is 0. NaN or
    ``-inf`` gives NaN, ``+inf`` gives inf.
    """
    x = jnp.asarray(x)
    ok = (x > 0) | _nonfinite(x)
    return jnp.where(ok, jnp.power(jnp.where(ok, x, jnp.ones_like(x)), p), jnp.zeros_like(x))


def safe_log(x: jax.Array, *, floor: float | jax.Array | None = None) -> jax.Array:
    """Natural log of ``max(x, floor)``; ``floor`` defaults to ``finfo.tiny / finfo.eps``.

    Finite value and gradient for finite ``x >= 0`` (also when scaled, as in ``10 * log10``); the
    gradient is 0 below the floor. NaN gives NaN (``jnp.maximum`` propagates it), ``+inf`` inf.
    """
    x = jnp.asarray(x)
    fl = _tiny(x.dtype) if floor is None else jnp.asarray(floor, x.dtype)
    return jnp.log(jnp.maximum(x, fl))


def safe_log10(x: jax.Array, *, floor: float | jax.Array | None = None) -> jax.Array:
    """Base-10 log of ``max(x, floor)``; see :func:`safe_log`."""
    return safe_log(x, floor=floor) / jnp.log(jnp.asarray(10.0, jnp.asarray(x).dtype))


def propagate_nonfinite(out: jax.Array, *xs: jax.Array, axis=None) -> jax.Array:
    """``out`` made NaN, in value and gradient, wherever one of ``xs`` is NaN or inf.

    For results that select a finite branch from a comparison (a binary mask, a silence rule, a
    clamp) and would otherwise hide corrupt input. Elsewhere ``out`` is returned unchanged (plus an
    exact 0) and its gradient is untouched.

    Args:
      out: the result.
      xs: real or complex inputs broadcastable to ``out``, or with extra trailing axes reduced by
        ``axis``.
      axis: axes of each ``x`` summed away to reach ``out``'s shape (e.g. ``-1`` for a metric).

    Returns:
      Array like ``out``.
    """
    out = jnp.asarray(out)
    for x in xs:
        x = jnp.asarray(x)
        for p in ((x.real, x.imag) if jnp.iscomplexobj(x) else (x,)):
            bad = _nonfinite(p)
            pb = jnp.where(bad, p, jnp.zeros_like(p))
            poison = pb * pb * 0  # NaN with a NaN gradient where p is NaN or inf; exactly 0 elsewhere
            if axis is not None:
                poison = jnp.sum(poison, axis=axis)
            out = out + poison.astype(out.dtype)
    return out
