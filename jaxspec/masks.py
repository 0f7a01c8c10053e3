"""Ideal time-frequency masks: training targets computed from the clean and noise STFTs.

Every mask takes the complex STFTs ``clean`` (S) and ``noise`` (N) of the same shape, with the
mixture ``Y = S + N``, and is elementwise (any shape; ``(..., freq, frames)`` in practice).
Notation: ``|S|^2 = re^2 + im^2``, ``Re(S N*)`` the real part of ``S conj(N)``, and
``|Y|^2 = |S|^2 + |N|^2 + 2 Re(S N*)``.

Silence: all masks have finite values and gradients at silent bins (``S = N = 0``, ``S = 0``,
``N = 0``) and where the noise cancels the speech (``Y = 0``). The rule, stated again on each
function: a bin with no speech (``S = 0``) gets mask 0, a bin with no noise (``N = 0``, ``S != 0``)
gets the mask's clean-only value (1 for IBM/IRM/IAM/PSM/ORM), and a ratio with ``|Y| = 0`` in its
denominator is 0. This is also what the common ``eps``-in-the-denominator code returns, without
its bias elsewhere.

Range: every mask is invariant to scaling ``S`` and ``N`` together, and is computed on the bin
divided by a power of two near its largest part (``max(|S|, |N|)`` for IBM/IRM, ``|Y|`` for the
masks with ``|Y|`` in the denominator), so no power is squared out of float32 range: the masks of
``1e20 * S, 1e20 * N`` and of ``1e-20 * S, 1e-20 * N`` equal those of ``S, N``. NaN or inf in
``S`` or ``N`` gives NaN in that bin (value and gradient), never a silently finite mask.

Parameters that do not fix a shape (``beta``, ``threshold_db``, ``temperature``, ``K``, ``C`` and
the clipping bounds) may be traced; they broadcast elementwise against the STFT (use
``beta[..., None, None]`` for one value per example). Python/NumPy values are checked eagerly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _numerics

__all__ = [
    "ibm",
    "soft_ibm",
    "irm",
    "iam",
    "psm",
    "cirm",
    "cirm_compress",
    "cirm_decompress",
    "orm",
    "apply_mask",
    "apply_magnitude",
]


# ----------------------------------------------------------------------------- helpers


def _pair(fn: str, clean: Any, noise: Any) -> tuple[jax.Array, jax.Array]:
    S = _checks.complex_spec(fn, "clean", clean, min_ndim=0)
    N = _checks.complex_spec(fn, "noise", noise, min_ndim=0)
    _checks.same_shape(fn, ("clean", "noise"), S, N)
    dt = jnp.result_type(S.dtype, N.dtype)
    return S.astype(dt), N.astype(dt)


def _rdt(z: jax.Array):
    return jnp.finfo(z.dtype).dtype


def _pow2(z: jax.Array) -> jax.Array:
    return z.real * z.real + z.imag * z.imag


def _scaled_pair(S: jax.Array, N: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``S / s, N / s`` with ``s`` a power of two near ``max(|S|, |N|)`` per bin (stop_gradient:
    the masks are invariant to a common scale)."""
    s = _numerics.pow2_scale(jnp.maximum(_numerics.abs_max(S), _numerics.abs_max(N)))
    return _numerics.divide_by_scale(S, s), _numerics.divide_by_scale(N, s)


def _scaled_by_mixture(S: jax.Array, N: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``S / s, Y / s`` with ``Y = S + N`` and ``s`` a power of two near ``|Y|`` per bin, so that
    ``|Y / s|^2`` is in ``[1, 8)`` (or 0) whatever the scale of the bin."""
    Y = S + N
    s = _numerics.pow2_scale(_numerics.abs_max(Y))
    return _numerics.divide_by_scale(S, s), _numerics.divide_by_scale(Y, s)


def _param(fn: str, name: str, value: Any, dtype, *, positive: bool = False) -> jax.Array:
    """A numeric parameter that may be traced; concrete values are checked (finite, maybe > 0)."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a real number or array, got {value!r}")
    if not _checks.is_traced(value):
        try:
            arr = np.asarray(value)
        except Exception:  # an abstract value that is not a Tracer instance
            arr = None
        if arr is not None:
            if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
                raise TypeError(f"{fn}: {name} must be a real number or array, got {value!r}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{fn}: {name} must be finite, got {value!r}")
            if positive and np.any(arr <= 0):
                raise ValueError(f"{fn}: {name} must be > 0, got {value!r}")
    return jnp.asarray(value, dtype)


