"""Mixing speech and noise at a controlled SNR, in the time domain or the STFT domain.

The deterministic core is :func:`mix` (and :func:`snr_gain` behind it); :func:`random_mix` only
draws one SNR per example from a distribution with a PRNG key and delegates to :func:`mix`.

SNR distributions (:class:`Uniform`, :class:`Normal`, :class:`TruncatedNormal`, :class:`Choice`)
are small frozen dataclasses registered as pytrees: their parameters are leaves, so they may be
traced (a curriculum can change them between steps of a compiled function without recompiling).
They replace the ``eval("np.random." + name)`` idiom of many data pipelines.

Because the STFT is linear, mixing two STFTs with a gain ``k`` gives exactly the STFT of the
time-domain mix with the same ``k``. What differs is how the SNR is measured. The plain mean
``|X|^2`` over ``axis=(-2, -1)`` of a one-sided STFT counts the DC row as much as any other row,
whereas the waveform's power counts it half as much (Parseval): with white noise the two SNRs
agree to about 0.02 dB, but a noise with a strong DC/low-frequency part (an offset, brown noise)
reads about 2 dB off (measured: 4 s at 16 kHz, n_fft 512, hop 128). Two fixes, for mixing STFTs
at the waveform SNR:

- ``onesided=True``: Parseval-weighted STFT powers; agrees with the waveform SNR up to the edge
  frames (measured within 0.002 dB in the case above), needs nothing but the STFTs;
- ``powers=(signal_power(s), signal_power(n))`` of the waveforms: exact, the STFT-domain mix then
  equals ``stft`` of the time-domain mix.

Both assume *consistent* STFTs (the STFTs of the waveforms). After a phase vocoder, a mask or an
EQ the STFT is not the STFT of any signal, and its iSTFT keeps only part of its STFT-domain power
(measured: the Parseval SNR put the waveform SNR 0.5 to 6.1 dB below the requested one after a
0.8-1.25 time stretch and a +-6 dB EQ of speech). Then ``stft=dict(n_fft=..., hop_length=...,
length=...)`` measures the powers on ``istft(S)`` and ``istft(N)``: exact for any STFT, at the
cost of one iSTFT per input. Likewise ``prevent_clipping(Y, axis=(-2, -1), stft=...)`` bounds
the peak of ``istft(Y)`` rigorously from the frames' spectra, with no inverse FFT.

Range and NaN: powers are computed on signals divided by their peak, so gains and SNRs are exact
over the whole float32 range (1e-30 to 1e20 amplitudes); NaN or inf in a signal gives a NaN gain
(value and gradient), so corrupt data is not mixed silently. Concrete SNRs must be finite and
within [-200, 200] dB; traced ones are not checked.

Silence: an all-zero signal or noise gives a noise gain of 0 (the mixture is the signal) with
finite values and gradients; ``torchaudio.functional.add_noise`` returns NaN there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _numerics
from .stft import _overlap_add, _resolve, istft, norm_scale
from .windows import frame_window, nola_min, window_sumsquare

__all__ = [
    "signal_power",
    "snr_gain",
    "mix",
    "random_mix",
    "fit_length",
    "prevent_clipping",
    "peak_bound",
    "Uniform",
    "Normal",
    "TruncatedNormal",
    "Choice",
]


# ----------------------------------------------------------------------------- helpers

# Concrete dB parameters (SNRs) must lie in [-DB_LIMIT, DB_LIMIT]: amplitude factors 1e-10..1e10,
# far beyond any real recording, and far from float32 overflow (a factor of 1e50 from -1000 dB
# turns any mixture into inf). Traced values are not checked.
DB_LIMIT = 200.0

# Per-example sample count above which fit_length refuses (2**28 samples: 4.6 hours at 16 kHz,
# 1 GiB of float32 per example): larger requests are almost surely a unit mistake.
MAX_LENGTH = 2**28

_STFT_KEYS = ("n_fft", "hop_length", "win_length", "window", "center", "normalized", "length")


def _real_dtype(x: jax.Array):
    return jnp.finfo(x.dtype).dtype


def _axes_and_batch(fn: str, x: jax.Array, axis: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if x.ndim == 0:
        raise ValueError(f"{fn}: expected an array with at least one dimension to reduce over, got a scalar")
    axes = _checks.normalize_axis(fn, "axis", axis, x.ndim)
    batch = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    return axes, batch


def _concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array when it is concrete (not traced), else None."""
    if _checks.is_traced(value):
        return None
    try:
        return np.asarray(value)
    except Exception:  # a tracer hidden in a container
        return None


def _check_values(fn: str, name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
                  limit: float | None = None) -> None:
    """Concrete values of a possibly-traced parameter: finite, ``>= minimum`` (``>`` if strict),
    ``|value| <= limit``. Traced values are not checked."""
    arr = _concrete(value)
    if arr is None:
        return
    arr = arr.astype(np.float64)
    what = "finite"
    if minimum is not None:
        what += (" and positive" if strict else " and non-negative") if minimum == 0 else \
            f" and {'>' if strict else '>='} {minimum:g}"
    if not np.all(np.isfinite(arr)) or minimum is not None and np.any(arr <= minimum if strict else arr < minimum):
        raise ValueError(f"{fn}: {name} must be {what}, got {value!r}")
    if limit is not None and np.any(np.abs(arr) > limit):
        raise ValueError(f"{fn}: {name} must lie in [-{limit:g}, {limit:g}] dB (amplitude factors 1e-10..1e10), "
                         f"got {value!r}")


