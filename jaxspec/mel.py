"""Mel scale, mel filterbanks, and mel / log-mel / MFCC features straight from an STFT.

The filterbank and the DCT matrix are NumPy constants built at trace time (float64, cached on
their static arguments with ``functools.lru_cache``) and applied as one matrix product over the
frequency axis, so a mel feature of a mixture's STFT needs no trip back to the waveform.
Conventions follow librosa (``librosa.filters.mel``, ``librosa.feature.melspectrogram``,
``librosa.feature.mfcc``); the layout is ``(..., freq, frames)`` in and ``(..., n_mels, frames)``
out.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _numerics
from .spectral import _log10_to_db

__all__ = ["hz_to_mel", "mel_to_hz", "mel_frequencies", "mel_filterbank", "mel_spectrogram", "log_mel", "mfcc"]

# Slaney's auditory-toolbox scale: linear below 1 kHz (200/3 Hz per mel), log above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15
_LOGSTEP = math.log(6.4) / 27.0


# -- scale conversions (NumPy for trace-time constants, JAX for the public functions) -------------

def _hz_to_mel_np(f: np.ndarray, htk: bool) -> np.ndarray:
    f = np.asarray(f, np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, f / _F_SP)


def _mel_to_hz_np(m: np.ndarray, htk: bool) -> np.ndarray:
    m = np.asarray(m, np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, _F_SP * m)


def _as_float(fn: str, name: str, x) -> jax.Array:
    """Frequencies / mels may be Python or integer numbers; anything else follows real_signal."""
    if isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, bool) or (
            hasattr(x, "dtype") and np.issubdtype(np.dtype(x.dtype), np.integer)):
        return jnp.asarray(x, jnp.float32)
    return _checks.real_signal(fn, name, x)


def hz_to_mel(frequencies, *, htk: bool = False) -> jax.Array:
    """Hz to mels.

    ``htk=False`` (default): Slaney's auditory-toolbox scale, linear (``f / (200/3)``) below 1 kHz and
    logarithmic above, as ``librosa.hz_to_mel``. ``htk=True``: ``2595 * log10(1 + f / 700)``.
    Finite value and gradient for every finite input (the log branch is guarded).

    Args:
      frequencies: Hz, any shape ``(...,)``; Python/integer numbers become float32.
      htk: use the HTK formula (static).

    Returns:
      Mels, same shape; float32 (float64 for float64 input under x64).
    """
    fn = "hz_to_mel"
    htk = _checks.static_bool(fn, "htk", htk)
    f = _as_float(fn, "frequencies", frequencies)
    if htk:
        return 2595.0 * _numerics.safe_log10(1.0 + f / 700.0)
    ok = f >= _MIN_LOG_HZ
    log_part = _MIN_LOG_MEL + jnp.log(jnp.where(ok, f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return jnp.where(ok, log_part, f / _F_SP)


def mel_to_hz(mels, *, htk: bool = False) -> jax.Array:
    """Mels to Hz, the inverse of :func:`hz_to_mel` (as ``librosa.mel_to_hz``).

    Args:
      mels: mel values, any shape ``(...,)``.
      htk: use the HTK formula (static).

    Returns:
      Hz, same shape and dtype rules as :func:`hz_to_mel`.
    """
    fn = "mel_to_hz"
    htk = _checks.static_bool(fn, "htk", htk)
    m = _as_float(fn, "mels", mels)
    if htk:
        return 700.0 * (jnp.power(jnp.asarray(10.0, m.dtype), m / 2595.0) - 1.0)
    ok = m >= _MIN_LOG_MEL
    log_part = _MIN_LOG_HZ * jnp.exp(_LOGSTEP * (jnp.where(ok, m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return jnp.where(ok, log_part, _F_SP * m)


# -- filterbank -----------------------------------------------------------------------------------

def _check_band(fn: str, sr, fmin, fmax) -> tuple[float, float, float]:
    sr = _checks.static_float(fn, "sr", sr, minimum=0.0, strict=True)
    fmin = _checks.static_float(fn, "fmin", fmin, minimum=0.0)
    fmax = _checks.static_float(fn, "fmax", fmax, minimum=0.0, allow_none=True)
    if fmax is None:
        fmax = sr / 2.0
    if fmax <= fmin:
        raise ValueError(f"{fn}: fmax must be > fmin ({fmin}), got fmax={fmax}")
    if fmax > sr / 2.0:
        raise ValueError(f"{fn}: fmax must be <= sr / 2 = {sr / 2.0:g} Hz (the Nyquist frequency of sr={sr:g}), "
                         f"got fmax={fmax:g}; the filters above it would be empty")
    return sr, fmin, fmax


def _check_norm(fn: str, norm):
    if norm is None or (isinstance(norm, str) and norm == "slaney"):
        return norm
    if isinstance(norm, (numbers.Real, np.floating)) and not isinstance(norm, bool) and float(norm) > 0:
        return float(norm)
    raise ValueError(f"{fn}: norm must be 'slaney', None or a positive number p (unit L^p norm per filter, "
                     f"np.inf for max), got {norm!r}")


@functools.lru_cache(maxsize=64)
def _mel_freqs(n: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    mels = np.linspace(_hz_to_mel_np(fmin, htk), _hz_to_mel_np(fmax, htk), n)
    return _mel_to_hz_np(mels, htk)


@functools.lru_cache(maxsize=64)
def _filterbank(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm) -> tuple[np.ndarray, bool]:
    """(n_mels, n_fft // 2 + 1) float64 triangles, read-only; and whether some filter is empty."""
    fft_f = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _mel_freqs(n_mels + 2, fmin, fmax, htk)  # lower edge, centre, upper edge of each band
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_f[None, :] - lo) / (mid - lo)
    falling = (hi - fft_f[None, :]) / (hi - mid)
    w = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":  # constant energy per band: divide by the band width in Hz
        w *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif norm is not None:
        length = np.max(np.abs(w), axis=1, keepdims=True) if np.isinf(norm) else np.sum(np.abs(w) ** norm, axis=1, keepdims=True) ** (1.0 / norm)
        w = np.where(length > 0, w / np.where(length > 0, length, 1.0), w)
    empty = bool(np.any((edges[:-2] != 0) & (w.max(axis=1) <= 0)))
    w.setflags(write=False)
    return w, empty


