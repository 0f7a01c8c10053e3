"""Noise generated in code from a PRNG key: the example's training noise and held-out noise families.

The training example needs noise without downloading anything. Every generator here is a pure
function of a key, works under ``jit`` and ``vmap``, returns ``(..., samples)`` float32 noise scaled
to unit RMS per example (the mixer sets the level from the SNR anyway), and draws a different
realisation for every example of the batch shape. :func:`noise_bank` makes a whole bank, cycling
through the kinds, for the trainer to crop from.

Kinds (names for :func:`noise_bank`; :data:`KINDS` lists them all):

Training families, :data:`TRAIN_KINDS` (the default of :func:`noise_bank`):

* ``"white"``, ``"pink"``, ``"brown"``: Gaussian noise with a 1/f^0, 1/f, 1/f^2 power spectrum
  (:func:`white`, :func:`pink`, :func:`brown`).
* ``"hum"``: 50/60 Hz mains hum with harmonics (:func:`hum`).
* ``"clatter"``: dense, bright, short impacts (:func:`clatter`).
* ``"babble"``: six talkers cut from the speech stream, ±6 dB (:func:`babble`).
* ``"colored"``: 1/f^a noise with ``a`` drawn per clip from -0.5..2.5 (blue-ish to beyond brown;
  :func:`random_colored`).
* ``"speech_shaped"``: Gaussian noise with the long-term spectrum of the speech stream
  (:func:`speech_shaped`).
* ``"crowd"``: babble of 3..12 talkers (a random count per clip), ±10 dB
  (``babble(..., min_talkers=3, n_talkers=12, level_db=10)``).
* ``"hum_drift"``: hum whose fundamental wanders by ±0.5 % (``hum(..., drift=0.005)``).
* ``"transients"``: sparse door slams, knocks and clicks, 0.3-2 per second with 20-200 ms decays
  (:func:`transients`).
* ``"mixture"``: two different training families (:data:`MIXTURE_KINDS`) at a random ratio within
  ±10 dB, each through a random smooth EQ of up to ±6 dB (:func:`mixture`).

The plain white/pink/brown kinds stay in the training set next to ``"colored"`` on purpose: the
bank gives every kind the same number of clips, so stationary broadband noise (the most common
real background) keeps about a third of it.

Held-out families, :data:`HELDOUT_KINDS` — **never used for training by default**; the example's
evaluation uses them to measure how a model generalises to noise it never saw:

* ``"music"``: notes of 1-4 voices with harmonics and attack/decay envelopes, occasional drum
  hits (:func:`music`).
* ``"machine"``: a fan/engine/motor — rotation harmonics (20-120 Hz, slowly varying speed) plus
  band-passed noise modulated at the rotation rate (:func:`machine`).
* ``"traffic"``: low rumble, passing vehicles (2-6 s swells) and now and then a horn
  (:func:`traffic`).

Layout: ``shape`` is ``(..., samples)``; the last entry is the number of samples. Kinds that
take a ``speech`` stream (``babble``, ``crowd``, ``speech_shaped`` and ``mixture``) cut it from a
1-D ``(samples_pool,)`` array; the others ignore it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, _fft, _numerics
from ..spectral import power
from ..stft import stft

#: Default training kinds of :func:`noise_bank` (the first six are the original kinds).
TRAIN_KINDS = ("white", "pink", "brown", "hum", "clatter", "babble",
               "colored", "speech_shaped", "crowd", "hum_drift", "transients", "mixture")
#: Held-out kinds: for evaluating generalisation only, never in the default training bank.
HELDOUT_KINDS = ("music", "machine", "traffic")
#: Every kind :func:`noise_bank` accepts (the original six first, in their original order).
KINDS = TRAIN_KINDS + HELDOUT_KINDS
#: Families :func:`mixture` draws its two components from by default.
MIXTURE_KINDS = ("colored", "speech_shaped", "hum_drift", "clatter", "crowd", "transients")

__all__ = ["white", "colored", "random_colored", "pink", "brown", "hum", "clatter", "babble",
           "speech_shaped", "transients", "mixture", "music", "machine", "traffic", "noise_bank",
           "KINDS", "TRAIN_KINDS", "HELDOUT_KINDS", "MIXTURE_KINDS"]

_DRIFT_SALT = 0x68756D  # fold_in data for draws added to an existing generator (keeps its old bits)
_COUNT_SALT = 0x636E74


def _shape(fn: str, shape) -> tuple[int, ...]:
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(_checks.static_int(fn, "shape", s, minimum=1) for s in shape)
    if not shape:
        raise ValueError(f"{fn}: shape must end with the number of samples, got ()")
    return shape


def _unit_rms(x: jax.Array) -> jax.Array:
    rms = _numerics.safe_sqrt(jnp.mean(x * x, axis=-1, keepdims=True))
    return _numerics.safe_div(x, rms)


def _speech(fn: str, speech) -> jax.Array:
    speech = _checks.real_signal(fn, "speech", speech)
    if speech.ndim != 1:
        raise ValueError(f"{fn}: speech must be a 1-D stream (samples_pool,), got shape {speech.shape}")
    return speech


def _range(fn: str, low_name: str, low, high_name: str, high, *, minimum: float = 0.0, strict: bool = True):
    low = _checks.static_float(fn, low_name, low, minimum=minimum, strict=strict)
    high = _checks.static_float(fn, high_name, high, minimum=minimum, strict=strict)
    if high < low:
        raise ValueError(f"{fn}: {high_name} must be >= {low_name}, got {low_name}={low}, {high_name}={high}")
    return low, high


# Every jax.random call compiles its own threefry kernel (about 0.1 s of XLA time each on CPU), so
# the generators below draw all their per-example parameters in one uniform call and slice it.
def _uniforms(key, lead: tuple[int, ...], **blocks) -> dict[str, jax.Array]:
    """One ``U[0, 1)`` draw cut into named blocks of shape ``lead + blocks[name]``."""
    sizes = {k: (v,) if isinstance(v, int) else tuple(v) for k, v in blocks.items()}
    total = sum(math.prod(v) for v in sizes.values())
    u = jax.random.uniform(key, lead + (total,), jnp.float32)
    out, o = {}, 0
    for name, shp in sizes.items():
        m = math.prod(shp)
        out[name] = u[..., o:o + m].reshape(lead + shp)
        o += m
    return out


def _lin(u: jax.Array, low: float, high: float) -> jax.Array:
    return low + (high - low) * u


def _log(u: jax.Array, low: float, high: float) -> jax.Array:
    return jnp.exp(math.log(low) + (math.log(high) - math.log(low)) * u)


def _int(u: jax.Array, low: int, high: int) -> jax.Array:
    """Integers uniform in ``low..high - 1`` from ``U[0, 1)``."""
    return jnp.minimum(low + jnp.floor(u * (high - low)).astype(jnp.int32), high - 1)


def _freqs(n: int, sr: int) -> jax.Array:
    """Frequencies in Hz of the ``n // 2 + 1`` rfft bins of ``n`` samples."""
    return jnp.arange(n // 2 + 1, dtype=jnp.float32) * (sr / n)


def _biquad(f: jax.Array, fc: jax.Array, q: jax.Array, kind: str) -> jax.Array:
    """Frequency response of an analog 2nd-order low/band/high-pass (causal, unlike a zero-phase
    gain) at ``f`` Hz; ``fc`` and ``q`` broadcast against ``f`` (e.g. ``(..., 1)``)."""
    w = f / fc
    s = jax.lax.complex(jnp.zeros_like(w), w)
    den = 1.0 + s / q + s * s
    num = {"low": jnp.ones_like(s), "band": s / q, "high": s * s}[kind]
    return num / den


def _filter(x: jax.Array, H: jax.Array) -> jax.Array:
    """Circular filtering of ``x`` (..., n) by the response ``H`` (..., n // 2 + 1)."""
    n = x.shape[-1]
    return _fft.irfft(_fft.rfft(x, axis=-1) * H, n=n, axis=-1)


def _cycles_to_rad(c: jax.Array) -> jax.Array:
    """``2 pi c`` with the whole cycles dropped first (keeps float32 phases accurate)."""
    return 2 * jnp.pi * (c - jnp.floor(c))


def _harmonics(theta: jax.Array, n_harmonics: int, weight, phase: jax.Array) -> jax.Array:
    """``sum_h weight(h) * sin(h * theta + phase[..., h - 1])`` for ``h = 1..n_harmonics``.

    One ``sin``/``cos`` pair for all harmonics: ``exp(i h theta)`` by a complex rotation recurrence
    (relative error about ``h * 1e-7`` in float32), accumulated one harmonic at a time, so no
    ``(..., harmonics, samples)`` intermediate. ``weight(h)`` broadcasts against ``theta``;
    ``phase`` is ``(..., n_harmonics)``.
    """
    c, s = jnp.cos(theta), jnp.sin(theta)
    cp, sp = jnp.cos(phase), jnp.sin(phase)
    zr, zi = c, s
    out = jnp.zeros(jnp.broadcast_shapes(theta.shape, phase.shape[:-1] + (1,)), jnp.float32)
    for h in range(1, n_harmonics + 1):
        if h > 1:
            zr, zi = zr * c - zi * s, zr * s + zi * c
        # sin(h theta + phi) = Im(exp(i h theta) exp(i phi))
        out = out + weight(h) * (zi * cp[..., h - 1, None] + zr * sp[..., h - 1, None])
    return out


def _wander(u: jax.Array, t: jax.Array, *, low_hz: float, high_hz: float) -> jax.Array:
    """The exact running integral ``∫_0^t d`` (seconds, ``(..., n)``) of a slow random curve ``d``
    in [-1, 1]: two sinusoids of ``low_hz``-``high_hz`` with random phases and weights summing
    to 1. ``u``: ``(..., 5)`` uniforms."""
    f = _log(u[..., 0:2], low_hz, high_hz)
    ph = 2 * jnp.pi * u[..., 2:4]
    w = _lin(u[..., 4:5], 0.3, 0.7)
    a = jnp.concatenate([w, 1.0 - w], axis=-1)
    integral = jnp.zeros(u.shape[:-1] + t.shape, jnp.float32)
    for i in range(2):
        fi, pi, ai = f[..., i, None], ph[..., i, None], a[..., i, None]
        integral = integral + ai * (jnp.cos(pi) - jnp.cos(2 * jnp.pi * fi * t + pi)) / (2 * jnp.pi * fi)
    return integral


def _bursts(key, count: int, n: int, sr: int, *, rate: tuple[float, float], specs, amp_sigma: float = 0.5,
            level_db: float = 6.0) -> jax.Array:
    """A sparse train of noise bursts, ``(count, n)`` (not normalised), at least one per clip.

    Each clip draws a rate (log-uniform in ``rate``, events per second) and places about
    ``rate * seconds`` (at least 1) events at random samples with log-normal amplitudes; each
    event is one of ``len(specs)`` burst types, each type one kernel per clip: Gaussian noise
    with an exponential decay, through a 2nd-order filter. ``specs`` are tuples
    ``(tau_low_s, tau_high_s, "low"|"band"|"high", fc_low_hz, fc_high_hz, q_low, q_high)``.
    Every kernel has unit energy times a random level of ±``level_db``. Circular (loops).
    """
    n_types = len(specs)
    seconds = n / sr
    slots = max(2, int(math.ceil(2 * rate[1] * seconds)) + 2)
    klen = min(n, max(8, sr))  # 1 s: a 200 ms decay is 43 dB down by its end
    k_u, k_n = jax.random.split(key)
    u = _uniforms(k_u, (count,), rate=1, par=(n_types, 4), ev=(3, slots))
    g = jax.random.normal(k_n, (count, slots + n_types * klen), jnp.float32)
    r = _log(u["rate"], *rate)
    p = jnp.clip((r * seconds - 1.0) / (slots - 1), 0.0, 1.0)
    on = (u["ev"][:, 0] < p).at[:, 0].set(True)
    pos = _int(u["ev"][:, 1], 0, n)
    typ = _int(u["ev"][:, 2], 0, n_types)
    amp = jnp.where(on, jnp.exp(amp_sigma * g[:, :slots]), 0.0)
    rows = jnp.arange(count)[:, None]
    trains = jnp.zeros((count, n_types, n), jnp.float32).at[rows, typ, pos].add(amp)
    t = jnp.arange(klen, dtype=jnp.float32) / sr
    f = _freqs(n, sr)
    nyq = 0.45 * sr
    noise = g[:, slots:].reshape(count, n_types, klen)
    kernels = []
    for i, (tau_lo, tau_hi, kind, fc_lo, fc_hi, q_lo, q_hi) in enumerate(specs):
        par = u["par"][:, i]
        tau = _log(par[:, 0:1], tau_lo, tau_hi)
        hi = min(fc_hi, nyq)
        fc = _log(par[:, 1:2], min(fc_lo, hi), hi)
        q = _lin(par[:, 2:3], q_lo, q_hi)
        lvl = 10 ** (_lin(par[:, 3:4], -level_db, level_db) / 20)
        K = _fft.rfft(noise[:, i] * jnp.exp(-t / tau), n=n, axis=-1) * _biquad(f, fc, q, kind)
        energy = jnp.mean(K.real * K.real + K.imag * K.imag, axis=-1, keepdims=True)
        kernels.append(K * (lvl * jax.lax.rsqrt(energy + 1e-30)))
    K = jnp.stack(kernels, axis=1)  # (count, types, freq)
    return _fft.irfft(jnp.sum(_fft.rfft(trains, axis=-1) * K, axis=1), n=n, axis=-1)


def white(key: jax.Array, shape) -> jax.Array:
    """Gaussian white noise.

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    return _unit_rms(jax.random.normal(key, _shape("white", shape), jnp.float32))


def colored(key: jax.Array, shape, *, exponent: float) -> jax.Array:
    """Noise with a ``1 / f ** exponent`` power spectrum (0: white, 1: pink, 2: brown).

    Shaped in the frequency domain (rfft of white noise times ``f ** (-exponent / 2)``, DC removed),
    so the spectrum is exact and the result is circular (loops without a click).

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      exponent: spectral slope (may be traced): a scalar, or one per example (broadcastable to
        ``shape[:-1]``).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    shape = _shape("colored", shape)
    n = shape[-1]
    w = jax.random.normal(key, shape, jnp.float32)
    W = _fft.rfft(w, axis=-1)
    k = jnp.arange(W.shape[-1], dtype=jnp.float32)
    exponent = jnp.asarray(exponent, jnp.float32)
    if exponent.ndim:  # one slope per example: broadcast over the frequency axis
        exponent = exponent[..., None]
    gain = jnp.where(k > 0, _numerics.safe_pow(jnp.maximum(k, 1.0) / n, -0.5 * exponent), 0.0)
    return _unit_rms(_fft.irfft(W * gain, n=n, axis=-1))


def pink(key: jax.Array, shape) -> jax.Array:
    """Pink (1/f) noise; see :func:`colored`.

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    return colored(key, shape, exponent=1.0)


def brown(key: jax.Array, shape) -> jax.Array:
    """Brown (1/f^2, random-walk-like) noise; see :func:`colored`.

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    return colored(key, shape, exponent=2.0)


def hum(key: jax.Array, shape, *, sr: int, n_harmonics: int = 12, drift: float = 0.0) -> jax.Array:
    """Mains hum: a 50 or 60 Hz fundamental (±2 %) with decaying, randomly weighted harmonics, random
    phases, a slow amplitude wobble and a little pink noise (30 dB down).

    With ``drift > 0`` the fundamental also wanders slowly (a sum of two sinusoids of 0.1-0.5 Hz,
    peak deviation ``drift`` as a fraction, e.g. 0.005 for ±0.5 %), as mains frequency and
    transformer load do; the phase is the exact integral of that frequency, so it stays smooth.
    ``drift=0`` (the default) is the fixed-frequency hum, bit for bit.

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static); harmonics above ``sr / 2`` are dropped.
      n_harmonics: number of harmonics including the fundamental (static).
      drift: peak relative deviation of the fundamental (static, >= 0).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "hum"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    n_harmonics = _checks.static_int(fn, "n_harmonics", n_harmonics, minimum=1)
    drift = _checks.static_float(fn, "drift", drift, minimum=0.0)
    if drift >= 0.5:
        raise ValueError(f"{fn}: drift must be < 0.5 (a fraction of the fundamental), got {drift}")
    batch, n = shape[:-1], shape[-1]
    k_f0, k_jit, k_amp, k_ph, k_wob, k_bg = jax.random.split(key, 6)
    f0 = jnp.where(jax.random.bernoulli(k_f0, 0.5, batch), 50.0, 60.0)
    f0 = f0 * (1.0 + 0.02 * jax.random.uniform(k_jit, batch, minval=-1.0, maxval=1.0))
    h = jnp.arange(1, n_harmonics + 1, dtype=jnp.float32)
    decay = jax.random.uniform(k_amp, batch + (1,), minval=0.1, maxval=0.6)
    amp = jnp.exp(-decay * (h - 1)) * jax.random.uniform(jax.random.fold_in(k_amp, 1), batch + (n_harmonics,), minval=0.3, maxval=1.0)
    freqs = f0[..., None] * h  # (..., H)
    amp = jnp.where(freqs * (1.0 + drift) < sr / 2, amp, 0.0)
    phase0 = jax.random.uniform(k_ph, batch + (n_harmonics,), maxval=2 * jnp.pi)
    t = jnp.arange(n, dtype=jnp.float32) / sr
    if drift == 0.0:
        # sum over harmonics as a small matmul-free broadcast: (..., H, 1) * (n,)
        arg = 2 * jnp.pi * freqs[..., None] * t + phase0[..., None]
        x = jnp.sum(amp[..., None] * jnp.sin(arg), axis=-2)
    else:
        u = jax.random.uniform(jax.random.fold_in(key, _DRIFT_SALT), batch + (5,), jnp.float32)
        integral = _wander(u, t, low_hz=0.1, high_hz=0.5)
        cycles = f0[..., None] * (t + drift * integral)  # (..., n): cycles of the fundamental
        x = _harmonics(_cycles_to_rad(cycles), n_harmonics, lambda h: amp[..., h - 1, None], phase0)
    wob_f = jax.random.uniform(k_wob, batch + (1,), minval=0.1, maxval=1.0)
    x = x * (1.0 + 0.2 * jnp.sin(2 * jnp.pi * wob_f * t))
    x = _unit_rms(x) + 10 ** (-30 / 20) * pink(k_bg, shape)
    return _unit_rms(x)


def clatter(key: jax.Array, shape, *, sr: int, rate: float = 6.0) -> jax.Array:
    """Clatter: random impacts (dishes, keyboard, footsteps) — a sparse train of impulses with
    log-normal amplitudes, each ringing as a short, exponentially decaying burst of high-passed noise
    (5-40 ms decay, random per example), plus a faint white floor (40 dB down).

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static).
      rate: mean number of impacts per second (may be traced).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "clatter"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    batch, n = shape[:-1], shape[-1]
    k_ev, k_amp, k_ker, k_tau, k_bg = jax.random.split(key, 5)
    events = jax.random.bernoulli(k_ev, jnp.clip(rate / sr, 0.0, 1.0), shape).astype(jnp.float32)
    events = events * jnp.exp(0.7 * jax.random.normal(k_amp, shape))
    klen = min(n, max(8, int(0.12 * sr)))
    t = jnp.arange(klen, dtype=jnp.float32) / sr
    tau = jnp.exp(jax.random.uniform(k_tau, batch + (1,), minval=jnp.log(0.005), maxval=jnp.log(0.04)))
    ker = jax.random.normal(k_ker, batch + (klen,)) * jnp.exp(-t / tau)
    ker = jnp.diff(ker, axis=-1, prepend=0.0)  # high-pass: impacts are bright
    # circular convolution (the clip loops without a gap)
    x = _fft.irfft(_fft.rfft(events, axis=-1) * _fft.rfft(ker, n=n, axis=-1), n=n, axis=-1)
    x = _unit_rms(x) + 10 ** (-40 / 20) * white(k_bg, shape)
    return _unit_rms(x)