def _per_example(fn: str, name: str, value: Any, batch: tuple[int, ...], dtype, **check) -> jax.Array:
    """A per-example real scalar (``()`` or anything broadcastable to ``batch``; Python/NumPy
    numbers, lists, tuples and arrays, or traced), as ``batch``. Concrete values are checked
    with :func:`_check_values` (``check`` are its keywords)."""
    value = _checks.real_array(fn, name, value, f"a real number or an array broadcastable to the batch shape {batch}")
    _check_values(fn, name, value, **check)
    v = jnp.asarray(value, dtype)
    try:
        shape = jnp.broadcast_shapes(v.shape, batch)
    except ValueError:
        shape = None
    if shape != batch:
        raise ValueError(
            f"{fn}: {name} must be a scalar or broadcastable to the batch shape {batch} (one value per example, "
            f"the dims of the input not in axis), got shape {v.shape}")
    return jnp.broadcast_to(v, batch)


def _signal_noise(fn: str, signal: Any, noise: Any) -> tuple[jax.Array, jax.Array]:
    s = _checks.floating(fn, "signal", signal)
    n = _checks.floating(fn, "noise", noise)
    _checks.same_shape(fn, ("signal", "noise"), s, n)
    dt = jnp.result_type(s.dtype, n.dtype)
    return s.astype(dt), n.astype(dt)


def _max_abs(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``max |re|, |im|`` over ``axes`` (no squares, so no overflow): a scale for ``x``."""
    a = jnp.maximum(jnp.abs(x.real), jnp.abs(x.imag)) if jnp.iscomplexobj(x) else jnp.abs(x)
    return jnp.max(a, axis=axes)


def _scaled_power(x: jax.Array, axes: tuple[int, ...], onesided: bool = False) -> tuple[jax.Array, jax.Array]:
    """``(m, p)`` with ``power = m**2 * p``: ``m = max |x|`` per example (no gradient: the power
    does not depend on it) and ``p`` the power of ``x / m``, in [0, 2]. Neither overflows nor
    underflows for any finite float32 input, so ratios of powers are exact over the whole float32
    range. ``m = 0`` (silence) gives ``p = 0`` with gradient 0; NaN/inf in ``x`` give NaN."""
    m = jax.lax.stop_gradient(_max_abs(x, axes))
    return m, _power(_numerics.safe_div(x, jnp.expand_dims(m, axes)), axes, onesided)


def _power(x: jax.Array, axes: tuple[int, ...], onesided: bool = False) -> jax.Array:
    p = x.real * x.real + x.imag * x.imag if jnp.iscomplexobj(x) else x * x
    if not onesided:
        return jnp.mean(p, axis=axes)
    # Parseval weights of a one-sided spectrum on the freq axis (-2): the DC and last rows stand
    # for one bin of the two-sided spectrum, the others for two
    F = x.shape[-2]
    w = np.full(F, 2.0)
    w[0] = 1.0
    w[-1] = 1.0
    count = float(w.sum()) * float(np.prod([x.shape[a] for a in axes if a != x.ndim - 2]))
    w = jnp.asarray(w.reshape((F, 1)), p.dtype)
    return jnp.sum(p * w, axis=axes) / jnp.asarray(count, p.dtype)


def _onesided(fn: str, onesided: Any, x: jax.Array, axes: tuple[int, ...]) -> bool:
    onesided = _checks.static_bool(fn, "onesided", onesided)
    if onesided and (x.ndim < 2 or x.ndim - 2 not in axes):
        raise ValueError(f"{fn}: onesided=True weights the freq axis of an STFT (..., freq, frames), so axis must "
                         f"include -2, e.g. axis=(-2, -1); got axis over dims {axes} of an input with shape {x.shape}")
    return onesided


def _stft_params(fn: str, stft: Any, x: jax.Array, axes: tuple[int, ...]) -> dict | None:
    """Validate the ``stft=`` option: a dict of :func:`jaxspec.istft` keywords, for a complex
    ``(..., freq, frames)`` input reduced over ``axis=(-2, -1)``."""
    if stft is None:
        return None
    if not isinstance(stft, Mapping):
        raise TypeError(f"{fn}: stft must be None or a dict of istft parameters (keys among {', '.join(_STFT_KEYS)}), "
                        f"e.g. stft=dict(n_fft=512, hop_length=128); got {stft!r}")
    unknown = sorted(set(stft) - set(_STFT_KEYS))
    if unknown:
        raise ValueError(f"{fn}: stft has unknown keys {unknown}; allowed: {', '.join(_STFT_KEYS)}")
    if not jnp.iscomplexobj(x) or x.ndim < 2 or axes != (x.ndim - 2, x.ndim - 1):
        raise ValueError(f"{fn}: stft=... measures the waveform of a complex STFT (..., freq, frames), so the input "
                         f"must be complex with axis=(-2, -1); got dtype {x.dtype}, shape {x.shape}, axis over dims {axes}")
    return dict(stft)


def _istft(fn: str, S: jax.Array, params: dict) -> jax.Array:
    try:
        return istft(S, **params)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{fn}: invalid stft parameters {params}: {e}") from None


def _pair_powers(fn: str, s: jax.Array, n: jax.Array, axes: tuple[int, ...], onesided: bool,
                 params: dict | None) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Scaled powers ``(ms, ps, mn, pn)`` of signal and noise, on the iSTFTs when ``params``."""
    if params is not None:
        s, n = _istft(fn, s, params), _istft(fn, n, params)
        axes = (s.ndim - 1,)
    ms, ps = _scaled_power(s, axes, onesided)
    mn, pn = _scaled_power(n, axes, onesided)
    return ms, ps, mn, pn


def _sqrt_nan(x: jax.Array) -> jax.Array:
    """``safe_sqrt`` that lets NaN through (value and gradient)."""
    ok = (x > 0) | jnp.isnan(x)
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, x, jnp.ones_like(x))), jnp.zeros_like(x))


