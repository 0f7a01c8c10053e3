"""Phase vocoder, time stretching, pitch shifting and band-limited resampling.

Everything here runs per example inside ``jit``: the stretch ``rate`` (and the pitch shift
``n_steps``) may be a traced array, one value per example, as long as the output size is fixed
by a static argument (``n_frames`` for :func:`phase_vocoder`, ``length`` for :func:`time_stretch`,
``length`` for :func:`resample_fixed`; :func:`pitch_shift` always keeps the input length).

The phase vocoder is written as a running product of unit phasors (a ``lax.scan`` over
frames): no ``atan2``/``sin``/``cos``, and no accumulated phase angle that loses float32
precision as it grows (librosa's complex64 path drifts by ~0.05 rad after a few hundred frames;
the phasor product stays within ~1e-6 rad of a float64 reference).
"""

from __future__ import annotations

import fractions
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._numerics import safe_abs, safe_unit
from .stft import istft, n_frames as _n_frames, stft
from .windows import frame_window, nola_min

__all__ = ["phase_vocoder", "time_stretch", "pitch_shift", "resample", "resample_fixed"]

PHASE_LOCKING = (None, "identity")

# Windowed-sinc interpolation kernel used by the resamplers: a Hann-windowed sinc spanning
# _ZEROS zero crossings on each side, with the cutoff at _ROLLOFF of the lower Nyquist frequency.
_ZEROS = 16
_ROLLOFF = 0.945
# resample: largest polyphase kernel table (phases x span, elements) before switching to blocks of
# _BLOCK outputs computed in a lax.map
_MAX_TABLE = 1 << 20
_BLOCK = 4096