def _concrete(value: Any) -> np.ndarray | None:
    if _checks.is_traced(value):
        return None
    try:
        return np.asarray(value)
    except Exception:
        return None


def _compress(x: jax.Array, K: jax.Array, C: jax.Array) -> jax.Array:
    # K (1 - e^{-Cx}) / (1 + e^{-Cx}) == K tanh(C x / 2); the tanh form never overflows
    return K * jnp.tanh(0.5 * C * x)


def _decompress(m: jax.Array, K: jax.Array, C: jax.Array) -> jax.Array:
    # x = -(1/C) log((K - m) / (K + m)) == (2/C) artanh(m / K), |m / K| clipped below 1
    one = jnp.asarray(1.0, m.dtype) - jnp.asarray(jnp.finfo(m.dtype).eps, m.dtype)
    u = jnp.clip(m / K, -one, one)
    return (2.0 / C) * jnp.arctanh(u)


def _maybe_compress(fn: str, x: jax.Array, K: Any, C: Any) -> jax.Array:
    if K is None:
        return x
    K = _param(fn, "K", K, x.dtype, positive=True)
    C = _param(fn, "C", C, x.dtype, positive=True)
    return _compress(x, K, C)


# ----------------------------------------------------------------------------- binary masks


def ibm(clean: jax.Array, noise: jax.Array, *, threshold_db: Any = 0.0) -> jax.Array:
    """Ideal binary mask: 1 where the local SNR ``10 log10(|S|^2 / |N|^2)`` is ``>= threshold_db``.

    Covers the three common variants: ``|S| >= |N|`` is ``threshold_db=0``; a magnitude-ratio
    threshold ``|S| / |N| >= r`` is ``threshold_db = 20 log10(r)``; a local-SNR criterion ``LC``
    is ``threshold_db = LC``. Computed without logs as ``|S|^2 >= 10^(threshold_db/10) |N|^2``.

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``.
      noise: complex STFT of the noise, same shape.
      threshold_db: local SNR threshold in dB (scalar or broadcastable; may be traced).

    Returns:
      Real ``(..., freq, frames)`` array of 0.0 and 1.0. Silent bins: ``S = 0`` (with or without
      noise, i.e. also ``0/0``) gives 0; ``N = 0, S != 0`` gives 1. Gradient: zero everywhere.
    """
    fn = "ibm"
    S, N = _pair(fn, clean, noise)
    rdt = _rdt(S)
    thr = _param(fn, "threshold_db", threshold_db, rdt)
    Ss, Ns = _scaled_pair(S, N)
    ps, pn = _pow2(Ss), _pow2(Ns)
    c = jnp.power(jnp.asarray(10.0, rdt), thr / 10.0)
    return _numerics.propagate_nonfinite(((ps >= c * pn) & (ps > 0)).astype(rdt), S, N)


def soft_ibm(clean: jax.Array, noise: jax.Array, *, threshold_db: Any = 0.0, temperature: Any = 1.0) -> jax.Array:
    """Differentiable binary mask: ``sigmoid((local_snr_db - threshold_db) / temperature)``.

    ``local_snr_db = 10 log10(|S|^2 / |N|^2)``. Tends to :func:`ibm` as ``temperature -> 0``.
    With ``threshold_db = 0`` and ``temperature = 10 / ln 10`` (about 4.34 dB) it equals the
    Wiener-like ``|S|^2 / (|S|^2 + |N|^2)`` (:func:`irm` with ``beta=1``).

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``.
      noise: complex STFT of the noise, same shape.
      threshold_db: local SNR in dB where the mask is 0.5 (may be traced).
      temperature: slope in dB, ``> 0`` (may be traced).

    Returns:
      Real ``(..., freq, frames)`` in ``[0, 1]``. Silent bins: ``S = 0`` (also ``0/0``) gives 0,
      ``N = 0, S != 0`` gives 1, with zero gradient; the logs are taken on floored powers, so
      gradients are finite everywhere.
    """
    fn = "soft_ibm"
    S, N = _pair(fn, clean, noise)
    rdt = _rdt(S)
    thr = _param(fn, "threshold_db", threshold_db, rdt)
    temp = _param(fn, "temperature", temperature, rdt, positive=True)
    Ss, Ns = _scaled_pair(S, N)
    ps, pn = _pow2(Ss), _pow2(Ns)
    lsnr = 10.0 * (_numerics.safe_log10(ps) - _numerics.safe_log10(pn))
    soft = jax.nn.sigmoid((lsnr - thr) / temp)
    m = jnp.where(ps > 0, jnp.where(pn > 0, soft, jnp.ones_like(soft)), jnp.zeros_like(soft))
    return _numerics.propagate_nonfinite(m, S, N)