def _gain(fn: str, s: jax.Array, n: jax.Array, snr_db: Any, axis: Any, powers: Any,
          onesided: Any, stft: Any = None, drawn: bool = False) -> tuple[jax.Array, tuple[int, ...]]:
    axes, batch = _axes_and_batch(fn, s, axis)
    onesided = _onesided(fn, onesided, s, axes)
    params = _stft_params(fn, stft, s, axes)
    if params is not None and (onesided or powers is not None):
        raise ValueError(f"{fn}: stft=... measures the powers on the iSTFTs; it cannot be combined with "
                         f"{'onesided=True' if onesided else 'powers=...'}")
    rdt = _real_dtype(s)
    # drawn SNRs are the distribution's business (checked at its bounds), like traced ones
    snr = snr_db if drawn else _per_example(fn, "snr_db", snr_db, batch, rdt, limit=DB_LIMIT)
    if powers is None:
        ms, ps, mn, pn = _pair_powers(fn, s, n, axes, onesided, params)
        # k = sqrt(Ps / Pn) with P = m^2 p: (ms / mn) sqrt(ps / pn), no square of a large or small number
        ratio = _numerics.safe_div(ms, mn) * _sqrt_nan(_numerics.safe_div(ps, pn))
        # NaN/inf in either input must show in k (safe_div would hide it where the other side is 0)
        ratio = ratio + 0.0 * (ms + ps + mn + pn)
    else:
        if not isinstance(powers, (tuple, list)) or len(powers) != 2:
            raise TypeError(f"{fn}: powers must be a pair (signal_power, noise_power) of per-example powers, got {powers!r}")
        ps = _per_example(fn, "powers[0]", powers[0], batch, rdt, minimum=0.0)
        pn = _per_example(fn, "powers[1]", powers[1], batch, rdt, minimum=0.0)
        ratio = _sqrt_nan(_numerics.safe_div(ps, pn)) + 0.0 * (ps + pn)
    # k = sqrt(Ps / Pn) * 10^(-snr/20); 0 where either power is 0 (value and gradient finite)
    k = ratio * jnp.power(jnp.asarray(10.0, rdt), -snr / 20.0)
    return k, axes


# ----------------------------------------------------------------------------- core


def signal_power(x: jax.Array, *, axis: int | tuple[int, ...] = -1, onesided: bool = False,
                 stft: dict | None = None) -> jax.Array:
    """Mean power ``mean(|x|^2)`` over ``axis``, per example.

    Three ways to measure an STFT ``(..., freq, frames)`` (``axis=(-2, -1)``):

    - plain mean of ``|X|^2`` (default): the contract's STFT-domain power, cheapest;
    - ``onesided=True``: Parseval-weighted, proportional to the waveform power of a *consistent*
      STFT (the STFT of some signal), up to the window envelope at the edges;
    - ``stft=dict(n_fft=..., hop_length=..., ...)``: the power of ``istft(X, **stft)``, exact for
      *any* STFT, including inconsistent ones (after ``phase_vocoder``, masking, EQ), whose
      STFT-domain power can be 2x the power of the waveform they synthesise. Costs one iSTFT
      (an irfft per frame and one overlap-add).

    Computed on ``x / max|x|`` and scaled back, so that neither ``|x|^2`` nor the mean overflows or
    underflows in float32 where the result itself fits (e.g. amplitudes 1e-15..1e19).

    Args:
      x: real waveform ``(..., samples)`` or complex STFT ``(..., freq, frames)``.
      axis: axis or tuple of axes to average over; ``-1`` for waveforms, ``(-2, -1)`` for STFTs.
      onesided: treat axis -2 as the freq axis of a one-sided STFT and weight it as Parseval's
        theorem does (rows 0 and ``freq - 1`` once, the others twice; the mean is over the
        two-sided spectrum, assuming even ``n_fft``). Then the power is proportional to the
        waveform's (up to the window envelope at the edges), so SNRs measured on STFTs match the
        waveform SNR: with a plain mean, a noise with a strong DC/low-frequency part (an offset,
        brown noise) reads up to a few dB off. Default False: the plain mean.
      stft: None, or a dict of :func:`jaxspec.istft` keywords (``n_fft``, ``hop_length``,
        ``win_length``, ``window``, ``center``, ``normalized``, ``length``): return the mean power
        of the synthesised waveform ``istft(x, **stft)`` (``(..., samples)``). Needs a complex
        ``x`` and ``axis=(-2, -1)``; excludes ``onesided``.

    Returns:
      ``(...,)`` real array (the input shape without ``axis``), in the real dtype of ``x``.
      Smooth; the gradient at 0 is 0. NaN or inf in ``x`` give NaN.
    """
    fn = "signal_power"
    x = _checks.floating(fn, "x", x)
    axes, _ = _axes_and_batch(fn, x, axis)
    onesided = _onesided(fn, onesided, x, axes)
    params = _stft_params(fn, stft, x, axes)
    if params is not None:
        if onesided:
            raise ValueError(f"{fn}: stft=... measures the power of the iSTFT; it cannot be combined with onesided=True")
        x = _istft(fn, x, params)
        axes = (x.ndim - 1,)
    m, p = _scaled_power(x, axes, onesided)
    return m * (m * p)