def random_colored(key: jax.Array, shape, *, low: float = -0.5, high: float = 2.5,
                   return_exponent: bool = False):
    """:func:`colored` noise whose exponent is drawn per example, uniform in ``[low, high]``
    (the default -0.5..2.5 spans blue-ish, white 0, pink 1, brown 2 and darker).

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      low, high: range of the exponent (static).
      return_exponent: also return the drawn exponents (static).

    Returns:
      ``(..., samples)`` float32, unit RMS per example; with ``return_exponent`` a pair
      ``(noise, exponent)`` with ``exponent`` of shape ``shape[:-1]``.
    """
    fn = "random_colored"
    shape = _shape(fn, shape)
    low, high = _range(fn, "low", low, "high", high, minimum=-math.inf, strict=False)
    return_exponent = _checks.static_bool(fn, "return_exponent", return_exponent)
    k_e, k_n = jax.random.split(key)
    exponent = jax.random.uniform(k_e, shape[:-1], jnp.float32, low, high)
    x = colored(k_n, shape, exponent=exponent)
    return (x, exponent) if return_exponent else x


def babble(key: jax.Array, speech: jax.Array, shape, *, n_talkers: int = 6, min_talkers: int | None = None,
           level_db: float = 6.0) -> jax.Array:
    """Babble: up to ``n_talkers`` random excerpts of ``speech`` at random levels (±``level_db``), summed.

    With ``min_talkers < n_talkers`` each example draws its number of talkers uniformly from
    ``min_talkers..n_talkers`` (the extra talkers are masked out). The defaults
    (``min_talkers = n_talkers = 6``, ±6 dB) are the original babble, bit for bit in the draws.

    Args:
      key: PRNG key.
      speech: ``(samples_pool,)`` a long stream of speech (e.g. the training clips concatenated),
        longer than the output.
      shape: static ``(..., samples)``.
      n_talkers: (maximum) number of overlapping talkers (static).
      min_talkers: minimum number of talkers (static); default ``n_talkers``.
      level_db: each talker's level is uniform in ±``level_db`` dB (may be traced).

    Returns:
      ``(..., samples)`` float32, unit RMS per example. Excerpts are taken circularly, so a pool
      shorter than ``samples`` is looped.
    """
    fn = "babble"
    shape = _shape(fn, shape)
    n_talkers = _checks.static_int(fn, "n_talkers", n_talkers, minimum=1)
    min_talkers = n_talkers if min_talkers is None else _checks.static_int(fn, "min_talkers", min_talkers, minimum=1)
    if min_talkers > n_talkers:
        raise ValueError(f"{fn}: min_talkers must be <= n_talkers, got min_talkers={min_talkers}, n_talkers={n_talkers}")
    _checks.concrete_positive(fn, "level_db", level_db, allow_zero=True)
    speech = _speech(fn, speech)
    batch, n = shape[:-1], shape[-1]
    pool = speech.shape[0]
    reps = -(-n // pool) + 1
    stream = jnp.tile(speech, reps)
    k_off, k_gain = jax.random.split(key)
    offs = jax.random.randint(k_off, batch + (n_talkers,), 0, pool)
    gains = 10 ** (jax.random.uniform(k_gain, batch + (n_talkers,), minval=-level_db, maxval=level_db) / 20)
    if min_talkers < n_talkers:
        u = jax.random.uniform(jax.random.fold_in(key, _COUNT_SALT), batch + (1,), jnp.float32)
        count = _int(u, min_talkers, n_talkers + 1)
        gains = jnp.where(jnp.arange(n_talkers) < count, gains, 0.0)
    take = lambda o: jax.lax.dynamic_slice(stream, (o,), (n,))
    if min_talkers == n_talkers:  # the original computation (same bits)
        talkers = jax.vmap(take)(offs.reshape(-1)).reshape(offs.shape + (n,))
        return _unit_rms(jnp.sum(gains[..., None] * _unit_rms(talkers), axis=-2))
    x = jnp.zeros(batch + (n,), stream.dtype)
    for i in range(n_talkers):  # one talker at a time: no (..., talkers, samples) intermediate
        talker = jax.vmap(take)(offs[..., i].reshape(-1)).reshape(batch + (n,))
        x = x + gains[..., i, None] * _unit_rms(talker)
    return _unit_rms(x)


def _ltas(speech: jax.Array, n_fft: int) -> jax.Array:
    """Long-term average power spectrum ``(n_fft // 2 + 1,)`` of a 1-D stream (Hann frames, 50 % overlap)."""
    hop = max(1, n_fft // 2)
    length = speech.shape[0]
    frames = 1 if length <= n_fft else -(-(length - n_fft) // hop) + 1
    padded = jnp.pad(speech, (0, (frames - 1) * hop + n_fft - length))  # zeros: no extra power
    return jnp.mean(power(stft(padded, n_fft=n_fft, hop_length=hop, center=False)), axis=-1)


def speech_shaped(key: jax.Array, speech: jax.Array, shape, *, n_fft: int = 512) -> jax.Array:
    """Speech-shaped noise: Gaussian noise with the long-term average spectrum of ``speech``.

    The spectrum is a Welch average of ``n_fft``-point Hann frames of the whole stream,
    interpolated onto the output's rfft bins; white noise is shaped by its square root in the
    frequency domain (DC removed), like :func:`colored` (circular, loops without a click). A
    silent stream gives white noise.

    Args:
      key: PRNG key.
      speech: ``(samples_pool,)`` speech stream.
      shape: static ``(..., samples)``.
      n_fft: frame length of the spectrum estimate (static).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "speech_shaped"
    shape = _shape(fn, shape)
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=2)
    speech = _speech(fn, speech).astype(jnp.float32)
    n = shape[-1]
    psd = _ltas(speech, n_fft)
    psd = psd + 1e-6 * jnp.mean(psd) + 1e-30  # silent stream: white
    fk = jnp.arange(n // 2 + 1, dtype=jnp.float32) / n
    fj = jnp.arange(n_fft // 2 + 1, dtype=jnp.float32) / n_fft
    gain = jnp.sqrt(jnp.interp(fk, fj, psd))
    gain = jnp.where(jnp.arange(n // 2 + 1) > 0, gain, 0.0)
    W = _fft.rfft(jax.random.normal(key, shape, jnp.float32), axis=-1)
    return _unit_rms(_fft.irfft(W * gain, n=n, axis=-1))


_TRANSIENT_SPECS = (
    # (decay tau s), filter, (fc Hz), (Q): door slams / thumps, knocks, bright clicks
    (0.05, 0.2, "low", 40.0, 250.0, 0.7, 2.0),
    (0.02, 0.08, "band", 150.0, 1200.0, 1.0, 4.0),
    (0.02, 0.04, "band", 1500.0, 6000.0, 0.7, 1.5),
)


def transients(key: jax.Array, shape, *, sr: int, min_rate: float = 0.3, max_rate: float = 2.0) -> jax.Array:
    """Transients: sparse, loud door slams, knocks and clicks.

    Unlike :func:`clatter` (dense, short, bright), these are few — ``min_rate``-``max_rate`` events
    per second (log-uniform per example, at least one per clip) — and long: each is a burst of
    noise with a 20-200 ms exponential decay, either a low-passed thump (40-250 Hz), a
    band-passed knock (150-1200 Hz) or a bright band-passed click (1.5-6 kHz), one kernel of each
    kind per example at a random level (±6 dB), log-normal event amplitudes; plus a faint white
    floor (45 dB down). Circular (loops without a gap).

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static).
      min_rate, max_rate: range of the mean number of events per second (static).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "transients"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    rate = _range(fn, "min_rate", min_rate, "max_rate", max_rate)
    batch, n = shape[:-1], shape[-1]
    count = math.prod(batch)
    k_ev, k_bg = jax.random.split(key)
    x = _bursts(k_ev, count, n, sr, rate=rate, specs=_TRANSIENT_SPECS).reshape(shape)
    x = _unit_rms(x) + 10 ** (-45 / 20) * white(k_bg, shape)
    return _unit_rms(x)


def _random_eq(u: jax.Array, x: jax.Array, sr: int, eq_db) -> jax.Array:
    """``x`` through a random smooth EQ: a tilt plus three cosines on a log-frequency axis
    (50 Hz-Nyquist), scaled to a peak of ``eq_db * U(0.3, 1)`` dB. ``u``: ``(..., 8)`` uniforms."""
    n = x.shape[-1]
    f = _freqs(n, sr)
    span = max(math.log(max(sr / 2, 1.0) / 50.0), 1.0)
    v = jnp.clip(jnp.log(jnp.maximum(f, 50.0) / 50.0) / span, 0.0, 1.0)
    g = _lin(u[..., 0:1], -1.0, 1.0) * (2 * v - 1)
    for m in range(3):
        c = _lin(u[..., 1 + m, None], -1.0, 1.0) / (m + 1)
        g = g + c * jnp.cos(jnp.pi * (m + 1) * v + 2 * jnp.pi * u[..., 4 + m, None])
    peak = _numerics.amax(jnp.abs(g), axis=-1, keepdims=True)
    g = _numerics.safe_div(g, peak) * (eq_db * _lin(u[..., 7:8], 0.3, 1.0))
    return _filter(x, (10 ** (g / 20)).astype(jnp.complex64))


def mixture(key: jax.Array, speech: jax.Array, shape, *, sr: int, kinds: tuple[str, ...] = MIXTURE_KINDS,
            ratio_db: float = 10.0, eq_db: float = 6.0) -> jax.Array:
    """Two different noise families summed: each example draws two distinct kinds from ``kinds``,
    passes each component through its own random smooth EQ (a tilt and wiggles on a log-frequency
    axis, up to ±``eq_db`` dB) and mixes them at a level ratio uniform in ±``ratio_db`` dB.

    Pairing: the examples are taken in rounds of ``len(kinds)``; each round draws a random
    permutation of the kinds and a random non-zero shift, and example ``j`` of the round pairs
    kind ``perm[j]`` with ``perm[(j + shift) % len(kinds)]``. So components are generated in
    whole batches per kind (about twice the cost of one family, whatever ``kinds`` holds) and
    every component clip is used once.

    Args:
      key: PRNG key.
      speech: ``(samples_pool,)`` speech stream (for the speech-based kinds).
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static).
      kinds: at least two distinct names from :data:`KINDS` other than ``"mixture"`` (static).
      ratio_db: the components' level ratio is uniform in ±``ratio_db`` dB (may be traced).
      eq_db: peak gain of each component's EQ in dB (may be traced).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "mixture"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    kinds = _kinds(fn, kinds, tuple(k for k in KINDS if k != "mixture"))
    if len(set(kinds)) != len(kinds) or len(kinds) < 2:
        raise ValueError(f"{fn}: kinds must name at least two distinct kinds, got {kinds}")
    _checks.concrete_positive(fn, "ratio_db", ratio_db, allow_zero=True)
    _checks.concrete_positive(fn, "eq_db", eq_db, allow_zero=True)
    batch, n = shape[:-1], shape[-1]
    count = math.prod(batch)
    F = len(kinds)
    rounds = -(-count // F)
    k_comp, k_u = jax.random.split(key)
    # pool[s, r, f]: component s (0: first, 1: second) of round r for kind f
    pool = jnp.stack([_generate(kind, jax.random.fold_in(k_comp, i), speech, (2, rounds, n), sr)
                      for i, kind in enumerate(kinds)], axis=2)
    u = _uniforms(k_u, (), perm=(rounds, F), shift=rounds, eq=(2, count, 8), ratio=(count, 1))
    perms = jnp.argsort(u["perm"], axis=-1)  # a random permutation of the kinds per round
    shift = _int(u["shift"], 1, F)
    i = np.arange(count)
    r, j = i // F, i % F
    fa = perms[r, j]
    fb = perms[r, (j + shift[r]) % F]
    a = _unit_rms(_random_eq(u["eq"][0], pool[0, r, fa], sr, eq_db))
    b = _unit_rms(_random_eq(u["eq"][1], pool[1, r, fb], sr, eq_db))
    ratio = _lin(u["ratio"], -1.0, 1.0) * ratio_db
    x = a + 10 ** (-ratio / 20) * b
    return _unit_rms(x).reshape(shape)


def _midi_to_hz(m):
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


def music(key: jax.Array, shape, *, sr: int, max_voices: int = 4, n_harmonics: int = 8) -> jax.Array:
    """Music (a held-out family): random notes in 1..``max_voices`` simultaneous voices.

    Each voice plays a sequence of notes of 0.1-0.8 s (15 % of them rests) on the equal-tempered
    scale between 80 and 1000 Hz; a note has ``n_harmonics`` harmonics (3..``n_harmonics`` of them
    audible: each voice draws a geometric decay 0.3-0.8 per harmonic and a cut-off), an attack
    of 5-50 ms, an exponential decay of 0.1-1 s and a 10 ms release; voices have random levels
    (±6 dB). Half the examples also get percussion: kick-like low thumps and hi-hat-like bright
    ticks, 1-4 hits per second, 10-20 dB below the notes.

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static).
      max_voices: most simultaneous voices (static).
      n_harmonics: most harmonics per note including the fundamental (static, >= 3).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "music"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    max_voices = _checks.static_int(fn, "max_voices", max_voices, minimum=1)
    n_harmonics = _checks.static_int(fn, "n_harmonics", n_harmonics, minimum=3)
    batch, n = shape[:-1], shape[-1]
    B, V, H = math.prod(batch), max_voices, n_harmonics
    seconds = n / sr
    slots = int(math.ceil(seconds / 0.1)) + 2
    t = jnp.arange(n, dtype=jnp.float32) / sr
    k_u, k_perc = jax.random.split(key)
    u = _uniforms(k_u, (B,), clip=3, voice=(V, 4), phase=(V, H), note=(V, 6, slots))
    n_voices = _int(u["clip"][:, 0:1], 1, V + 1)
    lo, hi = 12 * math.log2(80 / 440) + 69, 12 * math.log2(1000 / 440) + 69
    x = jnp.zeros((B, n), jnp.float32)
    for v in range(V):
        note, voice = u["note"][:, v], u["voice"][:, v]
        dur = _lin(note[:, 0], 0.1, 0.8)
        start = -voice[:, 0:1] * dur[:, :1]  # note 0 sounds at t = 0
        ends = start + jnp.cumsum(dur, axis=-1)
        ons = ends - dur
        idx = jnp.minimum(jax.vmap(lambda e: jnp.searchsorted(e, t, side="right"))(ends), slots - 1)
        f0 = _midi_to_hz(jnp.round(_lin(note[:, 1], lo, hi)))
        rest = (note[:, 2] < 0.15).at[:, 0].set(False)
        amp = jnp.where(rest, 0.0, _log(note[:, 3], 0.5, 2.0))
        att = _log(note[:, 4], 0.005, 0.05)
        dec = _log(note[:, 5], 0.1, 1.0)
        per_note = jnp.stack([ons, ends, amp, att, dec, f0], axis=-1)  # (B, slots, 6): one gather
        on_t, end_t, amp_t, att_t, dec_t, f = jnp.moveaxis(jnp.take_along_axis(per_note, idx[..., None], axis=1), -1, 0)
        tau = jnp.maximum(t - on_t, 0.0)
        env = amp_t * (1.0 - jnp.exp(-tau / att_t)) * jnp.exp(-tau / dec_t) * jnp.clip((end_t - t) / 0.01, 0.0, 1.0)
        theta = _cycles_to_rad(f * tau)  # phase since the onset (f * tau < 800 cycles: accurate)
        rho = _lin(voice[:, 1:2], 0.3, 0.8)
        cut = _int(voice[:, 2:3], 3, H + 1)
        ph = 2 * jnp.pi * u["phase"][:, v]
        tone = _harmonics(theta, H, lambda h: jnp.where((h <= cut) & (h * f < sr / 2), rho ** (h - 1), 0.0), ph)
        lvl = 10 ** (_lin(voice[:, 3:4], -6.0, 6.0) / 20)
        x = x + jnp.where(v < n_voices, lvl, 0.0) * env * tone
    x = _unit_rms(x)
    perc = _bursts(k_perc, B, n, sr, rate=(1.0, 4.0), specs=(
        (0.03, 0.12, "low", 50.0, 150.0, 1.0, 3.0),  # kick
        (0.01, 0.06, "high", 5000.0, 9000.0, 0.7, 1.0),  # hi-hat
    ), amp_sigma=0.3, level_db=3.0)
    has = u["clip"][:, 1:2] < 0.5
    plvl = 10 ** (_lin(u["clip"][:, 2:3], -20.0, -10.0) / 20)
    x = x + jnp.where(has, plvl, 0.0) * _unit_rms(perc)
    return _unit_rms(x).reshape(shape)


def machine(key: jax.Array, shape, *, sr: int, n_harmonics: int = 16) -> jax.Array:
    """Machine noise (a held-out family): a fan, engine or motor.

    A rotation frequency (20-120 Hz, log-uniform) that wanders slowly (0.2-1.5 % at 0.05-0.3 Hz),
    ``n_harmonics`` of its harmonics with a geometric decay (0.6-0.95), random weights and every
    ``blades``-th harmonic (2..8 blades) boosted, plus band-passed noise (centre 200-4000 Hz, Q
    0.5-2) amplitude-modulated at the rotation rate (depth 0.3-0.9), 15-3 dB below the tones.

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static); harmonics above ``sr / 2`` are dropped.
      n_harmonics: number of harmonics including the fundamental (static).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "machine"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    n_harmonics = _checks.static_int(fn, "n_harmonics", n_harmonics, minimum=1)
    batch, n = shape[:-1], shape[-1]
    H = n_harmonics
    t = jnp.arange(n, dtype=jnp.float32) / sr
    k_u, k_noise = jax.random.split(key)
    u = _uniforms(k_u, batch, clip=9, wander=5, weight=H, phase=H)
    c = u["clip"]
    fr = _log(c[..., 0:1], 20.0, 120.0)
    depth = _log(c[..., 1:2], 0.002, 0.015)
    integral = _wander(u["wander"], t, low_hz=0.05, high_hz=0.3)
    cycles = fr * (t + depth * integral)  # (..., n)
    rho = _lin(c[..., 2:3], 0.6, 0.95)
    blades = _int(c[..., 3:4], 2, 9)
    def weight(h):
        a = rho ** (h - 1) * _lin(u["weight"][..., h - 1, None], 0.3, 1.0) * jnp.where(h % blades == 0, 3.0, 1.0)
        return jnp.where(h * fr * (1.0 + depth) < sr / 2, a, 0.0)

    tone = _harmonics(_cycles_to_rad(cycles), H, weight, 2 * jnp.pi * u["phase"])
    nyq = 0.45 * sr
    fc = _log(c[..., 4:5], min(200.0, nyq), min(4000.0, nyq))
    q = _lin(c[..., 5:6], 0.5, 2.0)
    band = _unit_rms(_filter(jax.random.normal(k_noise, shape, jnp.float32), _biquad(_freqs(n, sr), fc, q, "band")))
    m = _lin(c[..., 6:7], 0.3, 0.9)
    band = band * (1.0 + m * jnp.sin(_cycles_to_rad(cycles + c[..., 7:8])))
    lvl = 10 ** (_lin(c[..., 8:9], -15.0, -3.0) / 20)
    return _unit_rms(_unit_rms(tone) + lvl * _unit_rms(band))


def traffic(key: jax.Array, shape, *, sr: int, max_rate: float = 0.8) -> jax.Array:
    """Traffic (a held-out family): low rumble, passing vehicles and now and then a horn.

    * rumble: brown noise low-passed at 60-200 Hz;
    * vehicles: up to ``max_rate`` per second (0.2..``max_rate``, per example), each a slow
      Gaussian swell 2-6 s long (centres anywhere from 3 s before to 3 s after the clip) of one of
      two band noises — cars (1/f^1.5 noise low-passed at 250-800 Hz) and trucks (brown noise
      low-passed at 80-250 Hz) — at random levels (±6 dB); the swells are computed at a 100 Hz
      control rate and interpolated;
    * a horn in 30 % of the examples: 0.2-1 s of two tones a major third apart (300-500 Hz) with
      5 decaying harmonics, 10-3 dB below the rest.

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static).
      max_rate: most vehicles per second (static, >= 0.2).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "traffic"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    max_rate = _checks.static_float(fn, "max_rate", max_rate, minimum=0.2)
    batch, n = shape[:-1], shape[-1]
    B = math.prod(batch)
    seconds = n / sr
    span = seconds + 6.0
    slots = int(math.ceil(max_rate * span)) + 2
    k_u, k_n = jax.random.split(key)
    u = _uniforms(k_u, (B,), clip=10, veh=(5, slots))
    c = u["clip"]
    # three noises in one FFT: rumble (brown), cars (1/f^1.5), trucks (brown), each low-passed
    f = _freqs(n, sr)
    nyq = 0.45 * sr
    exponent = jnp.asarray([2.0, 1.5, 2.0], jnp.float32)[:, None]
    k = jnp.arange(n // 2 + 1, dtype=jnp.float32)
    tilt = jnp.where(k > 0, _numerics.safe_pow(jnp.maximum(k, 1.0) / n, -0.5 * exponent), 0.0)  # (3, freq)
    fc = jnp.stack([_log(c[:, i:i + 1], min(lo, nyq), min(hi, nyq))
                    for i, (lo, hi) in enumerate(((60.0, 200.0), (250.0, 800.0), (80.0, 250.0)))], axis=1)  # (B, 3, 1)
    W = _fft.rfft(jax.random.normal(k_n, (B, 3, n), jnp.float32), axis=-1)
    rumble, cars, trucks = jnp.moveaxis(_unit_rms(_fft.irfft(W * tilt * _biquad(f, fc, 0.707, "low"), n=n, axis=-1)), 1, 0)
    # vehicle swells at a 100 Hz control rate
    hop = max(1, sr // 100)
    n_ctl = n // hop + 2
    tc = jnp.arange(n_ctl, dtype=jnp.float32) * (hop / sr)
    veh = u["veh"]
    rate = _lin(c[:, 3:4], 0.2, max_rate)
    on = veh[:, 0] < jnp.clip(rate * span / slots, 0.0, 1.0)
    centre = _lin(veh[:, 1, :, None], -3.0, seconds + 3.0)
    width = _lin(veh[:, 2, :, None], 2.0, 6.0) / 5.0  # ±2.5 sigma = the pass
    gain = jnp.where(on, 10 ** (_lin(veh[:, 3], -6.0, 6.0) / 20), 0.0)
    is_car = veh[:, 4] < 0.7
    swell = jnp.exp(-0.5 * ((tc - centre) / width) ** 2)  # (B, slots, n_ctl), small
    env_car = jnp.sum(jnp.where(is_car, gain, 0.0)[..., None] * swell, axis=1)
    env_trk = jnp.sum(jnp.where(is_car, 0.0, gain)[..., None] * swell, axis=1)
    i = np.arange(n)
    i0, frac = i // hop, jnp.asarray((i % hop) / hop, jnp.float32)
    up = lambda e: e[:, i0] * (1.0 - frac) + e[:, i0 + 1] * frac
    x = rumble * 10 ** (_lin(c[:, 4:5], -6.0, 0.0) / 20) + up(env_car) * cars + up(env_trk) * trucks
    x = _unit_rms(x)
    # a horn: two tones a major third apart, 5 harmonics, 0.2-1 s
    t = jnp.arange(n, dtype=jnp.float32) / sr
    fh = _lin(c[:, 5:6], 300.0, 400.0)
    t0 = _lin(c[:, 6:7], 0.0, max(seconds - 0.2, 0.0))
    hd = _lin(c[:, 7:8], 0.2, 1.0)
    gate = jnp.clip((t - t0) / 0.02, 0.0, 1.0) * jnp.clip((t0 + hd - t) / 0.02, 0.0, 1.0)
    horn = jnp.zeros((B, n), jnp.float32)
    for ratio in (1.0, 1.25):
        for h in range(1, 6):
            fq = fh * ratio * h
            horn = horn + jnp.where(fq < sr / 2, 1.0 / h, 0.0) * jnp.sin(_cycles_to_rad(fq * t))
    horn = horn * gate
    has = c[:, 8:9] < 0.3
    hl = 10 ** (_lin(c[:, 9:10], -10.0, -3.0) / 20)
    x = x + jnp.where(has, hl, 0.0) * _unit_rms(horn)
    return _unit_rms(x).reshape(shape)


def _kinds(fn: str, kinds, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        raise ValueError(f"{fn}: kinds must be a tuple of names from {allowed}, got the string {kinds!r}")
    kinds = tuple(kinds)
    for k in kinds:
        _checks.choice(fn, "kinds", k, allowed)
    if not kinds:
        raise ValueError(f"{fn}: kinds must name at least one of {allowed}, got ()")
    return kinds


def _generate(kind: str, key: jax.Array, speech: jax.Array, shape, sr: int) -> jax.Array:
    """Noise of one kind (a name from :data:`KINDS`) with the bank's settings."""
    if kind == "white":
        return white(key, shape)
    if kind == "pink":
        return pink(key, shape)
    if kind == "brown":
        return brown(key, shape)
    if kind == "hum":
        return hum(key, shape, sr=sr)
    if kind == "clatter":
        return clatter(key, shape, sr=sr)
    if kind == "babble":
        return babble(key, speech, shape)
    if kind == "colored":
        return random_colored(key, shape)
    if kind == "speech_shaped":
        return speech_shaped(key, speech, shape)
    if kind == "crowd":
        return babble(key, speech, shape, n_talkers=12, min_talkers=3, level_db=10.0)
    if kind == "hum_drift":
        return hum(key, shape, sr=sr, drift=0.005)
    if kind == "transients":
        return transients(key, shape, sr=sr)
    if kind == "mixture":
        return mixture(key, speech, shape, sr=sr)
    if kind == "music":
        return music(key, shape, sr=sr)
    if kind == "machine":
        return machine(key, shape, sr=sr)
    if kind == "traffic":
        return traffic(key, shape, sr=sr)
    raise ValueError(f"unknown noise kind {kind!r}; allowed: {KINDS}")


def noise_bank(key: jax.Array, speech: jax.Array, *, n: int, samples: int, sr: int,
               kinds: tuple[str, ...] = TRAIN_KINDS) -> jax.Array:
    """A bank of ``n`` noise clips cycling through ``kinds`` (row ``i`` is ``kinds[i % len(kinds)]``).

    Args:
      key: PRNG key.
      speech: ``(samples_pool,)`` speech stream for ``"babble"``, ``"crowd"``, ``"speech_shaped"``
        and ``"mixture"`` (ignored by the other kinds).
      n: number of clips (static).
      samples: samples per clip (static).
      sr: sample rate in Hz (static).
      kinds: names from :data:`KINDS` (static). The default, :data:`TRAIN_KINDS`, leaves out the
        held-out families (:data:`HELDOUT_KINDS`); name them to build an evaluation bank.

    Returns:
      ``(n, samples)`` float32, unit RMS per row. For a given key, the rows of a kind depend only
      on the kind's position in ``kinds``, the number of kinds and ``n``.
    """
    fn = "noise_bank"
    n = _checks.static_int(fn, "n", n, minimum=1)
    samples = _checks.static_int(fn, "samples", samples, minimum=1)
    kinds = _kinds(fn, kinds, KINDS)
    rows = []
    keys = jax.random.split(key, len(kinds))
    for i, kind in enumerate(kinds):
        count = len(range(i, n, len(kinds)))
        if count == 0:
            rows.append(None)
            continue
        rows.append(_generate(kind, keys[i], speech, (count, samples), sr))
    # interleave so that row j is kinds[j % len(kinds)]
    out = jnp.zeros((n, samples), jnp.float32)
    for i, x in enumerate(rows):
        if x is not None:
            out = out.at[i::len(kinds)].set(x)
    return out