# ----------------------------------------------------------------------------- ratio masks


def irm(clean: jax.Array, noise: jax.Array, *, beta: Any = 0.5) -> jax.Array:
    """Ideal ratio mask ``(|S|^2 / (|S|^2 + |N|^2)) ** beta``.

    The exponent applies to the whole ratio: ``beta=0.5`` gives ``|S| / sqrt(|S|^2 + |N|^2)``
    (the square-root Wiener gain). A widely copied snippet writes ``|S|^2 / (|S|^2 + |N|^2) ** beta``
    (only the denominator raised), which is not bounded by 1 and not scale invariant.

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``.
      noise: complex STFT of the noise, same shape.
      beta: exponent ``> 0`` (scalar or broadcastable; may be traced).

    Returns:
      Real ``(..., freq, frames)`` in ``[0, 1]``. Silent bins: ``S = 0`` (also ``0/0``) gives 0,
      ``N = 0, S != 0`` gives 1; values and gradients finite.
    """
    fn = "irm"
    S, N = _pair(fn, clean, noise)
    b = _param(fn, "beta", beta, _rdt(S), positive=True)
    _checks.broadcastable(fn, "beta", b.shape, S.shape, "clean")
    Ss, Ns = _scaled_pair(S, N)
    ps, pn = _pow2(Ss), _pow2(Ns)
    return _numerics.safe_pow(_numerics.safe_div(ps, ps + pn), b)


def iam(clean: jax.Array, noise: jax.Array, *, max: Any = 1.0) -> jax.Array:  # noqa: A002 - contract name
    """Ideal amplitude mask (spectral magnitude mask) ``|S| / |Y|``, clipped to ``[0, max]``.

    Equals ``|cirm(clean, noise)|`` when unclipped.

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``.
      noise: complex STFT of the noise, same shape.
      max: upper clip, ``> 0`` (may be traced), or None for the unclipped ratio.

    Returns:
      Real ``(..., freq, frames)`` in ``[0, max]`` (``[0, inf)`` unclipped). ``Y = 0`` (the
      silent bin ``0/0``, or noise cancelling the speech exactly) gives 0; ``N = 0, S != 0``
      gives 1. Values and gradients finite.
    """
    fn = "iam"
    S, N = _pair(fn, clean, noise)
    Ss, Ys = _scaled_by_mixture(S, N)
    m = _numerics.safe_div(_numerics.safe_abs(Ss), _numerics.safe_abs(Ys))
    if max is None:
        return m
    hi = _param(fn, "max", max, _rdt(S), positive=True)
    return jnp.minimum(m, hi)


def psm(clean: jax.Array, noise: jax.Array, *, min: Any = 0.0, max: Any = 1.0) -> jax.Array:  # noqa: A002
    """Phase-sensitive mask ``|S| / |Y| cos(theta_S - theta_Y)``, truncated to ``[min, max]``.

    Computed without angles as ``Re(S Y*) / |Y|^2``, i.e. ``Re(cirm(clean, noise))``; untruncated
    it also equals :func:`orm` without compression.

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``.
      noise: complex STFT of the noise, same shape.
      min: lower truncation (may be traced), or None for none.
      max: upper truncation (may be traced), or None for none; ``min <= max`` when both concrete.

    Returns:
      Real ``(..., freq, frames)``. ``Y = 0`` (``0/0`` or exact cancellation) gives 0 before
      truncation; ``N = 0, S != 0`` gives 1. Values and gradients finite.
    """
    fn = "psm"
    S, N = _pair(fn, clean, noise)
    rdt = _rdt(S)
    S, Y = _scaled_by_mixture(S, N)
    m = _numerics.safe_div(S.real * Y.real + S.imag * Y.imag, _pow2(Y))
    lo = None if min is None else _param(fn, "min", min, rdt)
    hi = None if max is None else _param(fn, "max", max, rdt)
    if min is not None and max is not None:
        a, b = _concrete(min), _concrete(max)
        if a is not None and b is not None and np.any(a > b):
            raise ValueError(f"{fn}: min must be <= max, got min={min!r}, max={max!r}")
    if lo is not None:
        m = jnp.maximum(m, lo)
    if hi is not None:
        m = jnp.minimum(m, hi)
    return m


