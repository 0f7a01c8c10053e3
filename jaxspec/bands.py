"""ERB bands, band features with running normalisation, band gains and the deep filter.

The building blocks of the band-based enhancement models (RNNoise, PercepNet, DeepFilterNet,
GTCRN), as pure functions that match DeepFilterNet's reference implementation (``libdf``,
PyPI ``deepfilterlib``):

- :func:`erb_widths`: DeepFilterNet's ERB band layout (bins per band, with its rounding).
- :func:`band_power` and :func:`erb_norm` (together :func:`erb_features`): band powers in dB and
  their running-mean normalisation, DeepFilterNet's ``feat_erb``.
- :func:`unit_norm`: complex bins divided by the square root of a running mean of their
  magnitude, DeepFilterNet's ``feat_spec``.
- :func:`expand_band_gains`: band gains back to bins (rectangular as DeepFilterNet, or
  interpolated between band centres); :func:`post_filter`: the gain post-filter of PercepNet /
  DeepFilterNet.
- :func:`deep_filter` and :func:`deep_filter_step`: the complex multi-frame filter over the low
  bins, offline and one frame at a time with a ring buffer.
- :func:`erb_irm`: the ideal ratio mask per band, a training target for band gains.

Layout: STFTs ``(..., freq, frames)`` and band features ``(..., bands, frames)``; states of the
running normalisations ``(..., bands)`` / ``(..., bins)``. ``widths`` (bins per band, from
:func:`erb_widths`) is static: a tuple of positive ints that sums to the STFT's ``freq``.

Running normalisation carries a state, so a stream cut into chunks gives the numbers of one
call: ``erb_norm(E[..., :k], state=s0)`` returns the state to pass with ``E[..., k:]``. With
``state=None`` the first frame starts from DeepFilterNet's initial state (:func:`erb_norm_init`,
:func:`unit_norm_init`).

DeepFilterNet's STFT is :func:`jaxspec.stft` with ``window="vorbis"`` and
``normalized="forward"`` at ``hop_length = n_fft // 2`` (its frame ``t`` ends at sample
``(t + 1) * hop_length``, which is ``center=True``'s frame ``t``; it has one frame fewer at the
end). See the README section "ERB bands and deep filtering" for the full parameter map.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _numerics

__all__ = [
    "erb_widths",
    "norm_alpha",
    "band_power",
    "erb_norm_init",
    "erb_norm",
    "erb_features",
    "unit_norm_init",
    "unit_norm",
    "expand_band_gains",
    "post_filter",
    "deep_filter",
    "deep_filter_init",
    "deep_filter_step",
    "erb_irm",
]

# DeepFilterNet's initial states of the running normalisations (libdf MEAN_NORM_INIT / UNIT_NORM_INIT):
# spread linearly over the bands (dB) and over the bins (linear magnitude).
MEAN_NORM_INIT = (-60.0, -90.0)
UNIT_NORM_INIT = (0.001, 0.0001)
GAIN_SHAPES = ("rectangular", "triangular")


# ----------------------------------------------------------------------------- band layout


def _freq2erb(f):
    f = np.float32(f)
    return np.float32(9.265) * np.log1p(f / (np.float32(24.7) * np.float32(9.265)))


def _erb2freq(n):
    n = np.float32(n)
    return np.float32(24.7) * np.float32(9.265) * (np.exp(n / np.float32(9.265)) - np.float32(1.0))


def erb_widths(*, sr: int, n_fft: int, n_bands: int = 32, min_bins: int = 2) -> np.ndarray:
    """DeepFilterNet's ERB band layout: the number of STFT bins in each band.

    The bands are equally spaced on the ERB scale ``9.265 * ln(1 + f / (24.7 * 9.265))`` from 0
    to ``sr // 2``; each band edge is rounded to the nearest bin, a band narrower than
    ``min_bins`` is widened to it (the next band gives the bins back), and the last band takes
    the Nyquist bin. Computed in float32 exactly as ``libdf.DF(sr, n_fft, hop, n_bands,
    min_bins).erb_widths()``.

    Args:
      sr: sample rate in Hz (static positive int).
      n_fft: FFT size (static int >= 2); the widths sum to ``n_fft // 2 + 1``.
      n_bands: number of bands (static int >= 1). DeepFilterNet: 32.
      min_bins: the fewest bins in a band (static int >= 1). DeepFilterNet: 2 (``min_nb_erb_freqs``).

    Returns:
      ``np.ndarray`` of shape ``(n_bands,)``, int64, positive, summing to ``n_fft // 2 + 1``.
      Pass it (or ``tuple(...)``) as ``widths=`` to the other functions of this module.

    Raises:
      ValueError: if the layout cannot be made: ``n_bands * min_bins`` exceeds the bins, or the
        last band would be empty.
    """
    fn = "erb_widths"
    sr = _checks.static_int(fn, "sr", sr, minimum=1)
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=2)
    n_bands = _checks.static_int(fn, "n_bands", n_bands, minimum=1)
    min_bins = _checks.static_int(fn, "min_bins", min_bins, minimum=1)
    freq = n_fft // 2 + 1
    if n_bands * min_bins > freq:
        raise ValueError(f"{fn}: n_bands={n_bands} bands of at least min_bins={min_bins} bins need "
                         f"{n_bands * min_bins} bins, but n_fft={n_fft} gives {freq}; use fewer bands or a larger n_fft")
    freq_width = np.float32(sr) / np.float32(n_fft)
    step = (_freq2erb(sr // 2) - _freq2erb(0.0)) / np.float32(n_bands)
    widths = np.zeros(n_bands, np.int64)
    prev, over = 0, 0
    for i in range(1, n_bands + 1):
        f = _erb2freq(_freq2erb(0.0) + np.float32(i) * step)
        q = float(f / freq_width)
        edge = int(math.floor(q + 0.5))  # Rust's f32::round: half away from zero (q >= 0)
        n = edge - prev - over
        if n < min_bins:
            over, n = min_bins - n, min_bins
        else:
            over = 0
        widths[i - 1] = n
        prev = edge
    widths[-1] += 1  # the Nyquist bin
    excess = int(widths.sum()) - freq
    if excess > 0:
        widths[-1] -= excess
    if widths[-1] < 1 or int(widths.sum()) != freq:
        raise ValueError(f"{fn}: n_bands={n_bands} with min_bins={min_bins} leaves no bins for the last band at "
                         f"n_fft={n_fft}; use fewer bands or a smaller min_bins")
    return widths


def _widths(fn: str, widths: Any) -> tuple[int, ...]:
    if _checks.is_traced(widths):
        raise TypeError(f"{fn}: widths must be static (a tuple of ints or a NumPy array from erb_widths), got a traced value")
    if isinstance(widths, (jax.Array, np.ndarray)):
        arr = np.asarray(widths)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{fn}: widths must be a 1-D integer array or a tuple of ints, got {arr.dtype} of shape {arr.shape}")
        widths = tuple(int(w) for w in arr)
    elif isinstance(widths, (list, tuple)):
        if not all(isinstance(w, (int, np.integer)) and not isinstance(w, (bool, np.bool_)) for w in widths):
            raise TypeError(f"{fn}: widths must be ints (bins per band), got {widths!r}")
        widths = tuple(int(w) for w in widths)
    else:
        raise TypeError(f"{fn}: widths must be a tuple of ints or an array from erb_widths, got {type(widths).__name__}")
    if not widths or min(widths) < 1:
        raise ValueError(f"{fn}: widths must be a non-empty sequence of positive ints, got {widths}")
    return widths


def _check_freq(fn: str, name: str, shape: tuple, widths: tuple[int, ...], axis: int = -2) -> None:
    freq = sum(widths)
    if len(shape) < -axis or shape[axis] != freq:
        raise ValueError(f"{fn}: {name} must have {freq} frequency rows on axis {axis} (the sum of widths, "
                         f"{len(widths)} bands), got shape {tuple(shape)}")


def norm_alpha(*, sr: float, hop_length: int, tau: float = 1.0) -> float:
    """The smoothing factor of the running normalisations for a time constant ``tau``.

    ``exp(-hop_length / (sr * tau))``, rounded as DeepFilterNet rounds it (to 3 decimals, or
    more while the rounded value would be 1), so that ``norm_alpha(sr=48000, hop_length=480)``
    is DeepFilterNet's 0.99.

    Args:
      sr: sample rate in Hz (static, > 0).
      hop_length: STFT hop in samples (static positive int).
      tau: time constant in seconds (static, > 0). DeepFilterNet: 1 (``norm_tau``).

    Returns:
      ``float`` in ``(0, 1)``.
    """
    fn = "norm_alpha"
    sr = _checks.static_float(fn, "sr", sr, minimum=0.0, strict=True)
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1)
    tau = _checks.static_float(fn, "tau", tau, minimum=0.0, strict=True)
    a = math.exp(-hop_length / sr / tau)
    for digits in range(3, 17):
        r = round(a, digits)
        if r < 1.0:
            return r
    return a


# ----------------------------------------------------------------------------- band features


def _band_matrix(widths: tuple[int, ...], *, mean: bool) -> np.ndarray:
    """``(bands, freq)`` 0/1 matrix (rows divided by the band size when ``mean``)."""
    m = np.zeros((len(widths), sum(widths)))
    start = 0
    for b, w in enumerate(widths):
        m[b, start:start + w] = 1.0 / w if mean else 1.0
        start += w
    return m


def _apply_bands(m: np.ndarray, x: jax.Array) -> jax.Array:
    """``m @ x`` over the frequency axis: ``(b, f) x (..., f, t) -> (..., b, t)``."""
    return jnp.einsum("bf,...ft->...bt", jnp.asarray(m, x.dtype), x, precision=jax.lax.Precision.HIGHEST)


def band_power(S: jax.Array, *, widths: Sequence[int], db: bool = True) -> jax.Array:
    """Mean power of the bins in each band, in dB by default (DeepFilterNet's ``erb``).

    ``P[b, t] = mean_{k in band b} |S[k, t]|^2``; with ``db``, ``10 * log10(P + 1e-10)`` (the
    ``1e-10`` floor is DeepFilterNet's, so silence gives -100 dB with a finite gradient).
    Matches ``libdf.erb(S, widths, db=db)`` (layout ``(..., bands, frames)`` here).

    Args:
      S: complex STFT ``(..., freq, frames)``, ``freq = sum(widths)``.
      widths: bins per band (static), e.g. from :func:`erb_widths`.
      db: return dB (``True``) or linear power.

    Returns:
      Real ``(..., bands, frames)``.
    """
    fn = "band_power"
    widths = _widths(fn, widths)
    S = _checks.complex_spec(fn, "S", S)
    _check_freq(fn, "S", S.shape, widths)
    db = _checks.static_bool(fn, "db", db)
    p = _apply_bands(_band_matrix(widths, mean=True), S.real * S.real + S.imag * S.imag)
    if db:
        p = 10.0 * jnp.log10(p + jnp.asarray(1e-10, p.dtype))
    return p


def _init(fn: str, name: str, n: int, ends: tuple[float, float], dtype) -> jax.Array:
    n = _checks.static_int(fn, name, n, minimum=1)
    dtype = _checks.state_dtype(fn, dtype)
    return jnp.asarray(np.linspace(ends[0], ends[1], n), dtype)


def erb_norm_init(*, n_bands: int, dtype: Any = jnp.float32) -> jax.Array:
    """DeepFilterNet's initial state of :func:`erb_norm`: -60 dB to -90 dB, linear over the bands.

    Args:
      n_bands: number of bands (static positive int).
      dtype: real floating dtype of the state.

    Returns:
      ``(n_bands,)``, equal to libdf's default state; broadcast it to ``(..., n_bands)`` for a batch.
    """
    return _init("erb_norm_init", "n_bands", n_bands, MEAN_NORM_INIT, dtype)


def unit_norm_init(*, n_bins: int, dtype: Any = jnp.float32) -> jax.Array:
    """DeepFilterNet's initial state of :func:`unit_norm`: 0.001 to 0.0001, linear over the bins.

    Args:
      n_bins: number of bins normalised (static positive int), DeepFilterNet's ``nb_df``.
      dtype: real floating dtype of the state.

    Returns:
      ``(n_bins,)``, equal to ``libdf.unit_norm_init(n_bins)[0]``.
    """
    return _init("unit_norm_init", "n_bins", n_bins, UNIT_NORM_INIT, dtype)


def _alpha(fn: str, alpha: Any, rdt, shape: tuple) -> jax.Array:
    _checks.concrete_real(fn, "alpha", alpha, low=0.0, high=1.0)
    a = jnp.asarray(alpha, rdt)
    _checks.broadcastable(fn, "alpha", a.shape, shape, "the features")
    return a


def _state(fn: str, state: Any, rows: int, batch: tuple, rdt, default: jax.Array) -> jax.Array:
    if state is None:
        s = default.astype(rdt)
    else:
        s = _checks.real_signal(fn, "state", state)
        if s.ndim < 1 or s.shape[-1] != rows:
            raise ValueError(f"{fn}: state must have shape (..., {rows}) (one value per row of the features), got {s.shape}")
        s = s.astype(rdt)
    return _checks.broadcast_to(fn, "state", s, batch + (rows,), "the batch shape + rows of the features")


def _running_mean(x: jax.Array, a: jax.Array, s0: jax.Array) -> jax.Array:
    """``s[t] = x[t] * (1 - a[t]) + s[t-1] * a[t]`` over the last axis from ``s[-1] = s0``.

    A sequential ``lax.scan`` with DeepFilterNet's operation order, so float32 results equal its
    own to rounding (a parallel prefix scan reorders the products and drifts by a few ulp).
    """
    a = jnp.broadcast_to(a, x.shape)

    def step(s, xa):
        xt, at = xa
        s = xt * (1.0 - at) + s * at
        return s, s

    _, s = jax.lax.scan(step, s0, (jnp.moveaxis(x, -1, 0), jnp.moveaxis(a, -1, 0)))
    return jnp.moveaxis(s, 0, -1)


def erb_norm(E: jax.Array, *, alpha: Any, state: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Running-mean normalisation of band powers in dB (DeepFilterNet's ``erb_norm``).

    Per band, ``s[t] = alpha * s[t-1] + (1 - alpha) * E[t]`` and the output is
    ``(E[t] - s[t]) / 40``: a frame's features depend only on the past, not on the file's length
    or level offset beyond the running mean. Matches ``libdf.erb_norm`` (its state included).

    Args:
      E: band powers in dB ``(..., bands, frames)``, e.g. :func:`band_power`.
      alpha: smoothing factor in ``[0, 1]`` (may be traced; scalar or broadcastable to ``E``,
        ``alpha[..., None, None]`` for one per example), e.g. :func:`norm_alpha`.
      state: running mean before the first frame, ``(..., bands)`` or ``(bands,)``; ``None``
        starts from :func:`erb_norm_init` (DeepFilterNet's).

    Returns:
      ``(normalised, state)``: ``(..., bands, frames)`` and the running mean after the last
      frame ``(..., bands)``, to pass as ``state`` with the next chunk.
    """
    fn = "erb_norm"
    E = _checks.real_signal(fn, "E", E)
    if E.ndim < 2 or E.shape[-1] < 1:
        raise ValueError(f"{fn}: E must have shape (..., bands, frames) with at least one frame, got {E.shape}")
    rdt = E.dtype
    a = _alpha(fn, alpha, rdt, E.shape)
    bands = E.shape[-2]
    s0 = _state(fn, state, bands, E.shape[:-2], rdt, erb_norm_init(n_bands=bands, dtype=rdt))
    s = _running_mean(E, a, s0)
    return (E - s) / jnp.asarray(40.0, rdt), s[..., -1]


def erb_features(S: jax.Array, *, widths: Sequence[int], alpha: Any,
                 state: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """DeepFilterNet's ERB input features: :func:`erb_norm` of :func:`band_power` in dB.

    Args:
      S: complex STFT ``(..., freq, frames)``, ``freq = sum(widths)``.
      widths: bins per band (static), e.g. from :func:`erb_widths`.
      alpha: smoothing factor in ``[0, 1]`` (may be traced), e.g. :func:`norm_alpha`.
      state: running mean ``(..., bands)`` carried from the previous chunk, or ``None``.

    Returns:
      ``(features, state)``: ``(..., bands, frames)`` and ``(..., bands)``.
    """
    fn = "erb_features"
    widths = _widths(fn, widths)
    S = _checks.complex_spec(fn, "S", S)
    _check_freq(fn, "S", S.shape, widths)
    return erb_norm(band_power(S, widths=widths, db=True), alpha=alpha, state=state)


def unit_norm(S: jax.Array, *, alpha: Any, state: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Complex bins divided by the square root of a running mean of their magnitude.

    Per bin, ``s[t] = alpha * s[t-1] + (1 - alpha) * |S[t]|`` and the output is
    ``S[t] / sqrt(s[t])`` (DeepFilterNet's ``unit_norm``, its ``feat_spec`` when ``S`` holds the
    lowest ``nb_df`` bins). Matches ``libdf.unit_norm`` (its state included). A bin whose running
    mean is 0 (silence from a zero state) gives 0, with a finite gradient.

    Args:
      S: complex ``(..., bins, frames)``, typically ``stft(...)[..., :nb_df, :]``.
      alpha: smoothing factor in ``[0, 1]`` (may be traced; scalar or broadcastable to ``S``).
      state: running mean before the first frame, ``(..., bins)`` or ``(bins,)``; ``None`` starts
        from :func:`unit_norm_init` (DeepFilterNet's).

    Returns:
      ``(normalised, state)``: complex ``(..., bins, frames)`` and real ``(..., bins)``.
    """
    fn = "unit_norm"
    S = _checks.complex_spec(fn, "S", S)
    if S.shape[-1] < 1:
        raise ValueError(f"{fn}: S must have at least one frame, got shape {S.shape}")
    rdt = jnp.finfo(S.dtype).dtype
    a = _alpha(fn, alpha, rdt, S.shape)
    bins = S.shape[-2]
    s0 = _state(fn, state, bins, S.shape[:-2], rdt, unit_norm_init(n_bins=bins, dtype=rdt))
    s = _running_mean(_numerics.safe_abs(S), a, s0)
    root = _numerics.safe_sqrt(s)
    out = jax.lax.complex(_numerics.safe_div(S.real, root), _numerics.safe_div(S.imag, root))
    return out, s[..., -1]


# ----------------------------------------------------------------------------- band gains


def _triangular(widths: tuple[int, ...]) -> np.ndarray:
    """``(freq, bands)`` matrix: linear interpolation weights between band centres (rows sum to 1)."""
    freq, bands = sum(widths), len(widths)
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    centres = starts + (np.asarray(widths) - 1) / 2.0
    k = np.arange(freq, dtype=np.float64)
    m = np.zeros((freq, bands))
    if bands == 1:
        m[:, 0] = 1.0
        return m
    j = np.clip(np.searchsorted(centres, k, side="right") - 1, 0, bands - 2)  # left centre of each bin
    t = np.clip((k - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
    m[np.arange(freq), j] = 1.0 - t
    m[np.arange(freq), j + 1] += t
    return m


def expand_band_gains(gains: jax.Array, *, widths: Sequence[int], shape: str = "rectangular") -> jax.Array:
    """Band gains back to one gain per STFT bin.

    ``"rectangular"`` (default) gives every bin of a band the band's gain, as DeepFilterNet
    (``libdf.erb_inv``, ``apply_interp_band_gain``; exact). ``"triangular"`` interpolates
    linearly between band centres (flat below the first and above the last centre), as
    RNNoise/PercepNet, which avoids steps at band edges. Multiply the STFT by the result.

    Args:
      gains: real ``(..., bands, frames)``, ``bands = len(widths)``.
      widths: bins per band (static), e.g. from :func:`erb_widths`.
      shape: ``"rectangular"`` or ``"triangular"`` (static).

    Returns:
      Real ``(..., freq, frames)`` with ``freq = sum(widths)``. Gains of 1 give 1 everywhere with
      either shape.
    """
    fn = "expand_band_gains"
    widths = _widths(fn, widths)
    shape = _checks.choice(fn, "shape", shape, GAIN_SHAPES)
    g = _checks.real_signal(fn, "gains", gains)
    if g.ndim < 2 or g.shape[-2] != len(widths):
        raise ValueError(f"{fn}: gains must have shape (..., bands, frames) with bands = len(widths) = {len(widths)}, "
                         f"got {g.shape}")
    if shape == "rectangular":
        idx = np.repeat(np.arange(len(widths)), widths)
        return jnp.take(g, jnp.asarray(idx), axis=-2)
    m = _triangular(widths)
    return jnp.einsum("fb,...bt->...ft", jnp.asarray(m, g.dtype), g, precision=jax.lax.Precision.HIGHEST)


def post_filter(gains: jax.Array, *, beta: Any = 0.02) -> jax.Array:
    """The gain post-filter of PercepNet, as in DeepFilterNet: attenuates small gains further.

    ``g' = (1 + beta) * g / (1 + beta * (g / (g * sin(pi g / 2)))^2)``, computed as
    ``(1 + beta) * g * sin^2(pi g / 2) / (sin^2(pi g / 2) + beta)`` (equal for ``g > 0``, and 0
    with a finite gradient at ``g = 0``). DeepFilterNet applies it to the band gains at
    inference (``Mask.pf``); applied to ``|enhanced| / |noisy|`` clipped to ``[0, 1]`` it is
    libdf's ``post_filter`` on spectra.

    Args:
      gains: real gains in ``[0, 1]`` of any shape (``(..., bands, frames)`` in practice).
      beta: strength ``>= 0`` (may be traced; scalar or broadcastable). DeepFilterNet: 0.02.

    Returns:
      Real, the shape of ``gains``; ``g' <= g * (1 + beta)`` and ``g' = 1`` at ``g = 1``.
    """
    fn = "post_filter"
    g = _checks.real_signal(fn, "gains", gains)
    _checks.concrete_real(fn, "beta", beta, low=0.0)
    b = jnp.asarray(beta, g.dtype)
    _checks.broadcastable(fn, "beta", b.shape, g.shape, "gains")
    s2 = jnp.sin(jnp.asarray(0.5 * np.pi, g.dtype) * g) ** 2
    return (1.0 + b) * g * _numerics.safe_div(s2, s2 + b)


# ----------------------------------------------------------------------------- deep filter


def _df_args(fn: str, S: Any, coefs: Any, order, lookahead, n_bins, *, frame_axis: bool):
    S = _checks.complex_spec(fn, "S" if frame_axis else "frame", S, min_ndim=2 if frame_axis else 1)
    c = _checks.complex_spec(fn, "coefs", coefs, min_ndim=3 if frame_axis else 2)
    layout = "(..., order, n_bins, frames)" if frame_axis else "(..., order, n_bins)"
    o_ax, b_ax = (-3, -2) if frame_axis else (-2, -1)
    order = c.shape[o_ax] if order is None else _checks.static_int(fn, "order", order, minimum=1)
    n_bins = c.shape[b_ax] if n_bins is None else _checks.static_int(fn, "n_bins", n_bins, minimum=1)
    lookahead = _checks.static_int(fn, "lookahead", lookahead, minimum=0)
    if c.shape[o_ax] != order or c.shape[b_ax] != n_bins:
        raise ValueError(f"{fn}: coefs must have shape {layout} with order={order}, n_bins={n_bins}, got {c.shape}")
    if lookahead >= order:
        raise ValueError(f"{fn}: lookahead must be < order ({order}), got {lookahead}")
    freq = S.shape[-2] if frame_axis else S.shape[-1]
    if n_bins > freq:
        raise ValueError(f"{fn}: n_bins={n_bins} exceeds the {freq} frequency bins of {'S' if frame_axis else 'frame'} "
                         f"(shape {S.shape})")
    ct = jnp.result_type(S.dtype, c.dtype)
    return S.astype(ct), c.astype(ct), order, lookahead, n_bins


def deep_filter(S: jax.Array, coefs: jax.Array, *, order: int | None = None, lookahead: int = 0,
                n_bins: int | None = None) -> jax.Array:
    """DeepFilterNet's deep filter: a complex FIR filter over frames for each of the low bins.

    ``Y[f, t] = sum_{n < order} S[f, t + n - (order - 1 - lookahead)] * coefs[n, f, t]`` for
    ``f < n_bins`` (frames outside the STFT are zero), and ``Y[f, t] = S[f, t]`` above. The
    coefficients multiply the spectrum as they are, without a conjugate (DeepFilterNet's
    ``DF(conj=False)``, its default); tap ``n = order - 1 - lookahead`` is the current frame, the
    last ``lookahead`` taps are future frames. Streaming version: :func:`deep_filter_step`.

    Args:
      S: complex STFT ``(..., freq, frames)``.
      coefs: complex ``(..., order, n_bins, frames)`` (DeepFilterNet's ``[B, O, T, F]`` with the
        frames last), broadcastable batch dims.
      order: filter length in frames (static; default ``coefs.shape[-3]``). DeepFilterNet: ``df_order`` 5.
      lookahead: future frames used (static, ``0 <= lookahead < order``). DeepFilterNet: ``df_lookahead``.
      n_bins: bins filtered (static; default ``coefs.shape[-2]``). DeepFilterNet: ``nb_df`` 96.

    Returns:
      Complex ``(..., freq, frames)`` (the broadcast batch shape of ``S`` and ``coefs``).
    """
    fn = "deep_filter"
    S, c, order, lookahead, n_bins = _df_args(fn, S, coefs, order, lookahead, n_bins, frame_axis=True)
    if c.shape[-1] != S.shape[-1]:
        raise ValueError(f"{fn}: coefs has {c.shape[-1]} frames but S has {S.shape[-1]} (shapes {c.shape}, {S.shape})")
    batch = _checks.same_broadcast(fn, ("S", "coefs"), S.shape[:-2], c.shape[:-3])
    S = jnp.broadcast_to(S, batch + S.shape[-2:])
    T = S.shape[-1]
    low = S[..., :n_bins, :]
    past = order - 1 - lookahead
    padded = jnp.pad(low, [(0, 0)] * (low.ndim - 1) + [(past, lookahead)])
    y = None
    for n in range(order):
        term = padded[..., n:n + T] * c[..., n, :, :]
        y = term if y is None else y + term
    return jnp.concatenate([y, S[..., n_bins:, :]], axis=-2)


def deep_filter_init(*, n_freq: int, order: int, batch_shape: Sequence[int] = (), dtype: Any = jnp.complex64) -> jax.Array:
    """The zero state of :func:`deep_filter_step`: the last ``order`` frames of the STFT.

    Args:
      n_freq: frequency bins of a frame (static positive int), the STFT's ``freq``.
      order: filter length in frames (static positive int).
      batch_shape: leading dims of the frames (static tuple of ints).
      dtype: complex dtype of the frames.

    Returns:
      Complex zeros ``(*batch_shape, n_freq, order)``: the frames before the stream are silence,
      as the zero padding of :func:`deep_filter`.
    """
    fn = "deep_filter_init"
    n_freq = _checks.static_int(fn, "n_freq", n_freq, minimum=1)
    order = _checks.static_int(fn, "order", order, minimum=1)
    try:
        batch_shape = tuple(_checks.static_int(fn, "batch_shape", d, minimum=0) for d in batch_shape)
    except TypeError:
        raise TypeError(f"{fn}: batch_shape must be a tuple of ints, got {batch_shape!r}") from None
    return jnp.zeros(batch_shape + (n_freq, order), _checks.state_dtype(fn, dtype, complex_=True))


def deep_filter_step(frame: jax.Array, coefs: jax.Array, state: jax.Array, *, lookahead: int = 0) -> tuple[jax.Array, jax.Array]:
    """One frame of :func:`deep_filter`, with the last ``order`` frames in a ring buffer.

    Call it with each new STFT frame ``S[..., t]``; it returns the output frame
    ``t - lookahead`` (the filter needs ``lookahead`` future frames). So the outputs of the first
    ``lookahead`` calls come before the stream and are dropped, and ``lookahead`` calls with zero
    frames at the end give the last output frames: the outputs of calls ``lookahead ..
    frames + lookahead - 1`` equal ``deep_filter(S, coefs, lookahead=lookahead)``. At call ``t``,
    pass the coefficients of output frame ``t - lookahead``. Usable inside ``lax.scan``.

    Args:
      frame: complex ``(..., freq)``, the newest STFT frame.
      coefs: complex ``(..., order, n_bins)``, the coefficients of the output frame.
      state: ``(..., freq, order)`` from :func:`deep_filter_init` or the previous call.
      lookahead: future frames used (static, ``0 <= lookahead < order``).

    Returns:
      ``(output, state)``: complex ``(..., freq)`` and the new ``(..., freq, order)`` buffer.

    Raises:
      ValueError: if ``state`` does not have the shape ``frame.shape + (order,)``.
    """
    fn = "deep_filter_step"
    frame, c, order, lookahead, n_bins = _df_args(fn, frame, coefs, None, lookahead, None, frame_axis=False)
    state = _checks.complex_spec(fn, "state", state, min_ndim=2)
    want = frame.shape + (order,)
    if state.shape != want:
        raise ValueError(f"{fn}: state has shape {state.shape}, but frame {frame.shape} and coefs {c.shape} (order "
                         f"{order}) need {want}; make it with deep_filter_init(n_freq={frame.shape[-1]}, order={order}, "
                         f"batch_shape={frame.shape[:-1]})")
    buf = jnp.concatenate([state[..., 1:], frame[..., None].astype(state.dtype)], axis=-1)
    buf = buf.astype(c.dtype)
    low = jnp.einsum("...fn,...nf->...f", buf[..., :n_bins, :], c)
    out = jnp.concatenate([low, buf[..., n_bins:, order - 1 - lookahead]], axis=-1)
    return out, buf


# ----------------------------------------------------------------------------- targets


def erb_irm(clean: jax.Array, noise: jax.Array, *, widths: Sequence[int], beta: Any = 0.5) -> jax.Array:
    """The ideal ratio mask per band: ``(P_S / (P_S + P_N)) ** beta`` of the band powers.

    ``P_S``, ``P_N`` are the mean powers of the clean and noise bins in each band (as
    :func:`band_power`, linear). With ``beta = 0.5`` it is the band gain that gives the clean
    band power for uncorrelated speech and noise: the usual training target of ERB-gain models
    (apply it with :func:`expand_band_gains`). Computed on the spectra divided by a power of two
    near their largest value, so no power over- or underflows.

    Args:
      clean: complex STFT of the clean speech ``(..., freq, frames)``, ``freq = sum(widths)``.
      noise: complex STFT of the noise, same shape.
      widths: bins per band (static), e.g. from :func:`erb_widths`.
      beta: exponent ``> 0`` (may be traced; scalar or broadcastable to the mask).

    Returns:
      Real ``(..., bands, frames)`` in ``[0, 1]``. A band without speech gives 0, a band with
      speech and no noise 1; values and gradients finite at silence.
    """
    fn = "erb_irm"
    widths = _widths(fn, widths)
    S = _checks.complex_spec(fn, "clean", clean)
    N = _checks.complex_spec(fn, "noise", noise)
    _checks.same_shape(fn, ("clean", "noise"), S, N)
    _check_freq(fn, "clean", S.shape, widths)
    ct = jnp.result_type(S.dtype, N.dtype)
    S, N = S.astype(ct), N.astype(ct)
    rdt = jnp.finfo(ct).dtype
    _checks.concrete_positive(fn, "beta", beta)
    b = jnp.asarray(beta, rdt)
    _checks.broadcastable(fn, "beta", b.shape, S.shape[:-2] + (len(widths), S.shape[-1]), "the mask")
    scale = _numerics.pow2_scale(jnp.maximum(_numerics.abs_max(S), _numerics.abs_max(N)), axis=(-2, -1))
    S, N = _numerics.divide_by_scale(S, scale), _numerics.divide_by_scale(N, scale)
    m = _band_matrix(widths, mean=True)
    ps = _apply_bands(m, S.real * S.real + S.imag * S.imag)
    pn = _apply_bands(m, N.real * N.real + N.imag * N.imag)
    return _numerics.safe_pow(_numerics.safe_div(ps, ps + pn), b)