def snr_gain(signal: jax.Array, noise: jax.Array, snr_db: Any, *, axis: int | tuple[int, ...] = -1,
             powers: tuple[Any, Any] | None = None, onesided: bool = False, stft: dict | None = None) -> jax.Array:
    """Noise gain ``k`` such that ``10 log10(P_signal / (k^2 P_noise)) == snr_db``.

    ``k = sqrt(P_signal / P_noise) * 10 ** (-snr_db / 20)`` with ``P = signal_power(., axis=axis)``.
    The convention of ``torchaudio.functional.add_noise`` (power ratio in dB), but finite at
    silence: ``k = 0`` where the noise is all zero (nothing to scale) and where the signal is all
    zero (the requested SNR cannot be reached; the mixture is then silent, i.e. the signal). The
    ratio is formed from powers of scaled signals, so it is exact over the whole float32 range
    (``snr_gain(1e20 * s, 1e20 * n, 5.0) == snr_gain(s, n, 5.0)``). NaN or inf in either input
    give a NaN gain (value and gradient), so corrupt data does not pass silently.

    Args:
      signal: real ``(..., samples)`` or complex ``(..., freq, frames)``.
      noise: same shape as ``signal``.
      snr_db: SNR in dB, a scalar or ``(...,)`` broadcastable to the batch shape (the dims not
        in ``axis``): one SNR per example; a number, list, tuple or array. May be traced; a
        concrete value must be finite and within [-200, 200] dB.
      axis: axis or axes over which the power is measured (``(-2, -1)`` for STFTs).
      powers: optional pair ``(P_signal, P_noise)`` of ``(...,)`` per-example powers (numbers,
        lists or arrays; concrete ones finite and ``>= 0``) to use instead of measuring them on
        the inputs, e.g. the time-domain powers of the waveforms an STFT was computed from (then
        an STFT-domain mix equals the STFT of the time-domain mix).
      onesided: measure powers of one-sided STFTs with Parseval weights (see :func:`signal_power`).
      stft: dict of :func:`jaxspec.istft` keywords: measure the powers on the synthesised
        waveforms (exact waveform SNR for any STFT, e.g. after a phase vocoder; one iSTFT of each
        input; see :func:`signal_power`).

    Returns:
      ``(...,)`` non-negative real gains, in the real dtype of the inputs.
    """
    fn = "snr_gain"
    s, n = _signal_noise(fn, signal, noise)
    k, _ = _gain(fn, s, n, snr_db, axis, powers, onesided, stft)
    return k


def mix(signal: jax.Array, noise: jax.Array, snr_db: Any, *, axis: int | tuple[int, ...] = -1,
        powers: tuple[Any, Any] | None = None, onesided: bool = False,
        stft: dict | None = None) -> tuple[jax.Array, jax.Array]:
    """Mix ``signal`` and ``noise`` at ``snr_db``: ``mixture = signal + k * noise``.

    Works on waveforms (``axis=-1``) and on complex STFTs (``axis=(-2, -1)``). The STFT is
    linear, so ``mix(stft(s), stft(n), snr, axis=(-2, -1), powers=(signal_power(s),
    signal_power(n)))`` equals ``stft(mix(s, n, snr)[0])``. Without ``powers`` the SNR is the one
    measured on the STFTs: with ``onesided=True`` (Parseval weights) it matches the waveform SNR
    to about 0.01 dB for STFTs of signals; with the plain mean (default) it can be off by dBs for
    noise with a strong DC/low-frequency part (see the module docstring). After an operation that
    leaves an STFT inconsistent (``phase_vocoder``, a mask, an EQ) only ``stft=dict(...)`` gives
    the SNR of the synthesised waveforms (the iSTFT is linear too: ``istft(mixture) == istft(S) +
    k istft(N)``); it costs one iSTFT per input.

    Args:
      signal: clean signal, real ``(..., samples)`` or complex ``(..., freq, frames)``.
      noise: noise of the same shape.
      snr_db: SNR in dB, a scalar or ``(...,)`` (one per example, broadcast over the batch
        shape = the dims not in ``axis``); a number, list, tuple or array. May be traced; a
        concrete value must be finite and within [-200, 200] dB.
      axis: axis or axes over which powers are measured (static).
      powers: optional ``(P_signal, P_noise)`` per-example powers ``(...,)``; see :func:`snr_gain`.
      onesided: measure powers of one-sided STFTs with Parseval weights (see :func:`signal_power`).
      stft: dict of :func:`jaxspec.istft` keywords: measure powers on the iSTFTs (exact waveform
        SNR for any STFT); see :func:`signal_power`.

    Returns:
      ``(mixture, scaled_noise)``, both with the shape of ``signal``; ``mixture = signal +
      scaled_noise`` and ``scaled_noise = k * noise`` with ``k = snr_gain(...)``. An all-zero
      signal or noise gives ``k = 0``: ``mixture == signal`` and ``scaled_noise == 0``.
    """
    fn = "mix"
    s, n = _signal_noise(fn, signal, noise)
    k, axes = _gain(fn, s, n, snr_db, axis, powers, onesided, stft)
    scaled = jnp.expand_dims(k, axes).astype(_real_dtype(s)) * n
    return s + scaled, scaled


# ----------------------------------------------------------------------------- distributions


def _is_concrete_number(value: Any) -> bool:
    if _checks.is_traced(value):
        return False
    try:
        np.asarray(value)
    except Exception:
        return False
    return True


def _concrete_array(cls: str, name: str, value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array when it is concrete (validated numeric and finite), else None."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{cls}: {name} must be a real number or array, got {value!r}")
    if not _is_concrete_number(value):
        return None
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{cls}: {name} must be a real number or array, got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{cls}: {name} must be finite, got {value!r}")
    return arr


def _as_leaf(value: Any) -> Any:
    """Lists and tuples become NumPy arrays; scalars and arrays (also traced) are kept."""
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=np.result_type(float, *[np.asarray(v).dtype for v in value]) if value else float)
    return value


def _sample_dtype(dtype: Any):
    return jnp.result_type(float) if dtype is None else jnp.dtype(dtype)