def cirm(clean: jax.Array, noise: jax.Array, *, K: Any = None, C: Any = 0.1) -> jax.Array:  # noqa: N803
    """Complex ideal ratio mask ``M = S / Y``, so that ``M * Y == S`` exactly.

    With ``K`` given, the real and imaginary parts are each compressed by
    ``K (1 - e^{-C x}) / (1 + e^{-C x})`` (Williamson et al. 2016), computed as the equal and
    overflow-free ``K tanh(C x / 2)``; :func:`cirm_decompress` inverts it.

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``.
      noise: complex STFT of the noise, same shape.
      K: compression bound ``> 0`` (e.g. 10; may be traced), or None for the uncompressed mask.
      C: compression steepness ``> 0`` (may be traced); used only with ``K``.

    Returns:
      Complex ``(..., freq, frames)``. ``Y = 0`` (``0/0`` or exact cancellation) gives 0;
      ``N = 0, S != 0`` gives 1. Values and gradients finite.
    """
    fn = "cirm"
    S, N = _pair(fn, clean, noise)
    S, Y = _scaled_by_mixture(S, N)
    py = _pow2(Y)
    re = _numerics.safe_div(S.real * Y.real + S.imag * Y.imag, py)
    im = _numerics.safe_div(S.imag * Y.real - S.real * Y.imag, py)
    if K is not None:
        Kp = _param(fn, "K", K, re.dtype, positive=True)
        Cp = _param(fn, "C", C, re.dtype, positive=True)
        re, im = _compress(re, Kp, Cp), _compress(im, Kp, Cp)
    return jax.lax.complex(re, im)


def cirm_compress(mask: jax.Array, *, K: Any = 10.0, C: Any = 0.1) -> jax.Array:  # noqa: N803
    """Compress a complex (or real) mask: ``K tanh(C x / 2)`` on the real and imaginary parts.

    ``cirm(S, N, K=K, C=C) == cirm_compress(cirm(S, N), K=K, C=C)``.

    Args:
      mask: complex (or real) mask ``(..., freq, frames)``.
      K: bound ``> 0`` of each compressed part (may be traced).
      C: steepness ``> 0`` (may be traced).

    Returns:
      Array of the shape and kind (complex/real) of ``mask``, each part in ``(-K, K)``.
    """
    fn = "cirm_compress"
    m = _checks.floating(fn, "mask", mask)
    rdt = _rdt(m)
    Kp = _param(fn, "K", K, rdt, positive=True)
    Cp = _param(fn, "C", C, rdt, positive=True)
    if jnp.iscomplexobj(m):
        return jax.lax.complex(_compress(m.real, Kp, Cp), _compress(m.imag, Kp, Cp))
    return _compress(m, Kp, Cp)


def cirm_decompress(mask: jax.Array, *, K: Any, C: Any) -> jax.Array:  # noqa: N803
    """Invert the cIRM compression: ``x = -(1/C) log((K - m) / (K + m))`` per part.

    Computed as ``(2 / C) artanh(m / K)`` with ``|m / K|`` clipped to ``1 - eps`` (a saturated
    estimate ``|m| >= K`` maps to about ``+-(2 / C) * 8.3`` in float32 instead of infinity).
    Recovers the uncompressed mask wherever the compressed one is not saturated.

    Args:
      mask: compressed complex (or real) mask ``(..., freq, frames)``, e.g. a network output.
      K: the compression bound used, ``> 0`` (may be traced).
      C: the steepness used, ``> 0`` (may be traced).

    Returns:
      Array of the shape and kind of ``mask``: the uncompressed mask (values and gradients finite).
    """
    fn = "cirm_decompress"
    m = _checks.floating(fn, "mask", mask)
    rdt = _rdt(m)
    Kp = _param(fn, "K", K, rdt, positive=True)
    Cp = _param(fn, "C", C, rdt, positive=True)
    if jnp.iscomplexobj(m):
        return jax.lax.complex(_decompress(m.real, Kp, Cp), _decompress(m.imag, Kp, Cp))
    return _decompress(m, Kp, Cp)


