"""Enhancement metrics and losses: SNR, SI-SDR, segmental SNR, STOI/ESTOI, and training losses.

Every metric reduces over the last axis of ``(..., samples)`` and returns ``(...,)`` (one value per
example), works under ``jit``/``vmap`` with static shapes and, where it is a loss, has finite
gradients everywhere, including at all-zero input and at ``estimate == reference``.

Ratios in dB are clamped to ``[-clamp_db, clamp_db]`` (default 100 dB) so that a silent error
(a perfect estimate) or a silent reference gives a finite number; a 0/0 ratio (both silent) is
0 dB. :func:`stoi` runs the whole pystoi pipeline in JAX, including its resampling to 10 kHz and
its silent-frame removal (done by compaction into a fixed-size buffer, not by changing a length).
:func:`pesq` is a host-side evaluation helper around the ``pesq`` package; it is not traceable.

Range: the ratios are computed on signals divided by a power of two near their peak (per example;
per frame for :func:`segmental_snr`), so that no sum of squares leaves float32 range: SNR, SI-SDR
and STOI of ``1e20 * x`` or ``1e-30 * x`` equal those of ``x``. NaN or inf in an input gives a
NaN result (value and gradient); silence is finite as described above.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _fft, _numerics
from .stft import _frame, _overlap_add, stft
from .windows import WindowSpec

__all__ = [
    "snr",
    "si_sdr",
    "segmental_snr",
    "si_sdr_loss",
    "compressed_spectral_mse",
    "multi_resolution_stft_loss",
    "stoi",
    "pesq",
    "spectral_convergence",
]


# ----------------------------------------------------------------------------------------------
# helpers


def _pair(fn: str, reference, estimate) -> tuple[jax.Array, jax.Array]:
    ref = _checks.real_signal(fn, "reference", reference)
    est = _checks.real_signal(fn, "estimate", estimate)
    _checks.same_shape(fn, ("reference", "estimate"), ref, est)
    if ref.ndim < 1 or ref.shape[-1] < 1:
        raise ValueError(f"{fn}: reference and estimate must have shape (..., samples) with samples >= 1, got {ref.shape}")
    dt = jnp.result_type(ref.dtype, est.dtype)
    return ref.astype(dt), est.astype(dt)


def _ratio_db(num_power: jax.Array, den_power: jax.Array, clamp_db: float) -> jax.Array:
    """``10 log10(num / den)`` clamped to ``[-clamp_db, clamp_db]``; 0 dB when both are 0.

    Each power is floored at ``tiny / eps`` of its dtype before the log, so value and
    gradient are finite; the gradient is 0 where a power is at the floor or the ratio is clamped.
    """
    return jnp.clip(_db_ratio(num_power, den_power), -clamp_db, clamp_db)


def _db_ratio(num_power: jax.Array, den_power: jax.Array) -> jax.Array:
    # safe_log10's default floor (tiny / eps) keeps the scaled gradient finite at exact zeros
    return 10.0 * (_numerics.safe_log10(num_power) - _numerics.safe_log10(den_power))


def _scale_down(x: jax.Array, axis=-1) -> jax.Array:
    """``x`` divided by a power of two near ``max |x|`` over ``axis`` (stop_gradient; every use is
    invariant to that scale, so the gradient is exact)."""
    return x / _numerics.pow2_scale(jnp.abs(x), axis=axis)


def _clamp(fn: str, clamp_db) -> float:
    return _checks.static_float(fn, "clamp_db", clamp_db, minimum=0.0, strict=True)


# ----------------------------------------------------------------------------------------------
# SNR family


def snr(reference: jax.Array, estimate: jax.Array, *, clamp_db: float = 100.0) -> jax.Array:
    """Signal-to-noise ratio of an estimate, in dB: ``10 log10(|s|^2 / |s - s_hat|^2)``.

    Not scale-invariant (see :func:`si_sdr`). Matches ``torchmetrics``' ``signal_noise_ratio``
    with ``zero_mean=False`` (up to its ``eps``).

    Args:
      reference: clean signal ``(..., samples)``.
      estimate: estimate ``(..., samples)``, same shape.
      clamp_db: the result is clamped to ``[-clamp_db, clamp_db]`` (static, > 0). A perfect
        estimate gives ``+clamp_db``, a silent reference with a non-silent error ``-clamp_db``,
        and 0/0 (both silent) gives 0 dB.

    Returns:
      ``(...,)`` SNR in dB, in the real dtype of the inputs.
    """
    fn = "snr"
    ref, est = _pair(fn, reference, estimate)
    clamp_db = _clamp(fn, clamp_db)
    s = _numerics.pow2_scale(jnp.maximum(jnp.abs(ref), jnp.abs(est)), axis=-1)  # SNR is invariant to a common scale
    ref, est = ref / s, est / s
    err = ref - est
    return _ratio_db(jnp.sum(ref * ref, axis=-1), jnp.sum(err * err, axis=-1), clamp_db)


def si_sdr(reference: jax.Array, estimate: jax.Array, *, zero_mean: bool = False, clamp_db: float = 100.0) -> jax.Array:
    """Scale-invariant signal-to-distortion ratio (Le Roux et al., 2019), in dB.

    ``alpha = <s_hat, s> / |s|^2``, ``target = alpha s``, ``SI-SDR = 10 log10(|target|^2 /
    |s_hat - target|^2)``. Invariant to scaling the estimate by any non-zero factor. Matches
    ``torchmetrics.functional.scale_invariant_signal_distortion_ratio`` (same ``zero_mean``
    default) up to its ``eps``.

    Args:
      reference: clean signal ``(..., samples)``.
      estimate: estimate ``(..., samples)``, same shape.
      zero_mean: subtract each signal's mean first (static bool; asteroid's convention is True).
      clamp_db: clamp to ``[-clamp_db, clamp_db]`` (static, > 0). A perfect estimate gives
        ``+clamp_db``; a silent reference gives ``alpha = 0`` and so ``-clamp_db`` for a non-silent
        estimate, and 0 dB when both are silent.

    Returns:
      ``(...,)`` SI-SDR in dB.
    """
    fn = "si_sdr"
    ref, est = _pair(fn, reference, estimate)
    zero_mean = _checks.static_bool(fn, "zero_mean", zero_mean)
    clamp_db = _clamp(fn, clamp_db)
    return _si_sdr(ref, est, zero_mean, clamp_db)


def _si_sdr(ref, est, zero_mean, clamp_db):
    # SI-SDR is invariant to scaling the reference and the estimate separately
    ref, est = _scale_down(ref), _scale_down(est)
    if zero_mean:
        ref = ref - jnp.mean(ref, axis=-1, keepdims=True)
        est = est - jnp.mean(est, axis=-1, keepdims=True)
    alpha = _numerics.safe_div(jnp.sum(ref * est, axis=-1), jnp.sum(ref * ref, axis=-1))
    target = alpha[..., None] * ref
    noise = est - target
    return _ratio_db(jnp.sum(target * target, axis=-1), jnp.sum(noise * noise, axis=-1), clamp_db)


def si_sdr_loss(reference: jax.Array, estimate: jax.Array, *, zero_mean: bool = False, clamp_db: float = 100.0) -> jax.Array:
    """Negative SI-SDR, a loss to minimise (``-si_sdr(reference, estimate)``).

    Args:
      reference: clean signal ``(..., samples)``.
      estimate: model output ``(..., samples)``, same shape.
      zero_mean: as in :func:`si_sdr`.
      clamp_db: as in :func:`si_sdr`; the gradient is 0 where the value is clamped (e.g. at a
        perfect estimate) and finite everywhere, including all-zero input.

    Returns:
      ``(...,)`` loss in dB (take the mean over the batch yourself).
    """
    fn = "si_sdr_loss"
    ref, est = _pair(fn, reference, estimate)
    zero_mean = _checks.static_bool(fn, "zero_mean", zero_mean)
    return -_si_sdr(ref, est, zero_mean, _clamp(fn, clamp_db))


def segmental_snr(reference: jax.Array, estimate: jax.Array, *, frame_length: int = 256, hop_length: int | None = None,
                  min_db: float = -10.0, max_db: float = 35.0) -> jax.Array:
    """Segmental SNR: the mean over frames of the per-frame SNR, each clamped to ``[min_db, max_db]``.

    The classic definition (Quackenbush et al.; Hu & Loizou 2008 use ``[-10, 35]`` dB):
    rectangular frames without padding; a trailing partial frame is dropped. A frame where both
    the reference and the error are silent counts as 0 dB (then clamped); a silent reference frame
    with a non-silent error counts as ``min_db``.

    Args:
      reference: clean signal ``(..., samples)`` with ``samples >= frame_length``.
      estimate: estimate ``(..., samples)``, same shape.
      frame_length: samples per frame (static).
      hop_length: samples between frames (static); default ``frame_length`` (no overlap).
      min_db: lower clamp per frame (static).
      max_db: upper clamp per frame (static, > ``min_db``).

    Returns:
      ``(...,)`` segmental SNR in dB.
    """
    fn = "segmental_snr"
    ref, est = _pair(fn, reference, estimate)
    frame_length = _checks.static_int(fn, "frame_length", frame_length, minimum=1)
    hop = _checks.static_int(fn, "hop_length", hop_length, minimum=1, allow_none=True) or frame_length
    min_db = _checks.static_float(fn, "min_db", min_db)
    max_db = _checks.static_float(fn, "max_db", max_db)
    if max_db <= min_db:
        raise ValueError(f"{fn}: max_db must be > min_db ({min_db}), got {max_db}")
    if ref.shape[-1] < frame_length:
        raise ValueError(f"{fn}: signals must have at least frame_length={frame_length} samples, got shape {ref.shape}")
    rf = _frame(ref, frame_length, hop)
    ef = _frame(ref - est, frame_length, hop)
    # each frame's ratio is invariant to scaling its reference and error together
    s = _numerics.pow2_scale(jnp.maximum(jnp.abs(rf), jnp.abs(ef)), axis=-1)
    rf, ef = rf / s, ef / s
    db = _db_ratio(jnp.sum(rf * rf, axis=-1), jnp.sum(ef * ef, axis=-1))
    return jnp.mean(jnp.clip(db, min_db, max_db), axis=-1)


# ----------------------------------------------------------------------------------------------
# spectral losses


def compressed_spectral_mse(reference: jax.Array, estimate: jax.Array, *, power: float = 0.3,
                            complex_weight: float = 0.3) -> jax.Array:
    """MSE between power-law compressed spectra (Braun & Tashev, 2021; "compressed MSE").

    ``(1 - a) * mean(| |S|^c - |S_hat|^c |^2) + a * mean(| |S|^c e^{j phi} - |S_hat|^c e^{j phi_hat} |^2)``
    with ``c = power`` and ``a = complex_weight``; the means run over frequency and frames.

    Args:
      reference: clean complex STFT ``(..., freq, frames)``.
      estimate: estimated complex STFT ``(..., freq, frames)``, same shape.
      power: compression exponent ``c`` in (0, 1] (may be traced; a concrete value outside
        raises ``ValueError``). The compressed magnitude has
        an infinite slope at 0; here its gradient at an exact zero bin is 0 (finite everywhere).
      complex_weight: weight ``a`` in [0, 1] of the phase-aware (complex) term (may be traced).

    Returns:
      ``(...,)`` loss per example.
    """
    fn = "compressed_spectral_mse"
    S = _checks.complex_spec(fn, "reference", reference)
    E = _checks.complex_spec(fn, "estimate", estimate)
    _checks.same_shape(fn, ("reference", "estimate"), S, E)
    _checks.concrete_positive(fn, "power", power)
    if not _checks.is_traced(power) and not isinstance(power, jax.Array) and np.any(np.asarray(power) > 1):
        raise ValueError(f"{fn}: power must be in (0, 1] (a compression exponent), got {power!r}")
    if not _checks.is_traced(complex_weight) and not isinstance(complex_weight, jax.Array):
        if not 0.0 <= float(complex_weight) <= 1.0:
            raise ValueError(f"{fn}: complex_weight must be in [0, 1], got {complex_weight!r}")
    ms = _numerics.safe_pow(_numerics.safe_abs(S), power)
    me = _numerics.safe_pow(_numerics.safe_abs(E), power)
    mag_term = jnp.mean((ms - me) ** 2, axis=(-2, -1))
    d = ms * _numerics.safe_unit(S) - me * _numerics.safe_unit(E)
    cplx_term = jnp.mean(d.real ** 2 + d.imag ** 2, axis=(-2, -1))
    return (1.0 - complex_weight) * mag_term + complex_weight * cplx_term


def multi_resolution_stft_loss(reference: jax.Array, estimate: jax.Array, *,
                               fft_sizes: Sequence[int] = (1024, 2048, 512),
                               hop_sizes: Sequence[int] = (120, 240, 50),
                               win_lengths: Sequence[int] = (600, 1200, 240),
                               window: WindowSpec = "hann", w_sc: float = 1.0, w_log_mag: float = 1.0,
                               eps: float = 1e-8) -> jax.Array:
    """Multi-resolution STFT loss: spectral convergence + log-magnitude L1, averaged over resolutions.

    auraloss's ``MultiResolutionSTFTLoss`` definition (Yamamoto et al., 2020), same defaults: for
    each resolution, ``|S| = sqrt(max(re^2 + im^2, eps))`` of a centred, reflect-padded STFT
    (``torch.stft`` defaults), ``SC = ||S| - |S_hat||_F / ||S||_F`` and ``LM = mean|log|S| -
    log|S_hat||``; the loss is the mean over resolutions of ``w_sc * SC + w_log_mag * LM``.
    Unlike auraloss, which takes one Frobenius ratio over the whole batch, SC is per example here,
    so the two agree for a batch of one.

    Args:
      reference: clean waveform ``(..., samples)`` (auraloss's ``target``).
      estimate: estimated waveform ``(..., samples)``, same shape (auraloss's ``input``).
      fft_sizes: FFT size per resolution (static ints).
      hop_sizes: hop per resolution (static ints), same count.
      win_lengths: window length per resolution (static ints, ``<= fft_size``), same count.
      window: window for every resolution, as in :func:`jaxspec.stft`.
      w_sc: weight of the spectral-convergence term.
      w_log_mag: weight of the log-magnitude term.
      eps: floor of the squared magnitude (static, > 0), which keeps the log and the sqrt finite.
        (Where the STFT's peak exceeds ``sqrt(eps)`` by more than about 1e19 in float32, the
        floor is about 1e-19 of the peak instead: the smallest square the dtype holds.)

    Returns:
      ``(...,)`` loss per example. Finite value and gradient at all-zero input and at
      ``estimate == reference`` (the gradient of ``||0||`` is taken as 0).
    """
    fn = "multi_resolution_stft_loss"
    ref, est = _pair(fn, reference, estimate)
    sizes = [tuple(s) if isinstance(s, (list, tuple)) else s for s in (fft_sizes, hop_sizes, win_lengths)]
    if not all(isinstance(s, tuple) and len(s) > 0 for s in sizes):
        raise TypeError(f"{fn}: fft_sizes, hop_sizes and win_lengths must be non-empty sequences of ints, got "
                        f"{fft_sizes!r}, {hop_sizes!r}, {win_lengths!r}")
    if not len(sizes[0]) == len(sizes[1]) == len(sizes[2]):
        raise ValueError(f"{fn}: fft_sizes, hop_sizes and win_lengths must have the same length, got "
                         f"{len(sizes[0])}, {len(sizes[1])} and {len(sizes[2])}")
    eps = _checks.static_float(fn, "eps", eps, minimum=0.0, strict=True)
    floor = math.sqrt(eps)
    total = 0.0
    for n_fft, hop, wl in zip(*sizes):
        n_fft = _checks.static_int(fn, "fft_sizes", n_fft, minimum=1)
        hop = _checks.static_int(fn, "hop_sizes", hop, minimum=1)
        wl = _checks.static_int(fn, "win_lengths", wl, minimum=1)
        if wl > n_fft:
            raise ValueError(f"{fn}: each win_length must be <= its fft_size, got win_length={wl} for fft_size={n_fft}")
        if ref.shape[-1] <= n_fft // 2:
            raise ValueError(f"{fn}: reflect padding needs samples > fft_size // 2 = {n_fft // 2}, got {ref.shape[-1]}")
        kw = dict(n_fft=n_fft, hop_length=hop, win_length=wl, window=window, center=True, pad_mode="reflect")
        P = stft(ref, **kw)
        Q = stft(est, **kw)
        # the loss is invariant to scaling P, Q and the floor together, so both are divided by a
        # power of two near their peak (stop_gradient is exact): then |P|^2 <= 8 and no square
        # overflows. The squared floor is kept within [the smallest normal number, 16]: above 16
        # every bin is floored on both sides (loss 0, as with the floor itself); the lower bound
        # only matters for bins over 380 dB (float32) below the peak, in signals whose peak is
        # over 1e19 times sqrt(eps)
        s = _numerics.pow2_scale(jnp.maximum(_numerics.abs_max(P), _numerics.abs_max(Q)), axis=(-2, -1))
        f2 = jnp.clip(jnp.square(floor / s), jnp.finfo(s.dtype).tiny, 16.0)
        q_ref, q_est = (jnp.maximum(jnp.square(Z.real / s) + jnp.square(Z.imag / s), f2) for Z in (P, Q))
        d = jnp.sqrt(q_ref) - jnp.sqrt(q_est)  # |S| - |S_hat|, each sqrt(max(|S|^2, eps)) (scaled)
        sc = _numerics.safe_sqrt(jnp.sum(d * d, axis=(-2, -1))) / jnp.sqrt(jnp.sum(q_ref, axis=(-2, -1)))
        lm = 0.5 * jnp.mean(jnp.abs(jnp.log(q_ref) - jnp.log(q_est)), axis=(-2, -1))
        total = total + w_sc * sc + w_log_mag * lm
    return total / len(sizes[0])


# ----------------------------------------------------------------------------------------------
# STOI / ESTOI (pystoi 0.4 in JAX)

_STOI_FS = 10000
_STOI_FRAME = 256  # 25.6 ms frames at 10 kHz, hop 128
_STOI_HOP = 128
_STOI_NFFT = 512
_STOI_BANDS = 15
_STOI_MIN_FREQ = 150.0
_STOI_N = 30  # frames per intermediate-intelligibility segment (384 ms)
_STOI_BETA = -15.0  # lower SDR bound of the clipping, dB
_STOI_DYN_RANGE = 40.0  # silent-frame threshold, dB below the loudest reference frame
_EPS64 = float(np.finfo(np.float64).eps)  # pystoi's EPS (float64 machine epsilon), kept for parity


@functools.lru_cache(maxsize=None)
def _third_octave_matrix() -> np.ndarray:
    """pystoi's 1/3-octave band matrix ``(15, 257)``: band edges snapped to the nearest FFT bin,
    upper edge bin excluded."""
    f = np.linspace(0, _STOI_FS, _STOI_NFFT + 1)[: _STOI_NFFT // 2 + 1]
    k = np.arange(_STOI_BANDS, dtype=float)
    lo = _STOI_MIN_FREQ * 2.0 ** ((2 * k - 1) / 6)
    hi = _STOI_MIN_FREQ * 2.0 ** ((2 * k + 1) / 6)
    obm = np.zeros((_STOI_BANDS, f.size))
    for i in range(_STOI_BANDS):
        a = int(np.argmin((f - lo[i]) ** 2))
        b = int(np.argmin((f - hi[i]) ** 2))
        obm[i, a:b] = 1.0
    return obm


@functools.lru_cache(maxsize=None)
def _octave_resample_filter(up: int, down: int) -> np.ndarray:
    """The Kaiser-windowed sinc of Octave's ``resample`` (the filter pystoi hands to
    ``scipy.signal.resample_poly``), normalised to unit sum: 60 dB rejection, cutoff
    ``1 / (2 max(up, down))``, roll-off a tenth of the cutoff."""
    cutoff = 1.0 / (2 * max(up, down))
    rejection_db = 60.0
    half = int(math.ceil((rejection_db - 8) / (28.714 * cutoff / 10)))
    t = np.arange(-half, half + 1)
    ideal = 2 * up * cutoff * np.sinc(2 * cutoff * t)
    beta = 0.1102 * (rejection_db - 8.7)
    h = np.kaiser(2 * half + 1, beta) * ideal
    return h / np.sum(h)


@functools.lru_cache(maxsize=None)
def _polyphase_plan(up: int, down: int, n_in: int):
    """Kernel ``(up, down, width)`` and padding so that one stride-1 convolution of the input's
    ``down`` polyphase components computes ``resample_poly(x, up, down, window=h)``:
    ``y[m] = up * sum_n x[n] h[m down + half - n up]``.

    Output ``m = b up + r`` reads ``x[b down + i]`` (``i = lo .. hi``) with weight
    ``up * h[(r down + half) - i up]``. Writing ``i - lo = q down + s``, it reads sample ``q`` of
    the ``s``-th polyphase component from block ``b`` on: phase ``r`` is output channel ``r`` of a
    convolution over ``down`` input channels. A stride-1 convolution rather than a convolution with
    stride ``down`` over one channel, because the gradient of a strided convolution is an
    input-dilated one, which XLA's CPU backend runs 5-20x slower. The kernel holds zeros where
    ``down`` does not divide the taps of a phase: at 16 kHz 9% more multiply-adds, at 44.1 kHz
    2.8x (the forward pass there is about 15% slower, its gradient 20x faster).
    """
    h = _octave_resample_filter(up, down) * up
    half = (h.size - 1) // 2
    n_out = -(-n_in * up // down)
    # tap offsets i (relative to b * down) used by each phase r: k = r*down + half - i*up in [0, len(h))
    lo = min(-(-(r * down + half - (h.size - 1)) // up) for r in range(up))
    hi = max((r * down + half) // up for r in range(up))
    width = -(-(hi - lo + 1) // down)
    kernel = np.zeros((up, down, width))
    for r in range(up):
        for q in range(width):
            for s in range(down):
                k = r * down + half - (lo + q * down + s) * up
                if 0 <= k < h.size:
                    kernel[r, s, q] = h[k]
    blocks = -(-n_out // up)
    # the padded input starts at x[lo] (zeros before x[0]) and holds (blocks - 1 + width) * down samples
    need = (blocks - 1 + width) * down
    return kernel, lo, need, blocks, n_out


def _resample_poly(x: jax.Array, up: int, down: int) -> jax.Array:
    """``scipy.signal.resample_poly(x, up, down, window=octave_filter)`` over the last axis, as a
    multi-channel convolution of the polyphase components (static shapes)."""
    batch, n_in = x.shape[:-1], x.shape[-1]
    kernel, lo, need, blocks, n_out = _polyphase_plan(up, down, n_in)
    flat = x.reshape((-1, n_in))
    left = max(0, -lo)
    flat = jnp.pad(flat, ((0, 0), (left, max(0, need + lo - n_in))))[:, left + lo:left + lo + need]
    poly = jnp.swapaxes(flat.reshape((flat.shape[0], need // down, down)), -1, -2)  # (n, down, blocks - 1 + width)
    out = jax.lax.conv_general_dilated(poly, jnp.asarray(kernel, x.dtype), window_strides=(1,), padding="VALID",
                                       dimension_numbers=("NCH", "OIH", "NCH"),
                                       precision=jax.lax.Precision.HIGHEST)  # (n, up, blocks)
    out = jnp.swapaxes(out, -1, -2).reshape((flat.shape[0], blocks * up))[:, :n_out]
    return out.reshape(batch + (n_out,))


def _hann_matlab(n: int) -> np.ndarray:
    return np.hanning(n + 2)[1:-1]


def _l2(x: jax.Array, axis) -> jax.Array:
    return _numerics.safe_sqrt(jnp.sum(x * x, axis=axis, keepdims=True))


def _stoi_core(x: jax.Array, y: jax.Array, extended: bool) -> jax.Array:
    """STOI of 10 kHz signals ``(n, samples)`` -> ``(n,)``, pystoi's algorithm with fixed shapes."""
    L = x.shape[-1]
    n_fr = max(0, -(-(L - _STOI_FRAME) // _STOI_HOP))  # len(range(0, L - 256, 128))
    n_seg = n_fr - _STOI_N  # segments available if no frame were silent
    dt = x.dtype
    if n_seg < 1:
        return jnp.full(x.shape[:-1], 1e-5, dt)
    w = jnp.asarray(_hann_matlab(_STOI_FRAME), dt)
    xf = _frame(x, _STOI_FRAME, _STOI_HOP)[..., :n_fr, :] * w
    yf = _frame(y, _STOI_FRAME, _STOI_HOP)[..., :n_fr, :] * w
    # silent frames: energy more than 40 dB below the loudest reference frame
    energy = 20.0 * jnp.log10(_numerics.safe_sqrt(jnp.sum(xf * xf, axis=-1)) + _EPS64)
    keep = energy > jnp.max(energy, axis=-1, keepdims=True) - _STOI_DYN_RANGE
    n_keep = jnp.sum(keep, axis=-1)  # K
    # compaction: kept frames first, in order; the rest zeroed. Fixed length n_fr.
    order = jnp.argsort(jnp.logical_not(keep), axis=-1, stable=True)
    valid = jnp.arange(n_fr) < n_keep[..., None]
    xk = jnp.where(valid[..., None], jnp.take_along_axis(xf, order[..., None], axis=-2), 0.0)
    yk = jnp.where(valid[..., None], jnp.take_along_axis(yf, order[..., None], axis=-2), 0.0)
    x_sil = _overlap_add(xk, _STOI_HOP)  # valid prefix: (K - 1) * 128 + 256 samples
    y_sil = _overlap_add(yk, _STOI_HOP)
    # STFT of the compacted signals: frames 0 .. K-2 are the ones pystoi sees
    n_spec = n_fr - 1
    xs = _fft.rfft(_frame(x_sil, _STOI_FRAME, _STOI_HOP)[..., :n_spec, :] * w, n=_STOI_NFFT, axis=-1)
    ys = _fft.rfft(_frame(y_sil, _STOI_FRAME, _STOI_HOP)[..., :n_spec, :] * w, n=_STOI_NFFT, axis=-1)
    obm = jnp.asarray(_third_octave_matrix(), dt)  # (15, 257)
    hp = jax.lax.Precision.HIGHEST
    x_tob = _numerics.safe_sqrt(jnp.matmul(obm, jnp.swapaxes(xs.real ** 2 + xs.imag ** 2, -1, -2), precision=hp))
    y_tob = _numerics.safe_sqrt(jnp.matmul(obm, jnp.swapaxes(ys.real ** 2 + ys.imag ** 2, -1, -2), precision=hp))
    # (n, 15, n_spec) -> segments (n, 15, N, n_seg): the N frames of segment s are [s, s + N).
    # Segment s is valid when s + N - 1 <= K - 2. Segments run along the last (contiguous) axis.
    xseg, yseg = _segments(x_tob, n_seg), _segments(y_tob, n_seg)
    n_valid = jnp.maximum(n_keep - _STOI_N, 0)  # J
    seg_ok = (jnp.arange(n_seg) < n_valid[..., None])[..., None, None, :]
    if extended:
        xn = _row_col_normalize(xseg)
        yn = _row_col_normalize(yseg)
        per_seg = jnp.sum(jnp.where(seg_ok, xn * yn, 0.0), axis=(-3, -2, -1)) / _STOI_N
        d = _numerics.safe_div(per_seg, n_valid.astype(dt))
    else:
        scale = _l2(xseg, -2) / (_l2(yseg, -2) + _EPS64)
        clip = 10.0 ** (-_STOI_BETA / 20.0)
        y_prime = jnp.minimum(yseg * scale, xseg * (1.0 + clip))
        yc = y_prime - jnp.mean(y_prime, axis=-2, keepdims=True)
        xc = xseg - jnp.mean(xseg, axis=-2, keepdims=True)
        # pystoi's sum((yc / (|yc| + eps)) * (xc / (|xc| + eps))), each segment's sums taken once
        num = jnp.sum(yc * xc, axis=-2)
        den = (_numerics.safe_sqrt(jnp.sum(yc * yc, axis=-2)) + _EPS64) * (
            _numerics.safe_sqrt(jnp.sum(xc * xc, axis=-2)) + _EPS64)
        total = jnp.sum(jnp.where(seg_ok[..., 0, :], num / den, 0.0), axis=(-2, -1))
        d = _numerics.safe_div(total, (n_valid * _STOI_BANDS).astype(dt))
    return jnp.where(n_valid > 0, d, jnp.asarray(1e-5, dt))


def _segments(x: jax.Array, n_seg: int) -> jax.Array:
    """``(..., T)`` -> ``(..., N, n_seg)`` with ``out[..., i, s] = x[..., s + i]`` (``n_seg <= T - N + 1``).

    ``N + 1`` copies of ``x`` laid end to end and cut into rows of ``T + 1`` samples: row ``i``
    then starts at ``x[i]``. Only a broadcast, reshapes and slices: XLA compiles it in a few per
    cent of the time ``N`` stacked slices take (STOI's compile halves). Inside STOI it runs 6-12%
    slower than the slices did: they fused into their consumers, the copies are materialised."""
    T, N = x.shape[-1], _STOI_N
    z = jnp.broadcast_to(x[..., None, :], x.shape[:-1] + (N + 1, T)).reshape(x.shape[:-1] + ((N + 1) * T,))
    return z[..., : N * (T + 1)].reshape(x.shape[:-1] + (N, T + 1))[..., :n_seg]


def _row_col_normalize(x: jax.Array) -> jax.Array:
    """ESTOI's normalisation of each segment ``(bands, N)`` (here ``(..., bands, N, segments)``):
    rows (over time) to zero mean and unit norm, then columns (over bands) likewise. A zero
    row/column stays 0 (pystoi adds 1e-16 noise instead)."""
    x = x - jnp.mean(x, axis=-2, keepdims=True)
    x = _numerics.safe_div(x, _l2(x, -2))
    x = x - jnp.mean(x, axis=-3, keepdims=True)
    return _numerics.safe_div(x, _l2(x, -3))


def stoi(reference: jax.Array, estimate: jax.Array, *, sr: int, extended: bool = False) -> jax.Array:
    """Short-time objective intelligibility (Taal et al., 2011), or ESTOI (Jensen & Taal, 2016).

    Reimplements pystoi 0.4's ``stoi(x, y, fs_sig, extended)`` in JAX: resampling to 10 kHz with
    the same Octave-style Kaiser-sinc polyphase filter; removal of frames whose reference energy is
    more than 40 dB below the loudest (256-sample Hann frames, hop 128) and overlap-add of the rest;
    a 512-point STFT, 15 one-third-octave bands from 150 Hz, segments of 30 frames (384 ms),
    normalisation and clipping at -15 dB SDR (STOI) or row/column normalisation (ESTOI), averaged
    over segments and bands. Silent frames are removed by compacting the kept ones to the front of
    a fixed-size buffer and masking the unused tail, so shapes do not depend on the data and the
    function runs under ``jit`` and ``vmap``. Agrees with pystoi to about 1e-6 in float32 on
    speech (the resampler matches ``pystoi.utils.resample_oct`` to 1e-15 in float64).

    Args:
      reference: clean speech ``(..., samples)`` (pystoi's ``x``). Every example has the same
        length (pad with zeros: the padding is silent and removed like other silent frames).
      estimate: processed speech ``(..., samples)``, same shape (pystoi's ``y``).
      sr: sample rate of both signals in Hz (static positive int); anything but 10000 is
        resampled to 10 kHz first.
      extended: compute ESTOI instead of STOI (static bool).

    Returns:
      ``(...,)`` intelligibility per example (about 0..1 for STOI, -1..1 for ESTOI). Where fewer
      than 30 non-silent frames remain, returns ``1e-5`` like pystoi (which also warns; a traced
      function cannot). Differentiable almost everywhere with finite gradients, but the
      silent-frame decision and the clipping are piecewise.
    """
    fn = "stoi"
    ref, est = _pair(fn, reference, estimate)
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    extended = _checks.static_bool(fn, "extended", extended)
    batch = ref.shape[:-1]
    # STOI is invariant to scaling each signal (up to pystoi's 2.2e-16 guards; pystoi's float64
    # answer at 1e30 is its answer at 1): scale both to a peak in [1, 2) so that frame energies
    # stay in float32 range
    x = _scale_down(ref).reshape((-1, ref.shape[-1]))
    y = _scale_down(est).reshape((-1, est.shape[-1]))
    if sr != _STOI_FS:
        g = math.gcd(_STOI_FS, sr)
        up, down = _STOI_FS // g, sr // g
        if up * 1000 > 10 ** 6 or down > 10 ** 6:
            raise ValueError(f"{fn}: sr={sr} needs a resampling ratio {up}/{down} that is too large; "
                             f"resample to 10000, 16000, 8000 or another rate with a small ratio to 10 kHz first")
        x = _resample_poly(x, up, down)
        y = _resample_poly(y, up, down)
    d = _stoi_core(x, y, extended).reshape(batch)
    return _numerics.propagate_nonfinite(d, ref, est, axis=-1)


# ----------------------------------------------------------------------------------------------
# PESQ (host side)

_PESQ_RATES = (8000, 16000)


def pesq(reference, estimate, *, sr: int, mode: str = "wb") -> np.ndarray:
    """PESQ (ITU-T P.862) via the ``pesq`` package, on the host: an evaluation helper only.

    Not traceable and not differentiable: call it on concrete arrays outside ``jit``/``grad``.
    Loops over the leading dimensions. Where the package reports an error for one example (e.g.
    no utterance detected in a silent reference) that entry is NaN and a ``RuntimeWarning`` says
    why; bad arguments raise.

    Args:
      reference: clean speech ``(..., samples)``, float in [-1, 1].
      estimate: processed speech ``(..., samples)``, same shape.
      sr: 8000 or 16000 (PESQ supports only these rates).
      mode: ``"wb"`` (wide band, P.862.2; needs ``sr=16000``) or ``"nb"`` (narrow band).

    Returns:
      NumPy float64 array ``(...,)`` of MOS-LQO scores (NaN where PESQ failed).

    Raises:
      ImportError: if the optional ``pesq`` package is not installed (``pip install pesq``).
      TypeError: if given traced values (inside ``jit``/``vmap``/``grad``).
    """
    fn = "pesq"
    for name, v in (("reference", reference), ("estimate", estimate)):
        if isinstance(v, jax.core.Tracer):
            raise TypeError(f"{fn}: {name} is a traced value; pesq runs on the host and cannot be used inside "
                            f"jit, vmap or grad. Call it on concrete arrays.")
    sr = _checks.static_int(fn, "sr", sr)
    if sr not in _PESQ_RATES:
        raise ValueError(f"{fn}: sr must be 8000 or 16000 (the rates PESQ supports), got {sr}; resample first")
    mode = _checks.choice(fn, "mode", mode, ("wb", "nb"))
    if mode == "wb" and sr != 16000:
        raise ValueError(f"{fn}: mode='wb' (wide band) needs sr=16000, got sr={sr}; use mode='nb' at 8000 Hz")
    ref = np.asarray(_checks.real_signal(fn, "reference", reference), dtype=np.float64)
    est = np.asarray(_checks.real_signal(fn, "estimate", estimate), dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"{fn}: reference and estimate must have the same shape, got {ref.shape} and {est.shape}")
    if ref.ndim < 1:
        raise ValueError(f"{fn}: reference and estimate must have shape (..., samples), got {ref.shape}")
    try:
        import pesq as _pesq_pkg
    except ImportError as e:  # optional dependency
        raise ImportError(f"{fn}: needs the optional 'pesq' package (pip install pesq)") from e
    flat_r = ref.reshape((-1, ref.shape[-1]))
    flat_e = est.reshape((-1, est.shape[-1]))
    out = np.empty(flat_r.shape[0])
    for i, (r, e) in enumerate(zip(flat_r, flat_e)):
        try:
            out[i] = float(_pesq_pkg.pesq(sr, r, e, mode))
        except Exception as err:  # the package signals per-signal failures with its own exceptions
            warnings.warn(f"{fn}: PESQ failed for example {i} ({type(err).__name__}: {err}); returning NaN",
                          RuntimeWarning, stacklevel=2)
            out[i] = np.nan
    return out.reshape(ref.shape[:-1])


# ----------------------------------------------------------------------------------------------
# spectral convergence


def spectral_convergence(reference: jax.Array, estimate: jax.Array) -> jax.Array:
    """Spectral convergence ``|| |R| - |E| ||_F / || |R| ||_F`` per example.

    The spectral-convergence term of :func:`multi_resolution_stft_loss` (Arik et al., 2018;
    Yamamoto et al., 2020) on one pair of spectrograms, without its ``eps`` floor: 0 for equal
    magnitudes, 1 for a silent estimate. Magnitudes are formed on the inputs divided by their
    largest component (a scale the ratio does not depend on), so any float32 scale works.

    Args:
      reference: clean STFT ``(..., freq, frames)``, complex (or a real magnitude).
      estimate: estimated STFT or magnitude of the same shape.

    Returns:
      ``(...,)`` real, in the real dtype of the inputs. An all-zero reference gives 0 (the ratio
      is undefined there), with finite value and gradient; NaN/inf input gives NaN.
    """
    fn = "spectral_convergence"
    R = _checks.floating(fn, "reference", reference)
    E = _checks.floating(fn, "estimate", estimate)
    _checks.same_shape(fn, ("reference", "estimate"), R, E)
    if R.ndim < 2:
        raise ValueError(f"{fn}: reference and estimate must have shape (..., freq, frames), got {R.shape}")
    dt = jnp.result_type(R.dtype, E.dtype)
    R, E = R.astype(dt), E.astype(dt)
    axes = (-2, -1)

    def top(Z):
        a = jnp.maximum(jnp.abs(Z.real), jnp.abs(Z.imag)) if jnp.iscomplexobj(Z) else jnp.abs(Z)
        return jnp.max(a, axis=axes)

    m = jax.lax.stop_gradient(jnp.maximum(top(R), top(E)))[..., None, None]
    mr = _numerics.safe_abs(_numerics.safe_div(R, m))
    me = _numerics.safe_abs(_numerics.safe_div(E, m))
    d = mr - me
    num = _numerics.safe_sqrt(jnp.sum(d * d, axis=axes))
    den = _numerics.safe_sqrt(jnp.sum(mr * mr, axis=axes))
    out = _numerics.safe_div(num, den)
    return out + 0.0 * m[..., 0, 0]  # NaN/inf in either input shows in the value
