"""Key-driven data augmentation: per example, reproducible, static shapes, inside a compiled step.

Each augmentation is a deterministic core that takes its parameters as arrays (``gain``,
``spec_augment``, ``eq``, ``reverb``) and a key-first random wrapper that only draws one parameter
set per example and calls the core (``random_gain``, ``random_spec_augment``, ``random_eq``,
``random_time_stretch``; ``synthetic_rir`` draws a room response). The batch shape of a wrapper is
every dimension of the input except the event dimensions (the last one for waveforms, the last two
for STFTs): a natively batched call draws independent parameters per example from one key, and a
call under ``vmap`` over split keys draws one set per key.

``chain(*augs)`` composes ``(key, x) -> x`` stages, splitting the key once per stage, and
``maybe(aug, p)`` applies a stage to each example with probability ``p``.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _fft

__all__ = [
    "gain",
    "random_gain",
    "spec_augment",
    "random_spec_augment",
    "eq",
    "eq_curve",
    "random_eq",
    "reverb",
    "synthetic_rir",
    "early_rir",
    "random_time_stretch",
    "chain",
    "maybe",
]

Augmentation = Callable[[jax.Array, jax.Array], jax.Array]


def _check_range(fn: str, lo_name: str, lo, hi_name: str, hi) -> None:
    """``lo <= hi`` when both are concrete numbers (traced bounds are the caller's business)."""
    if any(_checks.is_traced(v) or isinstance(v, jax.Array) for v in (lo, hi)):
        return
    lo_a, hi_a = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if not (np.all(np.isfinite(lo_a)) and np.all(np.isfinite(hi_a))):
        raise ValueError(f"{fn}: {lo_name} and {hi_name} must be finite, got {lo!r} and {hi!r}")
    if np.any(lo_a > hi_a):
        raise ValueError(f"{fn}: {lo_name} must be <= {hi_name}, got {lo_name}={lo!r}, {hi_name}={hi!r}")


def _real_dtype(x: jax.Array):
    return jnp.finfo(x.dtype).dtype if jnp.iscomplexobj(x) else x.dtype


# Concrete gains in dB must lie in [-DB_LIMIT, DB_LIMIT] (amplitude factors 1e-10..1e10): far
# beyond any real use, and far from float32 overflow (1000 dB is a factor 1e50: inf). Traced
# values are not checked.
DB_LIMIT = 200.0


def _real_param(fn: str, name: str, value, *, finite: bool = True, limit: float | None = None,
                minimum: float | None = None):
    """A possibly-traced real parameter: lists/tuples become arrays; strings, None, booleans and
    complex numbers raise ``TypeError``; concrete values are checked (finite, ``>= minimum``,
    ``|value| <= limit`` dB). Returns the value, converted to an array when it was a sequence."""
    value = _checks.real_array(fn, name, value)
    if _checks.is_traced(value):
        return value
    try:
        arr = np.asarray(value, dtype=np.float64)
    except Exception:  # a tracer inside a container
        return value
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: {name} must be finite, got {value!r}")
    if minimum is not None and np.any(arr < minimum):
        raise ValueError(f"{fn}: {name} must be >= {minimum:g}, got {value!r}")
    if limit is not None and np.any(np.abs(arr) > limit):
        raise ValueError(f"{fn}: {name} must lie in [-{limit:g}, {limit:g}] dB (amplitude factors 1e-10..1e10), "
                         f"got {value!r}")
    return value


def _event_axes(fn: str, x: jax.Array, axis) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``axis=None``: the last axis of a real input, the last two of a complex STFT."""
    if axis is None:
        axis = (-2, -1) if jnp.iscomplexobj(x) else -1
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one dimension, got a scalar")
    axes = _checks.normalize_axis(fn, "axis", axis, x.ndim)
    batch = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return axes, batch


def _batch_shaped(fn: str, name: str, v: jax.Array, batch: tuple[int, ...], what: str) -> jax.Array:
    try:
        shape = jnp.broadcast_shapes(v.shape, batch)
    except ValueError:
        shape = None
    if shape != batch:
        raise ValueError(f"{fn}: {name} must be a scalar or broadcastable to the batch shape {batch} ({what}), "
                         f"got shape {v.shape}")
    return jnp.broadcast_to(v, batch)


# ----------------------------------------------------------------------------------------------
# gain


def gain(x: jax.Array, gain_db, *, axis=None) -> jax.Array:
    """Scale each example by a gain in dB: ``x * 10 ** (gain_db / 20)``.

    One gain per example, where an example spans ``axis``: by default the last axis of a real
    waveform and the last two of a complex STFT (so ``gain(stft(x), g) == stft(gain(x, g))``).
    For a real spectrogram (a magnitude, a log-mel) pass ``axis=(-2, -1)``; for one gain per
    frequency row, use :func:`eq`.

    Args:
      x: waveform ``(..., samples)`` or complex STFT ``(..., freq, frames)``.
      gain_db: gain in dB, a scalar or ``(...,)`` broadcastable to the batch shape (the dims of
        ``x`` not in ``axis``); a number, list, tuple or array. May be traced; concrete values
        must be finite and within [-200, 200] dB.
      axis: the axes of one example (static int or tuple); default None: ``-1`` for real ``x``,
        ``(-2, -1)`` for complex ``x``.

    Returns:
      ``x``'s shape and dtype.
    """
    fn = "gain"
    x = _checks.floating(fn, "x", x)
    axes, batch = _event_axes(fn, x, axis)
    g = jnp.asarray(_real_param(fn, "gain_db", gain_db, limit=DB_LIMIT), _real_dtype(x))
    g = _batch_shaped(fn, "gain_db", g, batch, "one gain per example, the dims of x not in axis")
    return x * jnp.expand_dims(10.0 ** (g / 20.0), axes).astype(_real_dtype(x))


def random_gain(key: jax.Array, x: jax.Array, *, min_db=-6.0, max_db=6.0, axis=None, return_params: bool = False):
    """Random gain, uniform in ``[min_db, max_db]`` dB, one draw per example; calls :func:`gain`.

    Args:
      key: PRNG key.
      x: waveform ``(..., samples)`` or complex STFT ``(..., freq, frames)``; the batch shape is
        the dims not in ``axis``.
      min_db: lower bound in dB (may be traced; concrete values finite, within [-200, 200]).
      max_db: upper bound in dB (may be traced; ``>= min_db``, checked when concrete).
      axis: the axes of one example; default None: ``-1`` for real ``x``, ``(-2, -1)`` for a
        complex STFT (one gain for the whole STFT, not one per row: that is :func:`random_eq`).
      return_params: also return the draws (static bool).

    Returns:
      ``x``'s shape and dtype; with ``return_params=True``, ``(y, {"gain_db": (...,)})``.
    """
    fn = "random_gain"
    x = _checks.floating(fn, "x", x)
    return_params = _checks.static_bool(fn, "return_params", return_params)
    min_db = _real_param(fn, "min_db", min_db, limit=DB_LIMIT)
    max_db = _real_param(fn, "max_db", max_db, limit=DB_LIMIT)
    _check_range(fn, "min_db", min_db, "max_db", max_db)
    _, batch = _event_axes(fn, x, axis)
    g = jax.random.uniform(key, batch, _real_dtype(x), min_db, max_db)
    y = gain(x, g, axis=axis)
    return (y, {"gain_db": g}) if return_params else y


# ----------------------------------------------------------------------------------------------
# SpecAugment


def _mask_param(fn: str, name: str, v) -> jax.Array:
    if not (_checks.is_traced(v)) and not isinstance(v, jax.Array):
        a = np.asarray(v)
        if not (np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"{fn}: {name} must be an integer array (bin/frame indices), got dtype {a.dtype}")
        if np.any(a < 0):
            raise ValueError(f"{fn}: {name} must be non-negative, got {v!r}")
        return jnp.asarray(a, jnp.int32)
    v = jnp.asarray(v)
    if not jnp.issubdtype(v.dtype, jnp.integer):
        raise TypeError(f"{fn}: {name} must be an integer array (bin/frame indices), got dtype {v.dtype}")
    if not _checks.is_traced(v) and bool(jnp.any(v < 0)):
        raise ValueError(f"{fn}: {name} must be non-negative, got {v!r}")
    return jnp.maximum(v.astype(jnp.int32), 0)


def _band_mask(size: int, start: jax.Array, width: jax.Array) -> jax.Array:
    """``(..., size)`` True inside any ``[start, start + width)`` of the last axis of start/width."""
    idx = jnp.arange(size, dtype=jnp.int32)
    inside = (idx >= start[..., None]) & (idx < (start + width)[..., None])
    return jnp.any(inside, axis=-2)


def spec_augment(S: jax.Array, time_start, time_width, freq_start, freq_width, *, mask_value=0.0) -> jax.Array:
    """SpecAugment masking (Park et al., 2019) with explicit masks: the deterministic core.

    Frames ``[time_start[i], time_start[i] + time_width[i])`` and bins ``[freq_start[j],
    freq_start[j] + freq_width[j])`` are set to ``mask_value``. A width of 0 masks nothing;
    ranges running past the edge are cut there.

    Args:
      S: spectrogram ``(..., freq, frames)``, complex or real (e.g. a log-mel).
      time_start: int ``(..., n_time_masks)`` first masked frame of each mask; the leading dims
        broadcast against ``S.shape[:-2]``.
      time_width: int ``(..., n_time_masks)`` masked frames per mask (>= 0; negative concrete
        values raise, traced ones are treated as 0).
      freq_start: int ``(..., n_freq_masks)`` first masked bin of each mask.
      freq_width: int ``(..., n_freq_masks)`` masked bins per mask (>= 0).
      mask_value: value written into the masked cells (scalar, may be traced; concrete values
        finite). torchaudio's default is 0; some recipes use the mean of ``S``.

    Returns:
      ``(..., freq, frames)``, same dtype as ``S``.
    """
    fn = "spec_augment"
    S = _checks.floating(fn, "S", S)
    if S.ndim < 2:
        raise ValueError(f"{fn}: S must have shape (..., freq, frames), got {S.shape}")
    ts, tw = _mask_param(fn, "time_start", time_start), _mask_param(fn, "time_width", time_width)
    fs, fw = _mask_param(fn, "freq_start", freq_start), _mask_param(fn, "freq_width", freq_width)
    for a, b, names in ((ts, tw, ("time_start", "time_width")), (fs, fw, ("freq_start", "freq_width"))):
        if a.ndim < 1 or b.ndim < 1:
            raise ValueError(f"{fn}: {names[0]} and {names[1]} must have shape (..., n_masks), got {a.shape} and {b.shape}")
        try:
            both = jnp.broadcast_shapes(a.shape, b.shape)
            jnp.broadcast_shapes(both[:-1], S.shape[:-2])
        except ValueError:
            raise ValueError(f"{fn}: {names[0]} {a.shape} and {names[1]} {b.shape} must broadcast together to "
                             f"(..., n_masks), with leading dims that broadcast against the batch shape of S "
                             f"{S.shape[:-2]}") from None
    if mask_value is None or isinstance(mask_value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{fn}: mask_value must be a number, got {mask_value!r}")
    if jnp.ndim(mask_value) != 0:
        raise ValueError(f"{fn}: mask_value must be a scalar, got {mask_value!r}")
    if not _checks.is_traced(mask_value) and not np.isfinite(np.asarray(mask_value)):
        raise ValueError(f"{fn}: mask_value must be finite, got {mask_value!r}")
    F, T = S.shape[-2:]
    mask = _band_mask(F, fs, fw)[..., :, None] | _band_mask(T, ts, tw)[..., None, :]
    return jnp.where(mask, jnp.asarray(mask_value, S.dtype), S)


def _draw_masks(key, batch, n, max_width, size):
    """Width uniform on ``{0..max_width}``, then start uniform on ``{0..size - width}``, from two
    independent keys (so the start is not a function of the width's bits)."""
    kw, ks = jax.random.split(key)
    max_width = min(max_width, size)
    width = jax.random.randint(kw, batch + (n,), 0, max_width + 1, dtype=jnp.int32)
    u = jax.random.uniform(ks, batch + (n,), jnp.float32)
    start = jnp.minimum(jnp.floor(u * (size - width + 1).astype(jnp.float32)).astype(jnp.int32), size - width)
    return start, width


def random_spec_augment(key: jax.Array, S: jax.Array, *, n_time_masks: int = 2, max_time_width: int = 20,
                        n_freq_masks: int = 2, max_freq_width: int = 10, mask_value=0.0,
                        return_params: bool = False):
    """Random SpecAugment time and frequency masks, drawn per example; calls :func:`spec_augment`.

    Each mask's width is uniform on ``{0, ..., max_width}`` (capped at the axis size) and, from an
    independent key, its start is uniform on ``{0, ..., size - width}``, so a mask never runs past
    the edge (Park et al.'s ``t ~ U[0, T]``, ``t0 ~ U[0, tau - t)``). Masks may overlap.

    Args:
      key: PRNG key.
      S: spectrogram ``(..., freq, frames)``; the batch shape is ``S.shape[:-2]``.
      n_time_masks: number of time masks per example (static int >= 0).
      max_time_width: largest time-mask width in frames (static int >= 0).
      n_freq_masks: number of frequency masks per example (static int >= 0).
      max_freq_width: largest frequency-mask width in bins (static int >= 0).
      mask_value: value of masked cells (may be traced).
      return_params: also return the draws (static bool).

    Returns:
      ``(..., freq, frames)``, same dtype as ``S``; with ``return_params=True``, ``(out, params)``
      with ``params`` a dict of int32 ``time_start``, ``time_width`` ``(..., n_time_masks)`` and
      ``freq_start``, ``freq_width`` ``(..., n_freq_masks)``: the arguments of :func:`spec_augment`.
    """
    fn = "random_spec_augment"
    return_params = _checks.static_bool(fn, "return_params", return_params)
    S = _checks.floating(fn, "S", S)
    if S.ndim < 2:
        raise ValueError(f"{fn}: S must have shape (..., freq, frames), got {S.shape}")
    n_t = _checks.static_int(fn, "n_time_masks", n_time_masks, minimum=0)
    n_f = _checks.static_int(fn, "n_freq_masks", n_freq_masks, minimum=0)
    w_t = _checks.static_int(fn, "max_time_width", max_time_width, minimum=0)
    w_f = _checks.static_int(fn, "max_freq_width", max_freq_width, minimum=0)
    F, T = S.shape[-2:]
    batch = S.shape[:-2]
    kt, kf = jax.random.split(key)
    ts, tw = _draw_masks(kt, batch, n_t, w_t, T)
    fs, fw = _draw_masks(kf, batch, n_f, w_f, F)
    out = spec_augment(S, ts, tw, fs, fw, mask_value=mask_value)
    if return_params:
        return out, {"time_start": ts, "time_width": tw, "freq_start": fs, "freq_width": fw}
    return out


# ----------------------------------------------------------------------------------------------
# equalisation


@functools.lru_cache(maxsize=64)
def _eq_matrix(n_points: int, n_freq: int) -> np.ndarray:
    """``(n_points, n_freq)`` weights of a C1 (smoothstep) interpolation between control points
    spaced uniformly on the mel-like axis ``log(1 + k / k0)``, ``k0 = (n_freq - 1) / 12`` (700 Hz
    at 16 kHz): bin 0 gets the first point, the last bin the last."""
    k = np.arange(n_freq, dtype=np.float64)
    if n_points == 1 or n_freq == 1:
        return np.ones((n_points, n_freq)) / n_points
    k0 = (n_freq - 1) / 12.0
    pos = np.log1p(k / k0) / np.log1p((n_freq - 1) / k0) * (n_points - 1)
    i = np.minimum(np.floor(pos).astype(int), n_points - 2)
    f = pos - i
    s = f * f * (3.0 - 2.0 * f)
    W = np.zeros((n_points, n_freq))
    W[i, np.arange(n_freq)] += 1.0 - s
    W[i + 1, np.arange(n_freq)] += s
    W.setflags(write=False)
    return W


def eq_curve(control_db: jax.Array, *, n_freq: int) -> jax.Array:
    """A smooth gain curve over STFT bins from a few control points (in dB).

    The control points sit uniformly on a mel-like axis ``log(1 + bin / k0)`` with ``k0 = (n_freq
    - 1) / 12`` (700 Hz, the mel scale's knee, for a 16 kHz STFT): closer together at low
    frequencies, as on a graphic equaliser. Between them the curve follows a smoothstep, so it is
    continuous with a continuous slope and never overshoots the control gains. With one control
    point (or one bin) the curve is constant.

    Args:
      control_db: ``(..., n_points)`` gains in dB at the control points (``n_points >= 1``).
      n_freq: number of STFT rows (static), ``n_fft // 2 + 1``.

    Returns:
      ``(..., n_freq)`` gain curve in dB.
    """
    fn = "eq_curve"
    c = _checks.real_signal(fn, "control_db", control_db)
    n_freq = _checks.static_int(fn, "n_freq", n_freq, minimum=1)
    if c.ndim < 1 or c.shape[-1] < 1:
        raise ValueError(f"{fn}: control_db must have shape (..., n_points) with n_points >= 1, got {c.shape}")
    W = jnp.asarray(_eq_matrix(c.shape[-1], n_freq), c.dtype)
    return jnp.matmul(c, W, precision=jax.lax.Precision.HIGHEST)


def eq(S: jax.Array, gain_db: jax.Array) -> jax.Array:
    """Equalise an STFT: multiply each frequency row by ``10 ** (gain_db / 20)``.

    Args:
      S: STFT ``(..., freq, frames)`` (complex, or a real magnitude).
      gain_db: ``(..., freq)`` gain per row in dB (e.g. from :func:`eq_curve`), broadcastable
        against ``S.shape[:-1]``; a number, list or array. May be traced; concrete values must be
        finite and within [-200, 200] dB.

    Returns:
      ``(..., freq, frames)``, same dtype as ``S``.
    """
    fn = "eq"
    S = _checks.floating(fn, "S", S)
    if S.ndim < 2:
        raise ValueError(f"{fn}: S must have shape (..., freq, frames), got {S.shape}")
    g = _checks.real_signal(fn, "gain_db", _real_param(fn, "gain_db", gain_db, limit=DB_LIMIT)).astype(_real_dtype(S))
    if g.ndim < 1 or g.shape[-1] not in (1, S.shape[-2]):
        raise ValueError(f"{fn}: gain_db must have shape (..., freq) with freq = {S.shape[-2]}, got {g.shape}")
    try:
        jnp.broadcast_shapes(g.shape[:-1], S.shape[:-2])
    except ValueError:
        raise ValueError(f"{fn}: the leading dims of gain_db {g.shape} must broadcast against the batch shape of S "
                         f"{S.shape[:-2]} (S has shape {S.shape})") from None
    return S * (10.0 ** (g / 20.0))[..., None]


def random_eq(key: jax.Array, S: jax.Array, *, n_points: int = 8, max_db=6.0, return_params: bool = False):
    """Random smooth equalisation of an STFT, one curve per example; calls :func:`eq`.

    Draws ``n_points`` control gains uniform in ``[-max_db, max_db]`` per example and interpolates
    them with :func:`eq_curve`.

    Args:
      key: PRNG key.
      S: STFT ``(..., freq, frames)``; the batch shape is ``S.shape[:-2]``.
      n_points: control points per curve (static int >= 1).
      max_db: largest boost/cut in dB (may be traced; concrete values in [0, 200]).
      return_params: also return the draws (static bool).

    Returns:
      ``(..., freq, frames)``, same dtype as ``S``; with ``return_params=True``, ``(out,
      {"control_db": (..., n_points), "gain_db": (..., freq)})``: the control gains and the curve.
    """
    fn = "random_eq"
    return_params = _checks.static_bool(fn, "return_params", return_params)
    S = _checks.floating(fn, "S", S)
    if S.ndim < 2:
        raise ValueError(f"{fn}: S must have shape (..., freq, frames), got {S.shape}")
    n_points = _checks.static_int(fn, "n_points", n_points, minimum=1)
    max_db = _real_param(fn, "max_db", max_db, limit=DB_LIMIT, minimum=0.0)
    dt = _real_dtype(S)
    m = jnp.asarray(max_db, dt)
    c = jax.random.uniform(key, S.shape[:-2] + (n_points,), dt, -1.0, 1.0) * m
    curve = eq_curve(c, n_freq=S.shape[-2])
    out = eq(S, curve)
    return (out, {"control_db": c, "gain_db": curve}) if return_params else out


# ----------------------------------------------------------------------------------------------
# reverberation


def _next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast for every FFT backend)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < 2 * n:
        p35 = p5
        while p35 < 2 * n:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def reverb(x: jax.Array, rir: jax.Array, *, align: bool = False) -> jax.Array:
    """Convolve with a room impulse response by FFT, keeping the input length.

    ``y[n] = sum_k rir[k] x[n + d - k]`` for ``n < samples``: the first ``samples`` samples of the
    full convolution (``scipy.signal.fftconvolve(x, rir)[:samples]``) when ``align`` is False, or of
    the convolution advanced by the direct-path delay ``d = argmax |rir|`` when ``align`` is True,
    so that the reverberant signal stays time-aligned with the dry one (what a dereverberation
    target needs). A unit impulse (anywhere, with ``align``) returns ``x``.

    Args:
      x: dry waveform ``(..., samples)``.
      rir: impulse response ``(..., rir_length)``; leading dims broadcast against ``x``'s (one RIR
        for the whole batch, or one per example).
      align: advance by the direct-path delay (static bool); ``d`` is found per example and may
        differ between examples.

    Returns:
      ``(..., samples)`` reverberant signal, in the dtype of ``x`` and ``rir`` combined.
    """
    fn = "reverb"
    x = _checks.real_signal(fn, "x", np.asarray(x) if isinstance(x, (list, tuple)) else x)
    h = _checks.real_signal(fn, "rir", np.asarray(rir) if isinstance(rir, (list, tuple)) else rir)
    align = _checks.static_bool(fn, "align", align)
    if x.ndim < 1 or h.ndim < 1 or x.shape[-1] < 1 or h.shape[-1] < 1:
        raise ValueError(f"{fn}: x and rir must have shape (..., samples) and (..., rir_length), got {x.shape} and {h.shape}")
    try:
        batch = jnp.broadcast_shapes(x.shape[:-1], h.shape[:-1])
    except ValueError:
        raise ValueError(f"{fn}: the batch dims of x {x.shape[:-1]} and rir {h.shape[:-1]} do not broadcast") from None
    dt = jnp.result_type(x.dtype, h.dtype)
    x, h = x.astype(dt), h.astype(dt)
    N, L = x.shape[-1], h.shape[-1]
    n = _next_fast_len(N + L - 1)
    y = _fft.irfft(_fft.rfft(x, n=n, axis=-1) * _fft.rfft(h, n=n, axis=-1), n=n, axis=-1)
    y = jnp.broadcast_to(y, batch + (n,))
    if not align:
        return y[..., :N]
    d = jnp.argmax(jnp.abs(h), axis=-1)
    d = jnp.broadcast_to(d, batch)
    idx = jnp.arange(N) + d[..., None]  # d + N - 1 <= L - 1 + N - 1 < n
    return jnp.take_along_axis(y, idx, axis=-1)


_LN1000 = math.log(1000.0)  # 60 dB of amplitude decay is a factor 1000


def synthetic_rir(key: jax.Array, *, sr: float, rt60, length: int, drr_db=None) -> jax.Array:
    """A synthetic room impulse response: Gaussian noise under an exponential decay of ``rt60``.

    The amplitude envelope is ``exp(-ln(1000) t / rt60)`` (60 dB of energy decay after ``rt60``
    seconds), the model of a diffuse late reverberation (Polack). Without ``drr_db`` the response is
    that tail alone, scaled to unit energy (so reverberation keeps the level of white-ish input).
    With ``drr_db`` it is a unit direct path at sample 0 plus the tail scaled to an energy of
    ``10 ** (-drr_db / 10)`` (the direct-to-reverberant ratio).

    Args:
      key: PRNG key.
      sr: sample rate in Hz (static, > 0).
      rt60: reverberation time in seconds, a scalar or ``(...,)`` array that sets the batch shape;
        may be traced (e.g. drawn per example). A concrete value must be positive; traced values
        below 1 ms are treated as 1 ms.
      length: RIR length in samples (static int >= 1); ``length >= rt60 * sr`` keeps the full decay.
      drr_db: direct-to-reverberant ratio in dB, ``None`` (no direct path) or a scalar / array
        broadcastable with ``rt60``'s shape; a number, list or array. May be traced; concrete
        values must be finite and within [-200, 200] dB.

    Returns:
      ``(..., length)`` impulse response, float32 (float64 when ``rt60`` is float64 under x64).
    """
    fn = "synthetic_rir"
    sr = _checks.static_float(fn, "sr", sr, minimum=0.0, strict=True)
    length = _checks.static_int(fn, "length", length, minimum=1)
    rt60 = _real_param(fn, "rt60", rt60)
    _checks.concrete_positive(fn, "rt60", rt60)
    rt = jnp.asarray(rt60)
    if not jnp.issubdtype(rt.dtype, jnp.floating):
        rt = rt.astype(jnp.float32)
    dt = rt.dtype
    if drr_db is not None:
        drr = jnp.asarray(_real_param(fn, "drr_db", drr_db, limit=DB_LIMIT), dt)
        try:
            batch = jnp.broadcast_shapes(rt.shape, drr.shape)
        except ValueError:
            raise ValueError(f"{fn}: drr_db of shape {drr.shape} does not broadcast with rt60 of shape {rt.shape} "
                             f"(one value per RIR)") from None
    else:
        batch = rt.shape
    rt = jnp.maximum(jnp.broadcast_to(rt, batch), 1e-3)
    t = jnp.arange(length, dtype=dt) / sr
    env = jnp.exp(-_LN1000 * t / rt[..., None])
    tail = jax.random.normal(key, batch + (length,), dt) * env
    if drr_db is not None:
        tail = tail.at[..., 0].set(0.0)  # sample 0 is the direct path
    energy = jnp.sum(tail * tail, axis=-1, keepdims=True)
    tail = tail * jax.lax.rsqrt(jnp.maximum(energy, jnp.finfo(dt).tiny))
    if drr_db is None:
        return tail
    tail = tail * (10.0 ** (-jnp.broadcast_to(drr, batch) / 20.0))[..., None]
    return tail.at[..., 0].set(1.0)


def early_rir(rir: jax.Array, *, sr: float, early_ms: float = 50.0, fade_ms: float = 5.0) -> jax.Array:
    """The early part of an RIR: up to ``early_ms`` after the direct path, then a short fade to 0.

    A common dereverberation target is ``reverb(x, early_rir(rir, sr=sr), align=True)`` (dry plus
    early reflections, time-aligned with ``reverb(x, rir, align=True)``).

    Args:
      rir: impulse response ``(..., rir_length)``; the direct path is ``argmax |rir|`` per example.
      sr: sample rate in Hz (static, > 0).
      early_ms: kept duration after the direct path in ms (static, >= 0); 50 ms is the usual
        boundary of speech clarity (C50).
      fade_ms: length of the half-cosine fade-out after it, in ms (static, >= 0).

    Returns:
      ``(..., rir_length)`` truncated response, same dtype as ``rir``.
    """
    fn = "early_rir"
    h = _checks.real_signal(fn, "rir", rir)
    sr = _checks.static_float(fn, "sr", sr, minimum=0.0, strict=True)
    early = _checks.static_float(fn, "early_ms", early_ms, minimum=0.0) * sr / 1000.0
    fade = max(_checks.static_float(fn, "fade_ms", fade_ms, minimum=0.0) * sr / 1000.0, 1.0)
    if h.ndim < 1 or h.shape[-1] < 1:
        raise ValueError(f"{fn}: rir must have shape (..., rir_length), got {h.shape}")
    d = jnp.argmax(jnp.abs(h), axis=-1).astype(h.dtype)
    rel = jnp.arange(h.shape[-1], dtype=h.dtype) - d[..., None] - early  # > 0 after the early part
    u = jnp.clip(rel / fade, 0.0, 1.0)
    return h * (0.5 + 0.5 * jnp.cos(jnp.pi * u))


# ----------------------------------------------------------------------------------------------
# time stretch (uses the phase vocoder)


def random_time_stretch(key: jax.Array, S: jax.Array, *, min_rate=0.8, max_rate=1.25, hop_length: int | None = None,
                        n_fft: int | None = None, return_params: bool = False):
    """Random time stretch of an STFT at a fixed frame count, one rate per example.

    Draws ``log(rate)`` uniform in ``[log(min_rate), log(max_rate)]`` (so speeding up and slowing
    down by the same factor are equally likely) and calls :func:`jaxspec.phase_vocoder` with
    ``n_frames = S.shape[-1]``: a rate > 1 (faster) leaves zero frames at the end, a rate < 1 cuts
    the stretched signal at the original frame count.

    Args:
      key: PRNG key.
      S: complex STFT ``(..., freq, frames)``; the batch shape is ``S.shape[:-2]``.
      min_rate: smallest rate (> 0; may be traced).
      max_rate: largest rate (>= min_rate; may be traced).
      hop_length: hop of ``S`` (static), passed to the phase vocoder.
      n_fft: FFT size of ``S`` (static), passed to the phase vocoder.
      return_params: also return the draws (static bool).

    Returns:
      Complex ``(..., freq, frames)``, same shape and dtype as ``S``; with ``return_params=True``,
      ``(out, {"rate": (...,)})``.
    """
    from .vocoder import phase_vocoder

    fn = "random_time_stretch"
    S = _checks.complex_spec(fn, "S", S)
    return_params = _checks.static_bool(fn, "return_params", return_params)
    min_rate = _real_param(fn, "min_rate", min_rate)
    max_rate = _real_param(fn, "max_rate", max_rate)
    _checks.concrete_positive(fn, "min_rate", min_rate)
    _checks.concrete_positive(fn, "max_rate", max_rate)
    _check_range(fn, "min_rate", min_rate, "max_rate", max_rate)
    dt = _real_dtype(S)
    lo = jnp.log(jnp.asarray(min_rate, dt))
    hi = jnp.log(jnp.asarray(max_rate, dt))
    rate = jnp.exp(jax.random.uniform(key, S.shape[:-2], dt, lo, hi))
    out = phase_vocoder(S, rate, hop_length=hop_length, n_fft=n_fft, n_frames=S.shape[-1])
    return (out, {"rate": rate}) if return_params else out


# ----------------------------------------------------------------------------------------------
# composition


def chain(*augs: Augmentation) -> Augmentation:
    """Compose augmentations ``(key, x) -> x`` into one, splitting the key once per stage.

    Like ``optax.chain`` with keys instead of state: ``chain(f, g)(key, x)`` is
    ``g(k2, f(k1, x))`` with ``k1, k2 = jax.random.split(key)``. Bind configuration with
    ``functools.partial`` (``partial(random_gain, min_db=-6, max_db=6)``); a stage may change the
    domain (e.g. ``lambda key, x: jaxspec.stft(x)``).

    Args:
      *augs: callables ``(key, x) -> x``, applied left to right (at least one).

    Returns:
      A callable ``(key, x) -> x``, jit- and vmap-compatible when every stage is.
    """
    if not augs:
        raise ValueError("chain: needs at least one augmentation, got none")
    for i, a in enumerate(augs):
        if not callable(a):
            raise TypeError(f"chain: augmentation {i} must be a callable (key, x) -> x, got {a!r}")

    def chained(key: jax.Array, x: jax.Array) -> jax.Array:
        keys = jax.random.split(key, len(augs))
        for k, a in zip(keys, augs):
            x = a(k, x)
        return x

    return chained


def maybe(aug: Augmentation, p, *, event_ndim: int = 1) -> Augmentation:
    """Apply ``aug`` to each example with probability ``p`` (otherwise pass it through).

    The augmentation is computed for the whole batch and selected per example (static shapes), so
    it costs the same whatever ``p`` is. The key is split once: one half draws the coin flips, the
    other goes to ``aug``.

    Args:
      aug: callable ``(key, x) -> x`` whose output has the shape of its input.
      p: probability in [0, 1], a real number (may be traced; checked when concrete, at
        construction, like its type).
      event_ndim: trailing dims of one example (static): 1 for waveforms ``(..., samples)``, 2 for
        STFTs ``(..., freq, frames)``; one coin is drawn per example of the remaining batch shape.

    Returns:
      A callable ``(key, x) -> x``.
    """
    if not callable(aug):
        raise TypeError(f"maybe: aug must be a callable (key, x) -> x, got {aug!r}")
    event_ndim = _checks.static_int("maybe", "event_ndim", event_ndim, minimum=0)
    if p is None or isinstance(p, (str, bytes, bool, np.bool_)) or not (
            _checks.is_traced(p) or isinstance(p, jax.Array) or isinstance(p, (int, float, np.integer, np.floating))
            or (isinstance(p, np.ndarray) and p.dtype != np.bool_ and np.issubdtype(p.dtype, np.number))):
        raise TypeError(f"maybe: p must be a probability (a real number in [0, 1]), got {p!r}")
    if not _checks.is_traced(p) and not isinstance(p, jax.Array):
        pv = np.asarray(p, dtype=float)
        if pv.ndim or not 0.0 <= float(pv) <= 1.0:
            raise ValueError(f"maybe: p must be a probability in [0, 1], got {p!r}")

    def maybe_aug(key: jax.Array, x: jax.Array) -> jax.Array:
        kc, ka = jax.random.split(key)
        x = jnp.asarray(x)
        if x.ndim < event_ndim:
            raise ValueError(f"maybe: x has {x.ndim} dims, fewer than event_ndim={event_ndim}")
        batch = x.shape[: x.ndim - event_ndim]
        coin = jax.random.bernoulli(kc, p, batch)
        y = aug(ka, x)
        if y.shape != x.shape:
            raise ValueError(f"maybe: aug must keep the shape of x, got {y.shape} from {x.shape}")
        return jnp.where(coin.reshape(batch + (1,) * event_ndim), y, x)

    return maybe_aug