def orm(clean: jax.Array, noise: jax.Array, *, K: Any = None, C: Any = 0.1) -> jax.Array:  # noqa: N803
    """Optimal ratio mask ``(|S|^2 + Re(S N*)) / (|S|^2 + |N|^2 + 2 Re(S N*))``.

    The real mask minimising ``|S - M Y|^2`` (Liang et al. 2015); the numerator is ``Re(S Y*)``
    and the denominator ``|Y|^2``, so it equals the untruncated :func:`psm` and ``Re(cirm)``.
    It is unbounded; with ``K`` given it is compressed like the cIRM, ``K tanh(C x / 2)`` (the
    same as ``K (1 - e^{-Cx}) / (1 + e^{-Cx})``).

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``.
      noise: complex STFT of the noise, same shape.
      K: compression bound ``> 0`` (may be traced), or None for none.
      C: steepness ``> 0`` (may be traced); used only with ``K``.

    Returns:
      Real ``(..., freq, frames)``. ``Y = 0`` (``0/0`` or exact cancellation) gives 0;
      ``N = 0, S != 0`` gives 1 (``K tanh(C / 2)`` compressed). Values and gradients finite.
    """
    fn = "orm"
    S, N = _pair(fn, clean, noise)
    # numerator |S|^2 + Re(S N*) = Re(S Y*), denominator |S|^2 + |N|^2 + 2 Re(S N*) = |Y|^2: the
    # forms with Y = S + N avoid the cancellation of the expanded sums when N is close to -S
    S, Y = _scaled_by_mixture(S, N)
    m = _numerics.safe_div(S.real * Y.real + S.imag * Y.imag, _pow2(Y))
    return _maybe_compress(fn, m, K, C)


# ----------------------------------------------------------------------------- applying masks


def apply_mask(mixture: jax.Array, mask: jax.Array) -> jax.Array:
    """Apply a real or complex mask to the mixture STFT: ``mask * mixture``.

    A real mask scales the magnitude and keeps the mixture's phase; a complex mask (e.g. the
    uncompressed :func:`cirm`, or :func:`cirm_decompress` of a network output) also rotates it.

    Args:
      mixture: complex STFT ``(..., freq, frames)``.
      mask: real or complex mask broadcastable to ``mixture``'s shape.

    Returns:
      Complex ``(..., freq, frames)`` estimate of the clean STFT, e.g. for :func:`jaxspec.istft`.
    """
    fn = "apply_mask"
    Y = _checks.complex_spec(fn, "mixture", mixture, min_ndim=0)
    M = _checks.floating(fn, "mask", mask)
    try:
        shape = jnp.broadcast_shapes(Y.shape, M.shape)
    except ValueError:
        shape = None
    if shape != Y.shape:
        raise ValueError(f"{fn}: mask with shape {M.shape} does not broadcast to the mixture's shape {Y.shape}")
    dt = jnp.result_type(Y.dtype, M.dtype)
    return (M * Y).astype(dt)


def apply_magnitude(mixture: jax.Array, magnitude: jax.Array) -> jax.Array:
    """Combine an estimated magnitude with the mixture's phase: ``magnitude * Y / |Y|``.

    The usual reconstruction path of magnitude-domain enhancement: ``istft(apply_magnitude(Y,
    est_mag))``. For a real mask ``M >= 0``, ``apply_magnitude(Y, M * |Y|) == apply_mask(Y, M)``.

    Args:
      mixture: complex STFT ``(..., freq, frames)``, whose phase is used.
      magnitude: real, non-negative ``(..., freq, frames)`` (broadcastable).

    Returns:
      Complex ``(..., freq, frames)``. Where ``Y = 0`` the phase is taken as 0 (the estimate is
      ``magnitude + 0j``), with finite gradients.
    """
    fn = "apply_magnitude"
    Y = _checks.complex_spec(fn, "mixture", mixture, min_ndim=0)
    A = _checks.real_signal(fn, "magnitude", magnitude)
    try:
        shape = jnp.broadcast_shapes(Y.shape, A.shape)
    except ValueError:
        shape = None
    if shape != Y.shape:
        raise ValueError(f"{fn}: magnitude with shape {A.shape} does not broadcast to the mixture's shape {Y.shape}")
    u = _numerics.safe_unit(Y)
    dt = jnp.result_type(Y.dtype, A.dtype)
    return (A * u).astype(dt)