class _Distribution:
    """Base class: a frozen dataclass whose fields are pytree leaves."""

    def tree_flatten(self):
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self)), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        # bypass __init__: leaves may be tracers or placeholders during transformations
        obj = object.__new__(cls)
        for f, c in zip(dataclasses.fields(cls), children):
            object.__setattr__(obj, f.name, c)
        return obj

    def _shape(self, shape: Any) -> tuple[int, ...]:
        name = type(self).__name__ + ".sample"
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (int(shape),)
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"{name}: shape must be a tuple of ints, got {shape!r}")
        return tuple(_checks.static_int(name, "shape", s, minimum=0) for s in shape)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Uniform(_Distribution):
    """Uniform distribution on ``[low, high)``: an SNR (or any scalar) distribution.

    A frozen dataclass and a pytree: ``low`` and ``high`` are leaves, so they may be traced (e.g.
    passed as arguments of a jitted step for a curriculum). Python/NumPy values are checked at
    construction: finite, ``low <= high`` (``low == high`` always returns ``low``).

    Args:
      low: lower bound, a scalar or an array broadcastable to the sample shape.
      high: upper bound, same.

    Example: ``jaxspec.random_mix(key, clean, noise, jaxspec.Uniform(-5.0, 20.0))``.
    """

    low: Any
    high: Any

    def __post_init__(self):
        object.__setattr__(self, "low", _as_leaf(self.low))
        object.__setattr__(self, "high", _as_leaf(self.high))
        lo = _concrete_array("Uniform", "low", self.low)
        hi = _concrete_array("Uniform", "high", self.high)
        if lo is not None and hi is not None and np.any(lo > hi):
            raise ValueError(f"Uniform: low must be <= high, got low={self.low!r} > high={self.high!r}")

    def sample(self, key: jax.Array, shape: tuple[int, ...] = (), *, dtype: Any = None) -> jax.Array:
        """Draw samples.

        Args:
          key: PRNG key.
          shape: sample shape (static).
          dtype: float dtype; default JAX's default float (float32 unless x64 is on).

        Returns:
          ``shape`` array with values in ``[low, high)``.
        """
        shape = self._shape(shape)
        dt = _sample_dtype(dtype)
        lo, hi = jnp.asarray(self.low, dt), jnp.asarray(self.high, dt)
        u = jax.random.uniform(key, shape, dt)
        return lo + (hi - lo) * u


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Normal(_Distribution):
    """Normal distribution ``N(mean, std^2)``; a pytree whose parameters may be traced.

    Python/NumPy parameters are checked at construction: finite, ``std >= 0``.

    Args:
      mean: mean, a scalar or an array broadcastable to the sample shape.
      std: standard deviation (``>= 0``), same.
    """

    mean: Any
    std: Any

    def __post_init__(self):
        object.__setattr__(self, "mean", _as_leaf(self.mean))
        object.__setattr__(self, "std", _as_leaf(self.std))
        _concrete_array("Normal", "mean", self.mean)
        sd = _concrete_array("Normal", "std", self.std)
        if sd is not None and np.any(sd < 0):
            raise ValueError(f"Normal: std must be >= 0, got {self.std!r}")

    def sample(self, key: jax.Array, shape: tuple[int, ...] = (), *, dtype: Any = None) -> jax.Array:
        """Draw samples.

        Args:
          key: PRNG key.
          shape: sample shape (static).
          dtype: float dtype; default JAX's default float.

        Returns:
          ``shape`` array ``mean + std * z`` with ``z`` standard normal (differentiable in the
          parameters).
        """
        shape = self._shape(shape)
        dt = _sample_dtype(dtype)
        return jnp.asarray(self.mean, dt) + jnp.asarray(self.std, dt) * jax.random.normal(key, shape, dt)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class TruncatedNormal(_Distribution):
    """Normal distribution ``N(mean, std^2)`` restricted to ``[low, high]``; parameters may be traced.

    Python/NumPy parameters are checked at construction: finite, ``std >= 0``, ``low <= high``.
    With ``std == 0`` every draw is ``clip(mean, low, high)``.

    Args:
      mean: mean of the untruncated normal.
      std: its standard deviation (``>= 0``).
      low: lower bound of the support.
      high: upper bound of the support.
    """

    mean: Any
    std: Any
    low: Any
    high: Any

    def __post_init__(self):
        for f in ("mean", "std", "low", "high"):
            object.__setattr__(self, f, _as_leaf(getattr(self, f)))
        _concrete_array("TruncatedNormal", "mean", self.mean)
        sd = _concrete_array("TruncatedNormal", "std", self.std)
        lo = _concrete_array("TruncatedNormal", "low", self.low)
        hi = _concrete_array("TruncatedNormal", "high", self.high)
        if sd is not None and np.any(sd < 0):
            raise ValueError(f"TruncatedNormal: std must be >= 0, got {self.std!r}")
        if lo is not None and hi is not None and np.any(lo > hi):
            raise ValueError(f"TruncatedNormal: low must be <= high, got low={self.low!r} > high={self.high!r}")

    def sample(self, key: jax.Array, shape: tuple[int, ...] = (), *, dtype: Any = None) -> jax.Array:
        """Draw samples (inverse-CDF method of ``jax.random.truncated_normal``).

        Args:
          key: PRNG key.
          shape: sample shape (static).
          dtype: float dtype; default JAX's default float.

        Returns:
          ``shape`` array with values in ``[low, high]`` (clipped, so rounding never leaves the support).
        """
        shape = self._shape(shape)
        dt = _sample_dtype(dtype)
        mean, std = jnp.asarray(self.mean, dt), jnp.asarray(self.std, dt)
        lo, hi = jnp.asarray(self.low, dt), jnp.asarray(self.high, dt)
        a = _numerics.safe_div(lo - mean, std)
        b = _numerics.safe_div(hi - mean, std)
        z = jax.random.truncated_normal(key, jnp.minimum(a, b), b, shape, dt)
        return jnp.clip(mean + std * z, lo, hi)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Choice(_Distribution):
    """A discrete distribution over ``values`` with probabilities ``p`` (uniform when None).

    ``values`` and ``p`` are pytree leaves (may be traced); their length fixes nothing but the
    number of categories. ``p`` need not sum to 1 (it is normalised). Python/NumPy values are
    checked at construction: ``values`` non-empty and 1-D, ``p`` of the same length, finite,
    ``>= 0`` and not all zero.

    Args:
      values: ``(n,)`` candidate values (e.g. SNRs in dB, ``[-5, 0, 5, 10]``).
      p: ``(n,)`` non-negative weights, or None for equal weights.
    """

    values: Any
    p: Any = None

    def __post_init__(self):
        object.__setattr__(self, "values", _as_leaf(self.values))
        object.__setattr__(self, "p", _as_leaf(self.p))
        v = self.values
        _concrete_array("Choice", "values", v)
        if jnp.ndim(v) != 1 or jnp.shape(v)[0] == 0:
            raise ValueError(f"Choice: values must be a non-empty 1-D array, got shape {jnp.shape(v)}")
        if self.p is not None:
            p = _concrete_array("Choice", "p", self.p)
            if jnp.shape(self.p) != jnp.shape(v):
                raise ValueError(f"Choice: p must have the shape of values {jnp.shape(v)}, got {jnp.shape(self.p)}")
            if p is not None:
                if np.any(p < 0):
                    raise ValueError(f"Choice: p must be non-negative, got {self.p!r}")
                if not np.sum(p) > 0:
                    raise ValueError(f"Choice: p must have a positive sum, got {self.p!r}")

    def sample(self, key: jax.Array, shape: tuple[int, ...] = (), *, dtype: Any = None) -> jax.Array:
        """Draw samples.

        Args:
          key: PRNG key.
          shape: sample shape (static).
          dtype: float dtype of the returned values; default JAX's default float.

        Returns:
          ``shape`` array of entries of ``values`` (differentiable in ``values``, not in ``p``).
        """
        shape = self._shape(shape)
        dt = _sample_dtype(dtype)
        values = jnp.asarray(self.values, dt)
        n = values.shape[0]
        if self.p is None:
            idx = jax.random.randint(key, shape, 0, n)
        else:
            p = jnp.asarray(self.p, dt)
            logits = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), -jnp.inf)
            idx = jax.random.categorical(key, logits, shape=shape)
        return values[idx]


