"""Elementwise views of a complex STFT: magnitude, phase, power, polar form.

All are finite in value and gradient at exact zeros (``jnp.abs`` and ``jnp.angle`` of a complex
zero have NaN gradients in JAX), keep the whole float32 range (``|S|`` and the angle are computed
without squaring, so ``magnitude(1e20 + 1e20j)`` is 1.41e20 and ``phase(1e-30 * (1 + 1j))`` is
pi/4), and let NaN or inf in the input through to the output, value and gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks, _numerics


def magnitude(S: jax.Array) -> jax.Array:
    """``|S|``, with value 0 and gradient 0 at ``S == 0``.

    Computed like ``hypot`` (scaled by a power of two before squaring), so the value and gradient
    are right over the whole float32 range; NaN or inf in ``S`` gives NaN/inf.

    Args:
      S: complex (or real) array, e.g. an STFT ``(..., freq, frames)``.

    Returns:
      Real array of the same shape (complex64 -> float32).
    """
    return _numerics.safe_abs(_checks.floating("magnitude", "S", S))


def phase(S: jax.Array) -> jax.Array:
    """Angle of ``S`` in radians, in (-pi, pi]; 0 with gradient 0 at ``S == 0``.

    Independent of the scale of ``S``: value and gradient are right over the whole float32 range
    (``phase(1e-30 * (1 + 1j))`` is pi/4); NaN in ``S`` gives NaN.

    Args:
      S: complex array, e.g. an STFT ``(..., freq, frames)``.

    Returns:
      Real array of the same shape.
    """
    return _numerics.safe_angle(_checks.floating("phase", "S", S))


def power(S: jax.Array) -> jax.Array:
    """``|S| ** 2`` computed as ``re**2 + im**2`` (smooth everywhere).

    Overflows to inf only where the answer exceeds float32 (``|S| > 1.8e19``) and flushes to 0
    only below 1e-19 (answers below float32's smallest normal number).

    Args:
      S: complex (or real) array ``(..., freq, frames)``.

    Returns:
      Real array of the same shape.
    """
    S = _checks.floating("power", "S", S)
    if jnp.iscomplexobj(S):
        return S.real * S.real + S.imag * S.imag
    return S * S


def polar(mag: jax.Array, phase: jax.Array) -> jax.Array:
    """Complex array from magnitude and phase: ``mag * exp(1j * phase)``.

    Args:
      mag: real ``(..., freq, frames)``.
      phase: real, broadcastable with ``mag`` (radians).

    Returns:
      Complex array of the broadcast shape (float32 -> complex64).
    """
    mag = _checks.real_signal("polar", "mag", mag)
    ph = _checks.real_signal("polar", "phase", phase)
    _checks.same_broadcast("polar", ("mag", "phase"), mag.shape, ph.shape)
    dt = jnp.result_type(mag.dtype, ph.dtype)
    mag, ph = mag.astype(dt), ph.astype(dt)
    return jax.lax.complex(mag * jnp.cos(ph), mag * jnp.sin(ph))


# -- decibel scales, magnitude compression and real/imaginary channels ---------------------------


def _db_axes(ndim: int) -> tuple[int, ...]:
    """The per-example axes of a spectrogram: the last two (fewer for 0-D/1-D input)."""
    return tuple(range(max(0, ndim - 2), ndim))


def _ref_value(fn: str, ref, mag_like: jax.Array) -> jax.Array:
    """``ref`` as an array broadcastable against ``mag_like``; ``"max"`` is per example."""
    if isinstance(ref, str):
        _checks.choice(fn, "ref", ref, ("max",))
        return _numerics.amax(mag_like, axis=_db_axes(mag_like.ndim), keepdims=True)
    if callable(ref):
        raise TypeError(
            f"{fn}: ref must be a number, an array broadcastable to the per-example shape, or 'max' "
            f"(per-example maximum); got the callable {ref!r}. librosa's ref=np.max reduces over the "
            f"whole batch; use ref='max' for a per-example maximum"
        )
    _checks.concrete_positive(fn, "ref", ref, allow_zero=True)
    return jnp.abs(jnp.asarray(ref, mag_like.dtype))


def _clamp_top_db(fn: str, db: jax.Array, top_db) -> jax.Array:
    if top_db is None:
        return db
    _checks.concrete_positive(fn, "top_db", top_db, allow_zero=True)
    peak = _numerics.amax(db, axis=_db_axes(db.ndim), keepdims=True)
    return jnp.maximum(db, peak - jnp.asarray(top_db, db.dtype))


def _log10_to_db(fn: str, lp: jax.Array, *, ref, amin, top_db) -> jax.Array:
    """:func:`power_to_db` of a power ``P`` given as ``lp = log10(P)`` (e.g. of a scaled mel power
    whose ``P`` itself would leave float32 range): ``10 * max(lp, log10(amin)) - ref_db``."""
    _checks.concrete_positive(fn, "amin", amin)
    amin = jnp.asarray(amin, lp.dtype)
    db = 10.0 * jnp.maximum(lp, _numerics.safe_log10(amin))
    if isinstance(ref, str):
        _checks.choice(fn, "ref", ref, ("max",))
        ref_db = _numerics.amax(db, axis=_db_axes(db.ndim), keepdims=True)
    else:
        ref_db = 10.0 * _numerics.safe_log10(jnp.maximum(_ref_value(fn, ref, lp), amin))
    return _clamp_top_db(fn, db - ref_db, top_db)


def power_to_db(P: jax.Array, *, ref=1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> jax.Array:
    """Power spectrogram to decibels: ``10 * log10(max(amin, P) / max(amin, |ref|))``.

    Matches ``librosa.power_to_db`` for a single example, except that ``top_db`` clamps **per
    example**: ``out = max(out, max(out over the last two axes) - top_db)``, so a quiet utterance in
    a batch is not floored relative to a loud one (librosa/librosax take the maximum over the whole
    array). Finite value and gradient everywhere, including ``P == 0`` (the gradient is 0 below
    ``amin`` and for clamped entries).

    Args:
      P: real, non-negative power ``(..., freq, frames)`` (e.g. :func:`power` of an STFT). Complex
        input raises ``TypeError``: pass ``jaxspec.power(S)`` (librosa would silently take ``|S|``).
      ref: reference power: a number or an array broadcastable to ``(..., 1, 1)`` (may be traced),
        or ``"max"`` for each example's own maximum over its last two axes.
      amin: floor on ``P`` and ``ref`` (> 0), avoiding ``log(0)``.
      top_db: dynamic range kept below each example's peak, in dB (>= 0, may be traced); ``None``
        disables the clamp.

    Returns:
      Real array of the same shape and dtype as ``P``, in dB.
    """
    fn = "power_to_db"
    P = jnp.asarray(P) if isinstance(P, jax.Array) else P
    if jnp.iscomplexobj(P):
        raise TypeError(f"{fn}: P must be a real power spectrogram, got complex dtype {jnp.asarray(P).dtype}; "
                        f"pass jaxspec.power(S) (or use amplitude_to_db(S) for |S|)")
    P = _checks.real_signal(fn, "P", P)
    return _log10_to_db(fn, _numerics.safe_log10(P), ref=ref, amin=amin, top_db=top_db)


def amplitude_to_db(A: jax.Array, *, ref=1.0, amin: float = 1e-5, top_db: float | None = 80.0) -> jax.Array:
    """Amplitude (magnitude) spectrogram to decibels: ``20 * log10(max(amin, |A|) / max(amin, |ref|))``.

    Matches ``librosa.amplitude_to_db`` for a single example, except that ``top_db`` clamps **per
    example** over the last two axes (see :func:`power_to_db`). A complex STFT is accepted and its
    magnitude used (value and gradient finite at ``S == 0``).

    Args:
      A: magnitude ``(..., freq, frames)``, real (``|A|`` is used) or complex (an STFT).
      ref: reference amplitude: a number or an array broadcastable to ``(..., 1, 1)`` (may be
        traced), or ``"max"`` for each example's own maximum ``|A|``.
      amin: floor on ``|A|`` and ``ref`` (> 0).
      top_db: dynamic range kept below each example's peak, in dB (>= 0, may be traced); ``None``
        disables the clamp.

    Returns:
      Real array of the same shape as ``A`` (complex64 -> float32), in dB.
    """
    fn = "amplitude_to_db"
    A = _numerics.safe_abs(_checks.floating(fn, "A", A))
    _checks.concrete_positive(fn, "amin", amin)
    amin = jnp.asarray(amin, A.dtype)
    ref_v = _ref_value(fn, ref, A)
    db = 20.0 * _numerics.safe_log10(jnp.maximum(A, amin)) - 20.0 * _numerics.safe_log10(jnp.maximum(ref_v, amin))
    return _clamp_top_db(fn, db, top_db)


def db_to_power(S_db: jax.Array, *, ref=1.0) -> jax.Array:
    """Decibels back to power: ``ref * 10 ** (S_db / 10)`` (inverse of :func:`power_to_db` above the clamp).

    Matches ``librosa.db_to_power``.

    Args:
      S_db: real array in dB ``(..., freq, frames)``.
      ref: reference power (number or broadcastable array; may be traced).

    Returns:
      Real array of the same shape and dtype, ``> 0``.
    """
    S_db = _checks.real_signal("db_to_power", "S_db", S_db)
    _checks.concrete_positive("db_to_power", "ref", ref, allow_zero=True)
    return jnp.asarray(ref, S_db.dtype) * jnp.power(jnp.asarray(10.0, S_db.dtype), 0.1 * S_db)


def db_to_amplitude(S_db: jax.Array, *, ref=1.0) -> jax.Array:
    """Decibels back to amplitude: ``ref * 10 ** (S_db / 20)`` (inverse of :func:`amplitude_to_db`).

    Matches ``librosa.db_to_amplitude``.

    Args:
      S_db: real array in dB ``(..., freq, frames)``.
      ref: reference amplitude (number or broadcastable array; may be traced).

    Returns:
      Real array of the same shape and dtype, ``> 0``.
    """
    S_db = _checks.real_signal("db_to_amplitude", "S_db", S_db)
    _checks.concrete_positive("db_to_amplitude", "ref", ref, allow_zero=True)
    return jnp.asarray(ref, S_db.dtype) * jnp.power(jnp.asarray(10.0, S_db.dtype), 0.05 * S_db)


def _compress(fn: str, S, p) -> jax.Array:
    S = _checks.floating(fn, "S", S)
    mag = _numerics.safe_abs(S)
    scaled = _numerics.safe_pow(mag, jnp.asarray(p, mag.dtype))
    if jnp.iscomplexobj(S):
        return _numerics.safe_unit(S) * scaled.astype(S.dtype)
    return jnp.sign(S) * scaled


def compress(S: jax.Array, *, power: float = 0.3) -> jax.Array:
    """Power-law magnitude compression keeping the phase: ``|S| ** power * exp(1j * angle(S))``.

    The compressed-spectrum representation of e.g. complex compressed spectral losses
    (``power=0.3``). At ``S == 0`` the value is 0 and the gradient 0 (``x ** 0.3`` has an infinite
    derivative at 0; here it is finite). Real input keeps its sign: ``sign(S) * |S| ** power``.

    Args:
      S: complex STFT (or real array) ``(..., freq, frames)``.
      power: exponent ``> 0`` (may be traced); ``1`` is the identity.

    Returns:
      Array of the same shape and dtype as ``S``.
    """
    _checks.concrete_positive("compress", "power", power)
    return _compress("compress", S, power)


def decompress(S: jax.Array, *, power: float = 0.3) -> jax.Array:
    """Inverse of :func:`compress`: ``|S| ** (1 / power) * exp(1j * angle(S))``.

    Args:
      S: compressed complex STFT (or real array) ``(..., freq, frames)``.
      power: the exponent given to :func:`compress` (``> 0``, may be traced).

    Returns:
      Array of the same shape and dtype as ``S``; 0 with gradient 0 at ``S == 0``.
    """
    _checks.concrete_positive("decompress", "power", power)
    inv = 1.0 / float(power) if isinstance(power, (int, float)) else 1.0 / jnp.asarray(power)
    return _compress("decompress", S, inv)


def _channel_axis(fn: str, axis) -> int:
    if _checks.is_traced(axis) or isinstance(axis, bool) or axis not in (-3, -1):
        raise ValueError(f"{fn}: axis must be -3 (channels first: (..., 2, freq, frames), PyTorch) or -1 (channels "
                         f"last: (..., freq, frames, 2), Flax/TensorFlow), got {axis!r}")
    return int(axis)


def to_channels(S: jax.Array, *, axis: int = -3) -> jax.Array:
    """Complex STFT to a real two-channel image ``[real, imag]`` for a CNN / U-Net.

    Lossless (unlike storing a spectrogram as an RGB image): ``from_channels(to_channels(S)) == S``.

    Args:
      S: complex ``(..., freq, frames)``.
      axis: where the channel axis goes (static): ``-3`` (default, channels first, PyTorch's
        ``NCHW``) or ``-1`` (channels last, the ``NHWC`` layout of ``flax.linen.Conv`` /
        ``flax.nnx.Conv``).

    Returns:
      Real ``(..., 2, freq, frames)`` (``axis=-3``) or ``(..., freq, frames, 2)`` (``axis=-1``):
      channel 0 the real part, channel 1 the imaginary part (complex64 -> float32).
    """
    axis = _channel_axis("to_channels", axis)
    S = _checks.complex_spec("to_channels", "S", S)
    return jnp.stack([S.real, S.imag], axis=axis)


def from_channels(X: jax.Array, *, axis: int = -3) -> jax.Array:
    """Inverse of :func:`to_channels`: real ``[real, imag]`` channels to complex ``(..., freq, frames)``.

    Args:
      X: real ``(..., 2, freq, frames)`` (``axis=-3``) or ``(..., freq, frames, 2)``
        (``axis=-1``), channel 0 real part, channel 1 imaginary part.
      axis: the channel axis (static): ``-3`` (channels first, default) or ``-1`` (channels last).

    Returns:
      Complex ``(..., freq, frames)`` (float32 -> complex64).
    """
    axis = _channel_axis("from_channels", axis)
    X = _checks.real_signal("from_channels", "X", X)
    if X.ndim < 3 or X.shape[axis] != 2:
        layout = "(..., 2, freq, frames)" if axis == -3 else "(..., freq, frames, 2)"
        raise ValueError(f"from_channels: X must have shape {layout}, got {X.shape}"
                         + (" (axis=-1: channels last)" if axis == -1 else ""))
    if axis == -1:
        return jax.lax.complex(X[..., 0], X[..., 1])
    return jax.lax.complex(X[..., 0, :, :], X[..., 1, :, :])