def _is_static_number(value) -> bool:
    """A Python int/float (``np.float64`` included, being a ``float``): the static-rate path.
    NumPy float32 scalars and 0-d arrays go the array path, like a traced value."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _real_dtype(S: jax.Array):
    return jnp.finfo(S.dtype).dtype


def _static_steps(rate: float, T: int, n_frames: int | None) -> np.ndarray:
    """Input frame position of each output frame, in float64, exactly as ``librosa.phase_vocoder``."""
    if n_frames is None:
        return np.arange(0, T, rate, dtype=np.float64)
    return np.arange(n_frames, dtype=np.float64) * rate


def _traced_steps(rate: jax.Array, n: int, dtype) -> jax.Array:
    """``t * rate`` for ``t < n`` in the compute dtype, snapped to the nearest integer when within a
    few ulps of it, so that ``floor`` agrees with the float64 positions of the static path (e.g.
    ``90 * float32(1.3)`` rounds to 116.99999 in float32). The snap carries no gradient."""
    t = jnp.arange(n, dtype=dtype)
    steps = rate[..., None] * t
    near = jnp.round(steps)
    tol = 8 * jnp.finfo(dtype).eps * jnp.maximum(near, 1)
    snapped = jnp.where(jnp.abs(steps - near) <= tol, near, steps)
    return steps + jax.lax.stop_gradient(snapped - steps)


def _lock_identity(run: jax.Array, U0: jax.Array, mag: jax.Array) -> jax.Array:
    """Laroche-Dolson identity phase locking on unit phasors laid out ``(frames, ..., freq)``.

    Peaks are bins whose magnitude exceeds their two neighbours on each side; every bin is assigned
    to its nearest peak (ties go to the lower one) and takes the peak's running phase plus its own
    analysis phase offset from the peak: ``run[p] * U0[k] * conj(U0[p])``. Frames without a peak
    keep the running phase.
    """
    F = mag.shape[-1]
    mag = jnp.broadcast_to(mag, run.shape)
    m = jnp.pad(mag, [(0, 0)] * (mag.ndim - 1) + [(2, 2)], constant_values=-1.0)
    c = m[..., 2:-2]
    is_peak = (c > m[..., 1:-3]) & (c > m[..., 3:-1]) & (c >= m[..., :-4]) & (c >= m[..., 4:])
    idx = jnp.broadcast_to(jnp.arange(F, dtype=jnp.int32), mag.shape)
    big = jnp.int32(4 * F)
    ax = mag.ndim - 1
    below = jax.lax.cummax(jnp.where(is_peak, idx, -big), axis=ax)
    above = jax.lax.cummin(jnp.where(is_peak, idx, big), axis=ax, reverse=True)
    nearest = jnp.where(idx - below <= above - idx, below, above)
    any_peak = jnp.any(is_peak, axis=-1, keepdims=True)
    p = jnp.where(any_peak, jnp.clip(nearest, 0, F - 1), idx)
    run_p = jnp.take_along_axis(run, p, axis=-1)
    U0_p = jnp.take_along_axis(U0, p, axis=-1)
    return run_p * U0 * jnp.conj(U0_p)


def phase_vocoder(
    S: jax.Array,
    rate,
    *,
    hop_length: int | None = None,
    n_fft: int | None = None,
    n_frames: int | None = None,
    phase_locking: str | None = None,
) -> jax.Array:
    """Time-stretch an STFT by ``rate`` with a phase vocoder.

    With a Python-float ``rate`` and ``n_frames=None`` this matches ``librosa.phase_vocoder``:
    output frame ``t`` sits at input position ``t * rate`` for ``t * rate < frames``
    (``ceil(frames / rate)`` frames), its magnitude is linearly interpolated between the two
    neighbouring input frames (a zero frame is appended after the last one) and its phase is the
    first frame's phase plus the accumulated phase differences of those neighbours. The expected
    phase advance ``hop_length * omega`` cancels modulo ``2 pi`` in librosa's update, so here the
    phase is accumulated as a running product of unit phasors (``U[k+1] * conj(U[k])``,
    a ``lax.scan`` over frames, no ``atan2``/``sin``/``cos``), which stays within ~1e-6 rad of a
    float64 reference where librosa's complex64 angle accumulator drifts by ~1e-2 rad. With
    ``rate == 1`` (static, ``n_frames`` None or equal to ``frames``) ``S`` itself is returned.

    With ``n_frames`` given the output has exactly ``n_frames`` frames and ``rate`` may be traced
    (e.g. drawn per example inside ``jit``): output frames whose position ``t * rate`` is at or past
    the end of the input (``>= frames``) are **zero**. Frames before that equal the librosa result.

    Args:
      S: complex STFT ``(..., freq, frames)``; complex64 or complex128 (followed by the output).
      rate: stretch factor ``> 0`` (``> 1`` is faster/shorter). A Python float, or (with
        ``n_frames``) an array broadcastable to the batch shape ``(...,)`` = ``S.shape[:-2]``,
        possibly traced. Positive values are checked when concrete.
      hop_length: hop of ``S`` (static); default ``n_fft // 4``. Accepted for librosa
        compatibility: it only enters the expected phase advance, which cancels modulo ``2 pi``.
      n_fft: FFT size (static); default ``2 * (freq - 1)``. Same remark as ``hop_length``.
      n_frames: static output frame count; required when ``rate`` is an array. The output may
        hold at most 2**28 elements (``freq * frames``) per example, here and for a static rate.
      phase_locking: ``None`` (standard vocoder, as librosa) or ``"identity"``: Laroche-Dolson
        identity phase locking, which reduces phasiness. Bins are grouped around spectral peaks
        (local maxima over two neighbours on each side) and keep their analysis phase offset to the
        peak; the peaks' phases follow the standard vocoder (so it stays a running product).
        At ``rate == 1`` both modes return the input.

    Returns:
      Complex ``(..., freq, n_out)`` in the dtype of ``S``, with ``n_out = n_frames`` or, when it
      is None, ``len(np.arange(0, frames, rate))``. Differentiable in ``S`` and (through the
      magnitude interpolation weights) in ``rate``; the gradient is zero for all-zero input.

    The derivative with respect to ``rate`` is that of the magnitude interpolation only: which
    two input frames an output frame ``t`` reads (``floor(t * rate)`` and the next) and hence its
    phase are piecewise constant in ``rate``, so the output is piecewise smooth in ``rate`` with
    kinks (the derivative jumps) at every rate where some ``t * rate`` lands on a whole frame
    index, i.e. at ``rate = i / t``. Those kinks are dense for long outputs; the phase's dependence
    on ``rate`` is not differentiated. Use the rate gradient for smooth objectives over many
    frames, not for a fine search of one rate.

    After stretching, ``S`` is in general not the STFT of any signal (inconsistent): its
    STFT-domain power differs from that of ``istft`` of it (typically by 1-5 dB), and no waveform
    exists to bound its peak. To mix it at a waveform SNR and guard against clipping, use
    ``jaxspec.mix(..., stft=dict(...))`` and ``jaxspec.prevent_clipping(..., stft=dict(...))``.

    Raises:
      TypeError: a complex ``rate`` (traced too: its imaginary part would be dropped).
      ValueError: a concrete ``rate`` that is not finite and > 0, or an output over 2**28
      elements per example (e.g. ``rate=1e-7``).
    """
    fn = "phase_vocoder"
    S = _checks.complex_spec(fn, "S", S)
    freq, T = S.shape[-2], S.shape[-1]
    if T < 1:
        raise ValueError(f"{fn}: S must have at least one frame, got shape {S.shape}")
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=1, allow_none=True)
    if n_fft is None:
        n_fft = 2 * (freq - 1)
    elif n_fft // 2 + 1 != freq:
        raise ValueError(f"{fn}: n_fft={n_fft} expects S.shape[-2] == {n_fft // 2 + 1} frequency bins, got {freq}")
    _checks.static_int(fn, "hop_length", hop_length, minimum=1, allow_none=True)
    n_frames = _checks.static_int(fn, "n_frames", n_frames, minimum=1, allow_none=True)
    phase_locking = _checks.choice(fn, "phase_locking", phase_locking, PHASE_LOCKING)
    rdt = _real_dtype(S)
    batch = S.shape[:-2]
    _checks.real_dtype(fn, "rate", rate)
    if n_frames is not None:
        _checks.output_size(fn, f"the output (freq={freq}, n_frames={n_frames})", freq * n_frames)

    if _is_static_number(rate):
        rate = _checks.static_float(fn, "rate", rate, minimum=0.0, strict=True)
        if rate == 1.0 and (n_frames is None or n_frames == T):
            return S
        if n_frames is None:  # librosa's frame count, bounded before np.arange allocates it
            _checks.output_size(fn, f"the output of rate={rate} ({T} frames -> {math.ceil(T / rate):.4g}, "
                                f"freq={freq})", freq * math.ceil(T / rate), hint="; use a larger rate")
        steps_np = _static_steps(rate, T, n_frames)
        k_np = np.minimum(np.floor(steps_np), T).astype(np.int32)
        valid = jnp.asarray(steps_np < T)
        k = jnp.asarray(k_np)
        alpha = jnp.asarray(np.clip(steps_np - k_np, 0.0, 1.0), rdt)
    else:
        if n_frames is None:
            raise ValueError(
                f"{fn}: a traced or array rate needs a static n_frames (the output frame count), e.g. "
                f"n_frames={T}; pass a Python float rate to get librosa's variable frame count"
            )
        _checks.concrete_positive(fn, "rate", rate)
        rate = _checks.broadcast_to(fn, "rate", jnp.asarray(rate).astype(rdt), batch, f"the batch shape of S {S.shape}:")
        steps = _traced_steps(rate, n_frames, rdt)
        fl = jnp.floor(jax.lax.stop_gradient(steps))
        valid = steps < T
        k = jnp.clip(fl, 0, T).astype(jnp.int32)
        alpha = jnp.clip(steps - fl, 0.0, 1.0)

    # Work frames-first, (frames, ..., freq): the gathers copy whole rows and the running product is
    # a sequential lax.scan over contiguous rows (on XLA CPU ~4x faster than lax.cumprod's
    # log-depth scan over a minor axis, and cheaper to compile).
    Sp = jnp.moveaxis(jnp.pad(S, [(0, 0)] * (S.ndim - 1) + [(0, 2)]), -1, 0)  # librosa appends zero frames
    if k.ndim == 1:
        S0, S1 = jnp.take(Sp, k, axis=0, mode="clip"), jnp.take(Sp, k + 1, axis=0, mode="clip")
        a, v = alpha.reshape((-1,) + (1,) * (S.ndim - 1)), valid.reshape((-1,) + (1,) * (S.ndim - 1))
    else:  # per-example positions (..., n) -> (n, ..., 1)
        kk = jnp.moveaxis(k, -1, 0)[..., None]
        S0 = jnp.take_along_axis(Sp, kk, axis=0, mode="clip")
        S1 = jnp.take_along_axis(Sp, kk + 1, axis=0, mode="clip")
        a, v = jnp.moveaxis(alpha, -1, 0)[..., None], jnp.moveaxis(valid, -1, 0)[..., None]
    U0, U1 = safe_unit(S0), safe_unit(S1)  # angle(0) = 0, as np.angle
    mag_out = (1 - a) * safe_abs(S0) + a * safe_abs(S1)
    # phase of frame t: angle(S[..., 0]) + sum_{s < t} (angle(S1[s]) - angle(S0[s])), as phasors
    inc = U1 * jnp.conj(U0)

    def step(c, u):
        return c * u, c

    _, run = jax.lax.scan(step, U0[0], inc)  # U0[0] = unit(S[..., 0])
    if phase_locking == "identity":
        run = _lock_identity(run, U0, mag_out)
    out = jnp.where(v, mag_out * run, jnp.zeros((), S.dtype))
    return jnp.moveaxis(out, 0, -1).astype(S.dtype)


# ----------------------------------------------------------------------------- resampling


def _sin_over(y: jax.Array) -> jax.Array:
    """``sin(y) / y`` (1 at 0) with an accurate derivative near 0: below ``|y| = 0.1`` its Taylor
    polynomial. ``jnp.sinc``'s derivative there is the difference of two terms near ``1 / y``,
    which cancel: a position that should be an integer but is off by a rounding error then got a
    wrong gradient, enough to move ``resample_fixed``'s gradient in its ratio by 10%."""
    small = jnp.abs(y) < 0.1
    ys = jnp.where(small, jnp.ones_like(y), y)
    y2 = y * y
    return jnp.where(small, 1.0 - y2 / 6.0 * (1.0 - y2 / 20.0 * (1.0 - y2 / 42.0)), jnp.sin(ys) / ys)