_DISTRIBUTIONS = (Uniform, Normal, TruncatedNormal, Choice)


# ----------------------------------------------------------------------------- random wrappers


def random_mix(key: jax.Array, signal: jax.Array, noise: jax.Array, snr: Any, *,
               axis: int | tuple[int, ...] = -1, powers: tuple[Any, Any] | None = None, onesided: bool = False,
               stft: dict | None = None, return_params: bool = False) -> tuple[jax.Array, ...]:
    """Draw one SNR per example from ``snr`` and :func:`mix` at it.

    Args:
      key: PRNG key; the same key gives the same SNRs (and bits), split keys give independent draws.
      signal: clean signal, real ``(..., samples)`` or complex ``(..., freq, frames)``.
      noise: noise of the same shape.
      snr: a distribution (:class:`Uniform`, :class:`Normal`, :class:`TruncatedNormal`,
        :class:`Choice`, or any object with ``.sample(key, shape)``) drawn with the batch shape,
        or a fixed SNR in dB (number, list, tuple or ``(...,)`` array), in which case ``key`` is
        unused. Concrete SNRs and concrete support bounds (``low``/``high``, ``Choice`` values)
        must lie within [-200, 200] dB.
      axis: axis or axes over which powers are measured (``(-2, -1)`` for STFTs); the batch shape
        is the dims not in ``axis``.
      powers: optional per-example ``(P_signal, P_noise)``; see :func:`snr_gain`.
      onesided: measure powers of one-sided STFTs with Parseval weights (see :func:`signal_power`).
      stft: dict of :func:`jaxspec.istft` keywords: exact waveform SNR for any STFT (see :func:`mix`).
      return_params: also return the draws (static bool).

    Returns:
      ``(mixture, scaled_noise, snr_db)``: the first two as in :func:`mix`; ``snr_db`` is the
      ``(...,)`` batch-shaped SNR actually used, in the real dtype of the inputs. With
      ``return_params=True``, a fourth element ``{"snr_db": (...,), "gain": (...,)}``: the SNR
      and the noise gain ``k`` (``scaled_noise = k * noise``).
    """
    fn = "random_mix"
    return_params = _checks.static_bool(fn, "return_params", return_params)
    s, n = _signal_noise(fn, signal, noise)
    _, batch = _axes_and_batch(fn, s, axis)
    rdt = _real_dtype(s)
    if isinstance(snr, _DISTRIBUTIONS):
        for field in ("low", "high", "values"):  # concrete support bounds: the same limit as snr_db
            if hasattr(snr, field) and getattr(snr, field) is not None:
                _check_values(fn, f"snr.{field}", getattr(snr, field), limit=DB_LIMIT)
        snr_db = snr.sample(key, batch, dtype=rdt)
    elif hasattr(snr, "sample") and callable(snr.sample):
        snr_db = jnp.asarray(snr.sample(key, batch))
        if snr_db.shape != batch:
            raise ValueError(f"{fn}: snr.sample(key, {batch}) returned shape {snr_db.shape}, expected {batch}")
        snr_db = snr_db.astype(rdt)
    elif isinstance(snr, (str, bytes)) or snr is None:
        raise TypeError(f"{fn}: snr must be a distribution (jaxspec.Uniform, Normal, TruncatedNormal, Choice) or a "
                        f"number/array of SNRs in dB, got {snr!r}")
    else:
        snr_db = _per_example(fn, "snr", snr, batch, rdt, limit=DB_LIMIT)
    k, axes = _gain(fn, s, n, snr_db, axis, powers, onesided, stft, drawn=True)  # snr_db: checked or drawn
    scaled = jnp.expand_dims(k, axes).astype(rdt) * n
    if return_params:
        return s + scaled, scaled, snr_db, {"snr_db": snr_db, "gain": k}
    return s + scaled, scaled, snr_db