def _fb(fn: str, *, sr, n_fft, n_mels, fmin, fmax, htk, norm) -> np.ndarray:
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=1)
    n_mels = _checks.static_int(fn, "n_mels", n_mels, minimum=1)
    sr, fmin, fmax = _check_band(fn, sr, fmin, fmax)
    htk = _checks.static_bool(fn, "htk", htk)
    norm = _check_norm(fn, norm)
    w, empty = _filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    if empty:
        _checks.warn(f"{fn}: some of the n_mels={n_mels} mel filters are empty (all zero) for sr={sr}, "
                     f"n_fft={n_fft}, fmin={fmin}, fmax={fmax}: too many mel bands for this FFT size; "
                     f"use fewer n_mels or a larger n_fft", stacklevel=4)
    return w


def mel_frequencies(*, n_mels: int = 128, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False) -> jax.Array:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``.

    Matches ``librosa.mel_frequencies`` (same defaults). ``mel_filterbank`` uses
    ``mel_frequencies(n_mels=n_mels + 2, ...)`` as its band edges.

    Args:
      n_mels: number of frequencies (static).
      fmin: lowest frequency in Hz (static, >= 0).
      fmax: highest frequency in Hz (static, > fmin).
      htk: HTK mel formula instead of Slaney's (static).

    Returns:
      ``(n_mels,)`` float32 array of Hz values.
    """
    fn = "mel_frequencies"
    n_mels = _checks.static_int(fn, "n_mels", n_mels, minimum=1)
    fmin = _checks.static_float(fn, "fmin", fmin, minimum=0.0)
    fmax = _checks.static_float(fn, "fmax", fmax, minimum=0.0)
    if fmax <= fmin:
        raise ValueError(f"{fn}: fmax must be > fmin ({fmin}), got fmax={fmax}")
    htk = _checks.static_bool(fn, "htk", htk)
    return jnp.asarray(_mel_freqs(n_mels, fmin, fmax, htk), jnp.float32)


def mel_filterbank(*, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm="slaney") -> jax.Array:
    """Triangular mel filterbank matrix, the one ``librosa.filters.mel`` builds.

    Built with NumPy in float64 and cached on the arguments (every argument is static), so calling
    it inside ``jit`` only embeds a constant. Warns (``UserWarning``) when some filters are empty,
    as librosa does.

    Args:
      sr: sample rate in Hz (> 0).
      n_fft: FFT size; the filters cover the ``n_fft // 2 + 1`` STFT rows.
      n_mels: number of mel bands.
      fmin: lowest band edge in Hz (>= 0).
      fmax: highest band edge in Hz (> fmin, <= ``sr / 2``: a higher value raises ``ValueError``,
        where librosa only warns about empty filters); default ``sr / 2``.
      htk: HTK mel formula instead of Slaney's.
      norm: ``"slaney"`` (each triangle divided by its width in Hz: constant energy per band),
        ``None`` (peak 1), or a number ``p`` (unit L^p norm per filter, ``np.inf`` for max).

    Returns:
      ``(n_mels, freq)`` float32 array, ``freq = n_fft // 2 + 1``; ``mel = fb @ power_spec``.
    """
    w = _fb("mel_filterbank", sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    return jnp.asarray(w, jnp.float32)


# -- features from an STFT ------------------------------------------------------------------------

def _spec_power(fn: str, S, power) -> jax.Array:
    """``|S| ** power`` as a real array; real ``S`` is taken as a magnitude.

    ``|S|`` is computed without squaring (range-safe); only ``power=2`` squares.
    """
    S = _check_spec(fn, S)
    _checks.concrete_positive(fn, "power", power)
    if not _checks.is_traced(power) and not isinstance(power, jax.Array) and float(power) == 2.0:
        return S.real * S.real + S.imag * S.imag if jnp.iscomplexobj(S) else S * S
    mag = _numerics.safe_abs(S)
    if not _checks.is_traced(power) and not isinstance(power, jax.Array) and float(power) == 1.0:
        return mag
    return _numerics.safe_pow(mag, jnp.asarray(power, mag.dtype))


def _check_spec(fn: str, S) -> jax.Array:
    S = _checks.floating(fn, "S", S)
    if S.ndim < 2:
        raise ValueError(f"{fn}: S must have shape (..., freq, frames), got shape {S.shape}")
    return S


def _infer_n_fft(fn: str, n_fft, freq: int) -> int:
    if n_fft is None:
        if freq < 2:
            raise ValueError(f"{fn}: cannot infer n_fft from S.shape[-2]={freq}; pass n_fft")
        return 2 * (freq - 1)
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=1)
    if n_fft // 2 + 1 != freq:
        raise ValueError(f"{fn}: n_fft={n_fft} expects S.shape[-2] == {n_fft // 2 + 1} frequency bins, got {freq}")
    return n_fft


def _apply_fb(fb: np.ndarray, P: jax.Array) -> jax.Array:
    w = jnp.asarray(fb, P.dtype)
    return jnp.einsum("mf,...ft->...mt", w, P, precision=jax.lax.Precision.HIGHEST)


def _mel(fn, S, *, sr, n_mels, fmin, fmax, power, htk, norm, n_fft, rescale=True):
    """``fb @ |S| ** power``. With ``rescale``, formed as ``s**power * (fb @ |S / s| ** power)``
    for ``s`` a power of two, so that an element of ``|S| ** power`` beyond float32 does not turn
    the sum into inf or NaN (``0 * inf``) when the sum fits.

    Only large inputs are scaled, to a peak near ``2**32``: the squares then stay in range, and so
    does the cotangent, which is multiplied by ``s**power`` on the way back (scaling small inputs
    up would flush the gradient of a power that underflows to 0 anyway)."""
    S = _check_spec(fn, S)
    s = None
    if rescale:
        s = _numerics.pow2_scale(_numerics.abs_max(S), axis=(-2, -1))
        big = jnp.asarray(2.0 ** 32, s.dtype)
        s = jnp.where(s > big, s / big, jnp.ones_like(s))
    P = _spec_power(fn, S if s is None else _numerics.divide_by_scale(S, s), power)
    n_fft = _infer_n_fft(fn, n_fft, P.shape[-2])
    fb = _fb(fn, sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    M = _apply_fb(fb, P)
    if s is None:
        return M
    # M * s**power in two steps (s**power alone may overflow where the product fits); exact for
    # the common powers 1 and 2
    p = None if _checks.is_traced(power) or isinstance(power, jax.Array) else float(power)
    if p == 2.0:
        return M * s * s
    if p == 1.0:
        return M * s
    half = jnp.power(s, jnp.asarray(power, s.dtype) / 2)
    return M * half * half


def mel_spectrogram(S: jax.Array, *, sr: float, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                    power: float = 2.0, htk: bool = False, norm="slaney", n_fft: int | None = None) -> jax.Array:
    """Mel spectrogram straight from a complex STFT: ``mel_filterbank(...) @ |S| ** power``.

    Matches ``librosa.feature.melspectrogram(S=np.abs(S) ** power, sr=sr, n_fft=n_fft, n_mels=...,
    fmin=..., fmax=..., htk=..., norm=...)``. Works on any STFT, e.g. a mixture's, with no trip back
    to the waveform. ``power=2`` is computed as ``re**2 + im**2`` (smooth); other powers are
    finite in value and gradient at ``S == 0``. A large ``S`` is divided by a power of two before
    the sum and the result scaled back, so a mel power that fits in float32 is right even where
    some ``|S| ** power`` alone would not (``|S|`` near 1e19).

    Args:
      S: complex STFT ``(..., freq, frames)``; a real input is taken as a magnitude ``|S|``.
      sr: sample rate in Hz (static).
      n_mels: number of mel bands (static).
      fmin: lowest band edge in Hz (static).
      fmax: highest band edge in Hz (static, <= ``sr / 2``); default ``sr / 2``.
      power: exponent of the magnitude: 2 for power, 1 for magnitude (> 0, may be traced).
      htk: HTK mel formula (static).
      norm: filter normalisation, see :func:`mel_filterbank` (static).
      n_fft: FFT size (static); default ``2 * (freq - 1)``. Pass it for odd sizes.

    Returns:
      Real ``(..., n_mels, frames)`` (complex64 -> float32).
    """
    return _mel("mel_spectrogram", S, sr=sr, n_mels=n_mels, fmin=fmin, fmax=fmax, power=power, htk=htk,
                norm=norm, n_fft=n_fft)


def log_mel(S: jax.Array, *, sr: float, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
            htk: bool = False, norm="slaney", n_fft: int | None = None, ref=1.0, amin: float = 1e-10,
            top_db: float | None = 80.0) -> jax.Array:
    """Log-mel power in dB from a complex STFT: ``power_to_db(mel_spectrogram(S, power=2))``.

    Matches ``librosa.power_to_db(librosa.feature.melspectrogram(S=np.abs(S) ** 2, ...))`` for one
    example; ``top_db`` clamps per example (see :func:`jaxspec.power_to_db`).

    Args:
      S: complex STFT ``(..., freq, frames)``; a real input is taken as a magnitude ``|S|``.
      sr: sample rate in Hz (static).
      n_mels: number of mel bands (static).
      fmin: lowest band edge in Hz (static).
      fmax: highest band edge in Hz (static, <= ``sr / 2``); default ``sr / 2``.
      htk: HTK mel formula (static).
      norm: filter normalisation, see :func:`mel_filterbank` (static).
      n_fft: FFT size (static); default ``2 * (freq - 1)``.
      ref: reference power (number, broadcastable array, or ``"max"`` per example).
      amin: floor on the mel power (> 0).
      top_db: dynamic range kept below each example's peak (dB); ``None`` disables it.

    Returns:
      Real ``(..., n_mels, frames)`` in dB. The mel power is formed from ``S`` divided by a power
      of two near its peak (per example) and the scale added back in the log domain, so the dB
      values are right even where the power itself would overflow float32 (``|S|`` above ~1e19).
    """
    fn = "log_mel"
    S = _check_spec(fn, S)
    # per-example scale; stop_gradient is exact because log10(M(S/s)) + 2 log10(s) == log10(M(S))
    s = _numerics.pow2_scale(_numerics.abs_max(S), axis=(-2, -1))
    M = _mel(fn, _numerics.divide_by_scale(S, s), sr=sr, n_mels=n_mels, fmin=fmin, fmax=fmax, power=2.0, htk=htk,
             norm=norm, n_fft=n_fft, rescale=False)
    lp = _numerics.safe_log10(M) + 2.0 * jnp.log10(s)
    return _log10_to_db(fn, lp, ref=ref, amin=amin, top_db=top_db)


@functools.lru_cache(maxsize=32)
def _dct_matrix(n_out: int, n_in: int, lifter: float) -> np.ndarray:
    """Orthonormal DCT-II rows ``0 .. n_out - 1`` over ``n_in`` points, optionally liftered."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    d = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
    d[0] /= np.sqrt(2.0)
    if lifter > 0:
        d *= (1.0 + (lifter / 2.0) * np.sin(np.pi * (np.arange(n_out) + 1) / lifter))[:, None]
    d.setflags(write=False)
    return d