def _interp(x: jax.Array, pos: jax.Array, cutoff, half: int, zeros: float) -> jax.Array:
    """Band-limited interpolation of ``x`` (..., L) at positions ``pos`` (..., n) or (n,).

    Kernel: ``cutoff * sinc(cutoff * d) * hann(d / width)`` with ``width = min(zeros / cutoff,
    half)`` input samples, over the ``2 * half + 1`` taps around the nearest sample; samples
    outside ``[0, L)`` are zero. The kernel's sines and cosines at ``d = r - j`` (``r`` the offset
    from the nearest sample, ``j`` the tap) come from angle addition: per position the sine and
    cosine at ``r``, per tap those at ``j``, instead of two transcendentals per tap (with ``|r| <=
    1/2`` no tap but ``j = 0`` comes within half a sample of ``d = 0``, so the products do not
    cancel; ``j = 0`` is :func:`_sin_over` of ``pi cutoff r``).
    """
    L = x.shape[-1]
    rdt = x.dtype
    near = jnp.round(jax.lax.stop_gradient(pos))
    r = pos - near  # in [-1/2, 1/2], carries the gradient in pos
    j = np.arange(-half, half + 1)
    jr = jnp.asarray(j, rdt)
    cutoff = jnp.asarray(cutoff, rdt)
    c = cutoff[..., None] if cutoff.ndim else cutoff  # broadcasts against r (..., n)
    width = jnp.minimum(zeros / c, jnp.asarray(half, rdt))
    a, g = jnp.pi * c * r, jnp.pi * r / width  # the sinc's and the window's phase at r
    c_t, width_t = c[..., None], width[..., None]  # against the taps: (..., 1, 1) or (1,)
    aj, gj = jnp.pi * c_t * jr, jnp.pi * jr / width_t  # the same phases at the taps j
    sin_cd = jnp.sin(a)[..., None] * jnp.cos(aj) - jnp.cos(a)[..., None] * jnp.sin(aj)  # sin(pi c (r - j))
    cos_gd = jnp.cos(g)[..., None] * jnp.cos(gj) + jnp.sin(g)[..., None] * jnp.sin(gj)  # cos(pi (r - j) / width)
    d = r[..., None] - jr
    centre = j == 0
    den = jnp.where(centre, jnp.ones((), rdt), jnp.pi * c_t * d)
    sinc = jnp.where(centre, _sin_over(a)[..., None], sin_cd / den)
    win = jnp.where(jnp.abs(d) < width_t, 0.5 + 0.5 * cos_gd, 0.0)
    w = c_t * sinc * win
    xp = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(half + 1, half + 2)])
    idx = jnp.clip(near.astype(jnp.int32), -half, L + 1) + half + 1  # index into xp of tap j = 0
    taps = idx[..., None] + jnp.asarray(j, jnp.int32)
    if taps.ndim == 2:
        xs = jnp.take(xp, taps, axis=-1, mode="clip")  # (..., n, 2 half + 1)
    else:
        flat = taps.reshape(taps.shape[:-2] + (-1,))
        flat = jnp.broadcast_to(flat, xp.shape[:-1] + flat.shape[-1:])
        xs = jnp.take_along_axis(xp, flat, axis=-1, mode="clip").reshape(xp.shape[:-1] + taps.shape[-2:])
    fl = jnp.floor(jax.lax.stop_gradient(pos))
    inside = (fl >= -half) & (fl <= L)  # a position with floor outside [-half, L] gives 0
    return jnp.where(inside, jnp.sum(xs * w, axis=-1), jnp.zeros((), rdt))


