"""Noise generated in code from a PRNG key: white, pink, brown, hum, clatter and babble (the example's default noise).

The training example needs noise without downloading anything. Every generator here is a pure
function of a key, works under ``jit`` and ``vmap``, returns ``(..., samples)`` float32 noise scaled
to unit RMS per example (the mixer sets the level from the SNR anyway), and draws a different
realisation for every example of the batch shape. :func:`noise_bank` makes a whole bank, cycling
through the kinds, for the trainer to crop from.

Layout: ``shape`` is ``(..., samples)``; the last entry is the number of samples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _checks, _fft, _numerics

KINDS = ("white", "pink", "brown", "hum", "clatter", "babble")

__all__ = ["white", "colored", "pink", "brown", "hum", "clatter", "babble", "noise_bank", "KINDS"]


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
      exponent: spectral slope (may be traced).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    shape = _shape("colored", shape)
    n = shape[-1]
    w = jax.random.normal(key, shape, jnp.float32)
    W = _fft.rfft(w, axis=-1)
    k = jnp.arange(W.shape[-1], dtype=jnp.float32)
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


def hum(key: jax.Array, shape, *, sr: int, n_harmonics: int = 12) -> jax.Array:
    """Mains hum: a 50 or 60 Hz fundamental (±2 %) with decaying, randomly weighted harmonics, random
    phases, a slow amplitude wobble and a little pink noise (30 dB down).

    Args:
      key: PRNG key.
      shape: static ``(..., samples)``.
      sr: sample rate in Hz (static); harmonics above ``sr / 2`` are dropped.
      n_harmonics: number of harmonics including the fundamental (static).

    Returns:
      ``(..., samples)`` float32, unit RMS per example.
    """
    fn = "hum"
    shape = _shape(fn, shape)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    n_harmonics = _checks.static_int(fn, "n_harmonics", n_harmonics, minimum=1)
    batch, n = shape[:-1], shape[-1]
    k_f0, k_jit, k_amp, k_ph, k_wob, k_bg = jax.random.split(key, 6)
    f0 = jnp.where(jax.random.bernoulli(k_f0, 0.5, batch), 50.0, 60.0)
    f0 = f0 * (1.0 + 0.02 * jax.random.uniform(k_jit, batch, minval=-1.0, maxval=1.0))
    h = jnp.arange(1, n_harmonics + 1, dtype=jnp.float32)
    decay = jax.random.uniform(k_amp, batch + (1,), minval=0.1, maxval=0.6)
    amp = jnp.exp(-decay * (h - 1)) * jax.random.uniform(jax.random.fold_in(k_amp, 1), batch + (n_harmonics,), minval=0.3, maxval=1.0)
    freqs = f0[..., None] * h  # (..., H)
    amp = jnp.where(freqs < sr / 2, amp, 0.0)
    phase0 = jax.random.uniform(k_ph, batch + (n_harmonics,), maxval=2 * jnp.pi)
    t = jnp.arange(n, dtype=jnp.float32) / sr
    # sum over harmonics as a small matmul-free broadcast: (..., H, 1) * (n,)
    arg = 2 * jnp.pi * freqs[..., None] * t + phase0[..., None]
    x = jnp.sum(amp[..., None] * jnp.sin(arg), axis=-2)
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


def babble(key: jax.Array, speech: jax.Array, shape, *, n_talkers: int = 6) -> jax.Array:
    """Babble: ``n_talkers`` random excerpts of ``speech`` at random levels (±6 dB), summed.

    Args:
      key: PRNG key.
      speech: ``(samples_pool,)`` a long stream of speech (e.g. the training clips concatenated),
        longer than the output.
      shape: static ``(..., samples)``.
      n_talkers: number of overlapping talkers (static).

    Returns:
      ``(..., samples)`` float32, unit RMS per example. Excerpts are taken circularly, so a pool
      shorter than ``samples`` is looped.
    """
    fn = "babble"
    shape = _shape(fn, shape)
    n_talkers = _checks.static_int(fn, "n_talkers", n_talkers, minimum=1)
    speech = _checks.real_signal(fn, "speech", speech)
    if speech.ndim != 1:
        raise ValueError(f"{fn}: speech must be a 1-D stream (samples_pool,), got shape {speech.shape}")
    n = shape[-1]
    pool = speech.shape[0]
    reps = -(-n // pool) + 1
    stream = jnp.tile(speech, reps)
    k_off, k_gain = jax.random.split(key)
    offs = jax.random.randint(k_off, shape[:-1] + (n_talkers,), 0, pool)
    gains = 10 ** (jax.random.uniform(k_gain, shape[:-1] + (n_talkers,), minval=-6.0, maxval=6.0) / 20)
    take = lambda o: jax.lax.dynamic_slice(stream, (o,), (n,))
    talkers = jax.vmap(take)(offs.reshape(-1)).reshape(offs.shape + (n,))
    x = jnp.sum(gains[..., None] * _unit_rms(talkers), axis=-2)
    return _unit_rms(x)


def noise_bank(key: jax.Array, speech: jax.Array, *, n: int, samples: int, sr: int,
               kinds: tuple[str, ...] = KINDS) -> jax.Array:
    """A bank of ``n`` noise clips cycling through ``kinds`` (row ``i`` is ``kinds[i % len(kinds)]``).

    Args:
      key: PRNG key.
      speech: ``(samples_pool,)`` speech stream for ``"babble"`` (ignored by the other kinds).
      n: number of clips (static).
      samples: samples per clip (static).
      sr: sample rate in Hz (static).
      kinds: names from :data:`KINDS` (static).

    Returns:
      ``(n, samples)`` float32, unit RMS per row.
    """
    fn = "noise_bank"
    n = _checks.static_int(fn, "n", n, minimum=1)
    samples = _checks.static_int(fn, "samples", samples, minimum=1)
    kinds = tuple(kinds)
    for k in kinds:
        _checks.choice(fn, "kinds", k, KINDS)
    if not kinds:
        raise ValueError(f"{fn}: kinds must name at least one of {KINDS}, got ()")
    rows = []
    keys = jax.random.split(key, len(kinds))
    for i, kind in enumerate(kinds):
        count = len(range(i, n, len(kinds)))
        if count == 0:
            continue
        shp = (count, samples)
        if kind == "white":
            x = white(keys[i], shp)
        elif kind == "pink":
            x = pink(keys[i], shp)
        elif kind == "brown":
            x = brown(keys[i], shp)
        elif kind == "hum":
            x = hum(keys[i], shp, sr=sr)
        elif kind == "clatter":
            x = clatter(keys[i], shp, sr=sr)
        else:
            x = babble(keys[i], speech, shp)
        rows.append(x)
    # interleave so that row j is kinds[j % len(kinds)]
    out = jnp.zeros((n, samples), jnp.float32)
    for i, x in enumerate(rows):
        out = out.at[i::len(kinds)].set(x)
    return out