def fit_length(key: jax.Array, noise: jax.Array, length: int, *, return_params: bool = False) -> Any:
    """Bring ``noise`` to ``length`` samples: random crop if longer, loop-and-crop if shorter.

    One random offset per example (drawn with the batch shape from ``key``). A longer noise is
    cropped at an offset uniform in ``[0, samples - length]``; a shorter one is repeated end to
    end (no cross-fade: the loop point may click) and cropped at an offset uniform in
    ``[0, samples)``, so every sample is equally likely to start the output.

    Args:
      key: PRNG key.
      noise: real ``(..., samples)``.
      length: output length in samples (static int, ``1 <= length <= 2**28``; may be given by keyword).
      return_params: also return the offsets (static bool).

    Returns:
      ``(..., length)`` array of the dtype of ``noise`` (differentiable in ``noise``); with
      ``return_params=True``, ``(out, {"offset": (...,) int32})``, the first sample of ``noise``
      taken by each example.
    """
    fn = "fit_length"
    x = _checks.real_signal(fn, "noise", noise)
    length = _checks.static_int(fn, "length", length, minimum=1)
    return_params = _checks.static_bool(fn, "return_params", return_params)
    if length > MAX_LENGTH:
        raise ValueError(f"{fn}: length must be <= 2**28 = {MAX_LENGTH} samples (4.6 hours at 16 kHz), got {length}")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{fn}: noise must have shape (..., samples) with samples >= 1, got {x.shape}")
    L = x.shape[-1]
    batch = x.shape[:-1]
    if L >= length:
        offsets = jax.random.randint(key, batch, 0, L - length + 1)
    else:
        reps = -(-(length + L - 1) // L)
        x = jnp.tile(x, (1,) * len(batch) + (reps,))
        offsets = jax.random.randint(key, batch, 0, L)
    flat = x.reshape((-1, x.shape[-1]))
    out = jax.vmap(lambda row, o: jax.lax.dynamic_slice_in_dim(row, o, length))(flat, offsets.reshape(-1))
    out = out.reshape(batch + (length,))
    return (out, {"offset": offsets.astype(jnp.int32)}) if return_params else out


def _peak(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    return _numerics.amax(_numerics.safe_abs(x), axis=axes)


def _stft_peak(fn: str, Y: jax.Array, params: dict) -> jax.Array:
    """Rigorous upper bound of ``max |istft(Y, **params)|`` per example, without an inverse FFT.

    A frame's inverse real FFT obeys ``|irfft(X)[m]| <= B = (1/n) (|Re X_0| + |Re X_{n/2}| + 2
    sum_{0<k<n/2} |X_k|)`` for every ``m`` (the triangle inequality on the inverse DFT; for odd
    ``n`` there is no Nyquist row and the last row counts twice). The iSTFT output at sample ``t``
    is ``sum_f w[t - f hop] x_f[t - f hop] / env[t]``, so ``|y[t]| <= sum_f |w[t - f hop]| B_f /
    env[t]``, the overlap-add of the per-frame bounds times ``|w|``, divided by the window-sum-square
    envelope exactly as :func:`jaxspec.istft` does (same frames, trimming and ``length``).
    """
    F, T = Y.shape[-2:]
    n_fft = params.get("n_fft")
    if n_fft is None:
        if F < 2:
            raise ValueError(f"{fn}: cannot infer n_fft from the STFT's {F} rows; pass stft=dict(n_fft=...)")
        n_fft = 2 * (F - 1)
    n_fft, hop, win_length = _resolve(fn, n_fft, params.get("hop_length"), params.get("win_length"))
    if n_fft // 2 + 1 != F:
        raise ValueError(f"{fn}: stft n_fft={n_fft} expects {n_fft // 2 + 1} frequency rows, got {F} (shape {Y.shape})")
    center = _checks.static_bool(fn, "stft center", params.get("center", True))
    inv_scale = 1.0 / norm_scale(fn, params.get("normalized", False), n_fft)
    length = _checks.static_int(fn, "stft length", params.get("length"), minimum=0, allow_none=True)
    window = params.get("window", "hann")
    w = frame_window(window, n_fft=n_fft, win_length=win_length, fn=fn)
    if nola_min(w, hop) <= 1e-10 * float(np.max(w * w, initial=0.0)):
        raise ValueError(f"{fn}: stft window={window!r} with hop_length={hop} violates NOLA; the STFT cannot be inverted")
    if length is not None:
        padded = length + 2 * (n_fft // 2) if center else length
        T = min(T, -(-padded // hop))
        Y = Y[..., :T]
    rdt = _real_dtype(Y)
    # per-frame bound, on Y / max|Y| (no squares of large numbers) and scaled back
    m = jax.lax.stop_gradient(_max_abs(Y, (Y.ndim - 2, Y.ndim - 1)))
    Z = _numerics.safe_div(Y, m[..., None, None])
    c = np.full(F, 2.0)
    c[0] = 1.0
    absZ = _numerics.safe_abs(Z)
    if n_fft % 2 == 0:
        c[-1] = 1.0
        absZ = jnp.concatenate([jnp.abs(Z[..., :1, :].real), absZ[..., 1:-1, :], jnp.abs(Z[..., -1:, :].real)], axis=-2)
    else:
        absZ = jnp.concatenate([jnp.abs(Z[..., :1, :].real), absZ[..., 1:, :]], axis=-2)
    B = jnp.sum(absZ * jnp.asarray(c[:, None] / n_fft, rdt), axis=-2)            # (..., frames)
    scale = np.abs(w) * inv_scale
    y = _overlap_add(B[..., :, None] * jnp.asarray(scale, rdt), hop)
    env = window_sumsquare(w, T, hop)
    start = n_fft // 2 if center else 0
    expected = (n_fft + hop * (T - 1) - (2 * (n_fft // 2) if center else 0)) if length is None else length
    stop = min(start + expected, y.shape[-1])
    env = env[start:stop]
    tiny = np.finfo(np.float32 if rdt == jnp.float32 else np.float64).tiny
    inv = np.where(env > tiny, 1.0 / np.where(env > tiny, env, 1.0), 1.0)
    # a hair above the exact bound, so that float rounding in the iSTFT never crosses it
    inv = inv * (1.0 + 64.0 * float(np.finfo(np.float32 if rdt == jnp.float32 else np.float64).eps))
    bound = _numerics.amax(y[..., start:stop] * jnp.asarray(inv, rdt), axis=-1) if stop > start else jnp.zeros(y.shape[:-1], rdt)
    return m * bound


def prevent_clipping(x: jax.Array, *, peak: Any = 1.0, axis: int | tuple[int, ...] = -1,
                     bound: Any = None, stft: dict | None = None) -> tuple[jax.Array, jax.Array]:
    """Scale each example down so that its peak is at most ``peak`` (never scales up).

    ``gain = min(1, peak / max|x|)`` per example (a hair below it, so that rounding never lets
    the scaled peak exceed ``peak``); an all-zero example gets gain 1. Apply the same gain to the
    clean target and the scaled noise (``clean * gain[..., None]``) so that targets stay
    consistent with the mixture.

    STFT-domain pipelines, two ways to guarantee that the waveform ``istft(scaled)`` stays within
    ``peak`` without computing it:

    - ``stft=dict(n_fft=..., hop_length=..., ...)`` (the :func:`jaxspec.istft` keywords) with the
      complex STFT mixture ``x`` and ``axis=(-2, -1)``: a rigorous bound of the iSTFT's peak from
      the frames' spectra, ``|irfft(X)[m]| <= (1/n) sum_k c_k |X_k|`` (``c_k = 1`` for the DC and
      Nyquist rows, 2 otherwise), times the synthesis window, overlap-added and divided by the
      window-sum-square envelope. Valid for any STFT, also after ``phase_vocoder``, masking or EQ.
      Costs ``|X|`` and one overlap-add of per-frame scalars (no FFT). The bound is loose: it is
      at least ``sum(w) / sum(w^2)`` per hop times the true peak (1.33x for a Hann window at a
      quarter-window hop) and typically 3-6x for speech and noise (measured below), so mixtures
      near full scale are turned down more than strictly needed. For a tight guard, pass
      ``bound=jnp.max(jnp.abs(istft(x)), axis=-1)`` (one iSTFT).
    - ``bound=``: any per-example bound, e.g. :func:`peak_bound` of the waveforms ``s, n`` the
      STFTs were computed from (valid only while the STFTs are those of ``s`` and ``n``).

    Args:
      x: real ``(..., samples)`` (or complex ``(..., freq, frames)`` with ``bound`` or ``stft``).
      peak: maximum absolute value allowed, ``> 0`` (number, list or ``(...,)`` array; may be
        traced; concrete values must be finite and positive).
      axis: axis or axes of one example (``(-2, -1)`` for an STFT).
      bound: optional ``(...,)`` upper bound of each example's time-domain peak, used instead of
        ``max|x|`` over ``axis`` (concrete values finite and ``>= 0``).
      stft: optional dict of :func:`jaxspec.istft` keywords: bound the peak of ``istft(x, **stft)``
        from the STFT ``x`` (excludes ``bound``).

    Returns:
      ``(scaled, gain)``: ``scaled = x * gain`` with the shape of ``x``, and ``gain`` of shape
      ``(...,)`` in ``(0, 1]``. NaN in ``x`` or ``bound`` gives a NaN gain.
    """
    fn = "prevent_clipping"
    x = _checks.floating(fn, "x", x)
    axes, batch = _axes_and_batch(fn, x, axis)
    rdt = _real_dtype(x)
    pk = _per_example(fn, "peak", peak, batch, rdt, minimum=0.0, strict=True)
    params = _stft_params(fn, stft, x, axes)
    if params is not None and bound is not None:
        raise ValueError(f"{fn}: pass either bound=... or stft=..., not both")
    if params is not None:
        m = _stft_peak(fn, x, params)
    elif bound is not None:
        m = _per_example(fn, "bound", bound, batch, rdt, minimum=0.0)
    else:
        m = _peak(x, axes)
    over = m > pk
    safe_m = jnp.where(over, m, jnp.ones_like(m))
    shrink = jnp.asarray(1.0 - 2.0 * float(jnp.finfo(rdt).eps), rdt)
    gain = jnp.where(over, pk / safe_m * shrink, jnp.ones_like(m))
    gain = jnp.where(jnp.isfinite(m), gain, m - m)  # NaN/inf in, NaN out (value and gradient)
    return x * jnp.expand_dims(gain, axes).astype(rdt), gain


def peak_bound(signal: jax.Array, noise: jax.Array, gain: Any, *, axis: int | tuple[int, ...] = -1,
               stft: dict | None = None) -> jax.Array:
    """Upper bound of the peak of ``signal + gain * noise``: ``max|signal| + |gain| max|noise|``.

    Exact as a bound (triangle inequality) and cheap: use it with :func:`prevent_clipping`'s
    ``bound`` to guarantee that an STFT-domain mixture ``S + k N`` will not clip once inverted,
    from the waveforms ``s, n`` the STFTs were computed from. When there are no such waveforms
    (the STFTs were phase-vocoded, masked, equalised), pass the STFTs themselves with ``stft=``:
    the bound is then that of :func:`prevent_clipping`'s ``stft=`` option, applied to ``signal +
    gain * noise``.

    Args:
      signal: real ``(..., samples)`` (or complex ``(..., freq, frames)`` with ``stft``).
      noise: same shape.
      gain: the noise gain ``k`` (e.g. :func:`snr_gain`), scalar or ``(...,)`` (number, list or
        array; concrete values finite).
      axis: axis or axes of one example (``(-2, -1)`` for STFTs).
      stft: optional dict of :func:`jaxspec.istft` keywords: bound the peak of ``istft(signal +
        gain * noise, **stft)``.

    Returns:
      ``(...,)`` per-example bounds, in the real dtype of the inputs.
    """
    fn = "peak_bound"
    s, n = _signal_noise(fn, signal, noise)
    axes, batch = _axes_and_batch(fn, s, axis)
    k = _per_example(fn, "gain", gain, batch, _real_dtype(s))
    params = _stft_params(fn, stft, s, axes)
    if params is not None:
        return _stft_peak(fn, s + jnp.expand_dims(k, axes).astype(_real_dtype(s)) * n, params)
    return _peak(s, axes) + jnp.abs(k) * _peak(n, axes)