def _kernel_np(frac: np.ndarray, cutoff: float, half: int, zeros: float) -> np.ndarray:
    """:func:`_interp`'s tap weights in float64 for fractional positions ``frac`` -> ``(len(frac), 2 half)``."""
    j = np.arange(-half + 1, half + 1, dtype=np.float64)
    d = frac[:, None] - j
    width = min(zeros / cutoff, float(half))
    win = np.where(np.abs(d) < width, np.cos(np.pi * d / (2 * width)) ** 2, 0.0)
    return cutoff * np.sinc(cutoff * d) * win


def _resample_plan(orig_sr: float, target_sr: float):
    """``(q, p)`` with ``orig_sr / target_sr == q / p`` in lowest terms (exact for float rates)."""
    r = fractions.Fraction(orig_sr) / fractions.Fraction(target_sr)
    return r.numerator, r.denominator


def _resample_polyphase(x: jax.Array, q: int, p: int, n_out: int, cutoff: float, half: int) -> jax.Array:
    """Output ``n = m p + k`` sits at input position ``m q + k q / p``: ``p`` phases, one row of taps
    each, applied as one strided convolution (stride ``q``, ``p`` output channels). Memory is
    proportional to the signal; the kernel is a ``(p, span)`` NumPy constant."""
    L = x.shape[-1]
    taps = 2 * half
    k = np.arange(p)
    off = (k * q) // p                     # integer part of each phase's position
    frac = ((k * q) % p) / p                # its fractional part (exact rational -> float64)
    W = _kernel_np(frac, cutoff, half, _ZEROS)  # (p, taps): weight of x[floor + j], j = -half+1 .. half
    span = int(off[-1]) + taps
    K = np.zeros((p, span))
    for kk in range(p):
        K[kk, off[kk]:off[kk] + taps] = W[kk]
    M = -(-n_out // p)
    need = (M - 1) * q + span               # samples of the padded input the last output block reads
    left = half - 1                         # tap j = -half + 1 of output 0 reads x[-half + 1]
    right = need - (L + left)
    batch = x.shape[:-1]
    xb = x.reshape((-1, 1, L))
    if right < 0:  # the last blocks do not reach the end of x
        xb, right = xb[..., :L + right], 0
    # the zero padding is the convolution's own (no padded copy of the signal)
    y = jax.lax.conv_general_dilated(
        xb, jnp.asarray(K[:, None, :], x.dtype), window_strides=(q,), padding=[(left, right)],
        dimension_numbers=("NCH", "OIH", "NCH"), precision=jax.lax.Precision.HIGHEST)  # (B, p, M)
    y = (y[:, 0] if p == 1 else jnp.swapaxes(y, -1, -2).reshape((-1, M * p)))[:, :n_out]
    return y.reshape(batch + (n_out,))


def _resample_blocked(x: jax.Array, q: int, p: int, n_out: int, cutoff: float, half: int, block: int) -> jax.Array:
    """The same interpolation for ratios with too many phases for a table (e.g. non-integer rates):
    ``lax.map`` over blocks of ``block`` outputs, so memory is ``block * taps`` plus the signal.
    Positions are split exactly on the host into an integer part and a fraction in [0, 2), so they
    stay sample-accurate however long the signal is."""
    L = x.shape[-1]
    rdt = x.dtype
    nb = -(-n_out // block)
    base = [b * block * q for b in range(nb)]
    I_b = np.array([v // p for v in base], np.int64)
    F_b = np.array([(v % p) / p for v in base])
    loc = [i * q for i in range(block)]
    A = np.array([v // p for v in loc], np.int64)
    f = np.array([(v % p) / p for v in loc])
    xp = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half + 1)])
    j = jnp.arange(-half + 1, half + 1, dtype=jnp.int32)
    jf = j.astype(rdt)
    width = min(_ZEROS / cutoff, float(half))
    A_j, f_j = jnp.asarray(A, jnp.int32), jnp.asarray(f, rdt)

    def one(args):
        ib, fb = args
        s = fb + f_j
        carry = jnp.floor(s)
        frac = s - carry
        fl = ib + A_j + carry.astype(jnp.int32)  # (block,)
        d = frac[:, None] - jf
        win = jnp.where(jnp.abs(d) < width, jnp.cos(jnp.pi * d / (2 * width)) ** 2, 0.0)
        w = cutoff * jnp.sinc(cutoff * d) * win
        idx = jnp.clip(fl, -half, L) + half
        xs = jnp.take(xp, idx[:, None] + j, axis=-1, mode="clip")  # (..., block, taps)
        return jnp.where(fl <= L, jnp.sum(xs * w.astype(rdt), axis=-1), jnp.zeros((), rdt))

    # rematerialised: the backward pass recomputes each block's taps instead of storing all of them
    out = jax.lax.map(jax.checkpoint(one), (jnp.asarray(I_b, jnp.int32), jnp.asarray(F_b, rdt)))  # (nb, ..., block)
    out = jnp.moveaxis(out, 0, -2).reshape(x.shape[:-1] + (nb * block,))
    return out[..., :n_out]


def resample(x: jax.Array, *, orig_sr: float, target_sr: float) -> jax.Array:
    """Band-limited resampling between two static sample rates.

    Windowed-sinc interpolation (Hann-windowed sinc over 16 zero crossings, cutoff at 0.945 of the
    lower Nyquist frequency), evaluated at the input positions ``n * orig_sr / target_sr``; the
    signal is taken as zero outside ``[0, samples)``. The output length follows
    ``librosa.resample``: ``ceil(samples * target_sr / orig_sr)``. No amplitude rescaling (a
    full-band tone keeps its amplitude).

    Polyphase: with ``orig_sr / target_sr = q / p`` in lowest terms (exact for any float rates)
    output ``n = m p + k`` sits at input position ``m q + k q / p``, so the filter taps depend only
    on the phase ``k``. They are a ``(p, q + taps)`` NumPy constant applied as one strided
    convolution, with memory proportional to the signal (a 10-minute 48 kHz stereo file to 16 kHz
    and back peaks at about 1 GB RSS, the process included) and positions exact however long the
    signal. Rates whose table would exceed 2**20 entries (e.g. ``16000 -> 12345.678``) are
    interpolated in blocks of 4096 outputs inside a ``lax.map`` instead, with the same numbers.

    Args:
      x: real signal ``(..., samples)``; float32 or float64.
      orig_sr: sample rate of ``x`` in Hz (static, > 0).
      target_sr: output sample rate in Hz (static, > 0).

    Returns:
      ``(..., ceil(samples * target_sr / orig_sr))`` in the dtype of ``x``; ``x`` itself when the
      rates are equal.

    Raises:
      ValueError: a rate that is not finite and > 0, or an output longer than 2**28 samples per
      example (``jaxspec._checks.MAX_OUTPUT_ELEMENTS``; e.g. ``target_sr=1e10``): resample such
      signals in blocks.
    """
    fn = "resample"
    x = _checks.real_signal(fn, "x", x)
    orig_sr = _checks.static_float(fn, "orig_sr", orig_sr, minimum=0.0, strict=True)
    target_sr = _checks.static_float(fn, "target_sr", target_sr, minimum=0.0, strict=True)
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have shape (..., samples), got {x.shape}")
    if orig_sr == target_sr:
        return x
    ratio = target_sr / orig_sr
    L = x.shape[-1]
    _checks.output_size(fn, f"the output ({L} samples at {orig_sr:g} Hz -> {target_sr:g} Hz)", L * ratio,
                        hint="; resample shorter blocks (with jaxspec.load's offset/duration)")
    n_out = int(math.ceil(L * ratio - 1e-9 * L * ratio))
    cutoff = min(1.0, ratio) * _ROLLOFF
    half = int(math.ceil(_ZEROS / cutoff))
    if n_out == 0:
        return jnp.zeros(x.shape[:-1] + (0,), x.dtype)
    q, p = _resample_plan(orig_sr, target_sr)
    if p * (q + 2 * half) <= _MAX_TABLE:  # the (phases, span) kernel table is small
        return _resample_polyphase(x, q, p, n_out, cutoff, half)
    return _resample_blocked(x, q, p, n_out, cutoff, half, _BLOCK)


def resample_fixed(x: jax.Array, ratio, *, length: int, min_ratio: float = 0.5) -> jax.Array:
    """Resample by a (possibly traced, per-example) ratio to a fixed output length.

    Output sample ``n`` is the band-limited interpolation of ``x`` at input position
    ``n / ratio`` (``ratio = target_sr / orig_sr``: ``> 1`` upsamples/slows down, ``< 1``
    downsamples/speeds up, with the anti-aliasing cutoff at ``0.945 * min(1, ratio)``). Positions
    past the end of ``x`` give zeros. Used by :func:`pitch_shift`.

    Args:
      x: real signal ``(..., samples)``.
      ratio: ``> 0``, a Python float or an array broadcastable to the batch shape ``(...,)``,
        possibly traced. Checked positive when concrete.
      length: output length in samples (static, at most 2**28).
      min_ratio: smallest ratio for which the anti-aliasing kernel is full length (static,
        ``0 < min_ratio <= 1``); it fixes the number of taps (``2 * ceil(16 / (0.945 * min_ratio))``).
        Below it the kernel is shortened (a little more aliasing), not an error.

    Returns:
      ``(..., length)`` in the dtype of ``x``. Differentiable in ``x`` and ``ratio``.

    Raises:
      TypeError: a complex ``ratio`` (traced too). ValueError: a concrete ``ratio`` that is not
      finite and > 0, or that does not broadcast to the batch shape.
    """
    fn = "resample_fixed"
    x = _checks.real_signal(fn, "x", x)
    length = _checks.static_int(fn, "length", length, minimum=1)
    min_ratio = _checks.static_float(fn, "min_ratio", min_ratio, minimum=0.0, strict=True)
    if min_ratio > 1.0:
        raise ValueError(f"{fn}: min_ratio must be in (0, 1], got {min_ratio}")
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have shape (..., samples), got {x.shape}")
    _checks.output_size(fn, f"the output (length={length})", length)
    _checks.concrete_positive(fn, "ratio", ratio)
    batch = x.shape[:-1]
    ratio = _checks.broadcast_to(fn, "ratio", jnp.asarray(ratio, x.dtype), batch, f"the batch shape of x {x.shape}:")
    half = int(math.ceil(_ZEROS / (min_ratio * _ROLLOFF)))
    n = jnp.arange(length, dtype=x.dtype)
    pos = n / ratio[..., None]
    cutoff = jnp.minimum(ratio, 1.0) * _ROLLOFF
    return _interp(x, pos, cutoff, half, _ZEROS)


# ----------------------------------------------------------------------------- waveforms

# pitch_shift: largest shift, in octaves either way (a factor of 1024 in frequency; the stretch
# rate 2 ** 10 stays far from float32's range).
MAX_OCTAVES = 10


def _check_stretch_stft(fn: str, n_fft: int, hop_length: int | None) -> None:
    """The Hann STFT of :func:`time_stretch`/:func:`pitch_shift` must be invertible (NOLA), checked
    here so that the error names ``fn`` and its arguments rather than ``istft``."""
    hop = max(1, n_fft // 4) if hop_length is None else hop_length
    w = frame_window("hann", n_fft=n_fft, win_length=n_fft, fn=fn)
    if nola_min(w, hop) <= 1e-10 * float(np.max(w * w)):
        raise ValueError(f"{fn}: hop_length={hop} with n_fft={n_fft} leaves gaps between the Hann windows (NOLA "
                         f"fails), so the stretched STFT cannot be inverted; use hop_length < n_fft, e.g. n_fft // 4")


def time_stretch(x: jax.Array, rate, *, n_fft: int = 512, hop_length: int | None = None,
                 length: int | None = None) -> jax.Array:
    """Time-stretch a waveform by ``rate`` without changing its pitch (STFT phase vocoder).

    ``stft`` (hann, centred, zero padding) -> :func:`phase_vocoder` -> ``istft``. With a Python
    float ``rate`` and ``length=None`` this matches ``librosa.effects.time_stretch(x, rate=rate,
    n_fft=n_fft, hop_length=hop_length)``: the output has ``round(samples / rate)`` samples. Note
    the speech-sized default ``n_fft=512`` (librosa: 2048).

    With a static ``length`` the output has exactly ``length`` samples and ``rate`` may be traced
    (one per example): the stretched signal is zero-padded, or cut, to ``length``.

    Args:
      x: real signal ``(..., samples)``.
      rate: ``> 0``; ``> 1`` speeds up (shorter). Python float, or an array broadcastable to
        ``(...,)`` (possibly traced) when ``length`` is given.
      n_fft: FFT size (static).
      hop_length: hop (static); default ``n_fft // 4``.
      length: static output length; required for an array/traced ``rate``.

    Returns:
      ``(..., round(samples / rate))`` or ``(..., length)``, in the dtype of ``x``.

    Raises:
      TypeError: a complex ``rate``. ValueError: a concrete ``rate`` that is not finite and > 0,
      ``hop_length >= n_fft`` (the Hann STFT would not be invertible), or an output (or its STFT)
      over 2**28 elements per example.
    """
    fn = "time_stretch"
    x = _checks.real_signal(fn, "x", x)
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=1)
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1, allow_none=True)
    if hop_length is None:
        hop_length = max(1, n_fft // 4)
    length = _checks.static_int(fn, "length", length, minimum=1, allow_none=True)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{fn}: x must have shape (..., samples) with samples >= 1, got {x.shape}")
    _check_stretch_stft(fn, n_fft, hop_length)
    _checks.real_dtype(fn, "rate", rate)
    static = _is_static_number(rate)
    if static:
        rate = _checks.static_float(fn, "rate", rate, minimum=0.0, strict=True)
        if length is None:  # the stretched signal and its STFT, bounded before anything is built
            n_in = _n_frames(x.shape[-1], n_fft=n_fft, hop_length=hop_length)
            biggest = max(x.shape[-1] / rate, (n_fft // 2 + 1) * math.ceil(n_in / rate))
            _checks.output_size(fn, f"the output of rate={rate} ({x.shape[-1]} samples -> {x.shape[-1] / rate:.4g}, "
                                f"and its STFT)", biggest, hint="; use a larger rate")
    elif length is None:
        raise ValueError(f"{fn}: a traced or array rate needs a static length (the output length in samples)")
    else:
        _checks.concrete_positive(fn, "rate", rate)
        _checks.broadcast_to(fn, "rate", jnp.asarray(rate), x.shape[:-1], f"the batch shape of x {x.shape}:")
    if length is not None:
        n_out = _n_frames(length, n_fft=n_fft, hop_length=hop_length)
        _checks.output_size(fn, f"the output (length={length}, and its STFT)", max(length, (n_fft // 2 + 1) * n_out))
    S = stft(x, n_fft=n_fft, hop_length=hop_length)
    if length is None:
        out_len = int(round(x.shape[-1] / rate))
        Sx = phase_vocoder(S, rate, hop_length=hop_length, n_fft=n_fft)
    else:
        out_len = length
        Sx = phase_vocoder(S, rate, hop_length=hop_length, n_fft=n_fft,
                           n_frames=_n_frames(length, n_fft=n_fft, hop_length=hop_length))
    return istft(Sx, n_fft=n_fft, hop_length=hop_length, length=out_len)


def pitch_shift(x: jax.Array, n_steps, *, n_fft: int = 512, hop_length: int | None = None,
                bins_per_octave: int = 12) -> jax.Array:
    """Shift the pitch by ``n_steps`` steps of ``1 / bins_per_octave`` octave, keeping the length.

    Time stretch by ``rate = 2 ** (-n_steps / bins_per_octave)`` and band-limited resampling by
    the same factor, like ``librosa.effects.pitch_shift`` (which resamples with soxr; here a
    windowed sinc, see :func:`resample_fixed`). To keep every intermediate at the input length
    (so that ``n_steps`` can be traced), a shift down stretches first and then resamples (as
    librosa), and a shift up resamples first and then stretches. With a Python-number ``n_steps``
    the order is chosen in Python; with an array (traced, one per example) both are computed and
    selected per example, at twice the cost. Shifts up by more than an octave use a shortened
    anti-aliasing kernel (see :func:`resample_fixed`).

    Args:
      x: real signal ``(..., samples)``.
      n_steps: steps to shift (may be fractional or negative): Python number, or an array
        broadcastable to ``(...,)``, possibly traced. Concrete values must be finite and within
        10 octaves either way (``|n_steps| <= 10 * bins_per_octave``); traced values are not
        checked.
      n_fft: FFT size of the time stretch (static); librosa's default is 2048.
      hop_length: its hop (static); default ``n_fft // 4``.
      bins_per_octave: steps per octave (static int >= 1).

    Returns:
      ``(..., samples)`` in the dtype of ``x``.

    Raises:
      TypeError: a complex ``n_steps``. ValueError: a bad concrete ``n_steps`` (see above), an
      ``n_steps`` array that does not broadcast to the batch shape, ``hop_length >= n_fft``. Every
      error names ``pitch_shift`` and its own arguments.
    """
    fn = "pitch_shift"
    x = _checks.real_signal(fn, "x", x)
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=1)
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1, allow_none=True)
    bins_per_octave = _checks.static_int(fn, "bins_per_octave", bins_per_octave, minimum=1)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{fn}: x must have shape (..., samples) with samples >= 1, got {x.shape}")
    _check_stretch_stft(fn, n_fft, hop_length)
    # every check is made here, under pitch_shift's name: the calls below cannot fail on arguments
    limit = MAX_OCTAVES * bins_per_octave
    _checks.concrete_real(fn, "n_steps", n_steps, low=-limit, high=limit,
                          note=f" ({MAX_OCTAVES} octaves either way at bins_per_octave={bins_per_octave})")
    L = x.shape[-1]
    kw = dict(n_fft=n_fft, hop_length=hop_length)

    def down(x, rate):  # rate >= 1: the stretched signal (samples / rate) fits in samples
        return resample_fixed(time_stretch(x, rate, length=L, **kw), rate, length=L)

    def up(x, rate):  # rate < 1: resample first (samples * rate), then stretch back to samples
        return time_stretch(resample_fixed(x, rate, length=L), rate, length=L, **kw)

    if _is_static_number(n_steps):
        n_steps = float(n_steps)
        if n_steps == 0:
            return x
        rate = 2.0 ** (-n_steps / bins_per_octave)
        return down(x, rate) if rate >= 1 else up(x, rate)
    n_steps = _checks.broadcast_to(fn, "n_steps", jnp.asarray(n_steps, x.dtype), x.shape[:-1],
                                   f"the batch shape of x {x.shape}:")
    rate = jnp.exp2(-n_steps / bins_per_octave)
    return jnp.where((rate >= 1)[..., None], down(x, rate), up(x, rate))