def mfcc(S: jax.Array, *, sr: float, n_mfcc: int = 20, n_mels: int = 128, fmin: float = 0.0,
         fmax: float | None = None, htk: bool = False, norm="slaney", n_fft: int | None = None,
         top_db: float | None = 80.0, lifter: float = 0.0) -> jax.Array:
    """Mel-frequency cepstral coefficients from a complex STFT: orthonormal DCT-II of :func:`log_mel`.

    Matches ``librosa.feature.mfcc(S=librosa.power_to_db(melspectrogram(S=|S|**2, ...)),
    n_mfcc=n_mfcc, dct_type=2, norm="ortho", lifter=lifter)`` for one example. The DCT is a
    ``(n_mfcc, n_mels)`` NumPy constant applied as a matrix product.

    Args:
      S: complex STFT ``(..., freq, frames)``; a real input is taken as a magnitude ``|S|``.
      sr: sample rate in Hz (static).
      n_mfcc: number of coefficients (static, ``<= n_mels``).
      n_mels: number of mel bands (static).
      fmin: lowest band edge in Hz (static).
      fmax: highest band edge in Hz (static, <= ``sr / 2``); default ``sr / 2``.
      htk: HTK mel formula (static).
      norm: filter normalisation, see :func:`mel_filterbank` (static).
      n_fft: FFT size (static); default ``2 * (freq - 1)``.
      top_db: per-example dynamic range of the log-mel (dB); ``None`` disables it.
      lifter: cepstral liftering ``1 + (lifter / 2) * sin(pi * (k + 1) / lifter)`` when > 0 (static).

    Returns:
      Real ``(..., n_mfcc, frames)``.
    """
    fn = "mfcc"
    n_mfcc = _checks.static_int(fn, "n_mfcc", n_mfcc, minimum=1)
    n_mels = _checks.static_int(fn, "n_mels", n_mels, minimum=1)
    if n_mfcc > n_mels:
        raise ValueError(f"{fn}: n_mfcc must be <= n_mels ({n_mels}), got {n_mfcc}")
    lifter = _checks.static_float(fn, "lifter", lifter, minimum=0.0)
    L = log_mel(S, sr=sr, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, n_fft=n_fft, top_db=top_db)
    return _apply_fb(_dct_matrix(n_mfcc, n_mels, lifter), L)
