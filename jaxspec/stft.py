"""Short-time Fourier transform and its inverse, with librosa's parameters and layout.

Layout: waveforms ``(..., samples)``; STFTs complex ``(..., freq, frames)`` with
``freq = n_fft // 2 + 1``. Any number of leading batch dimensions.

Framing and overlap-add use reshapes and ``ceil(n_fft / hop_length)`` shifted slices (no Python
loop over frames, no gather, no scatter-add); windows and the window-sum-square envelope are
NumPy constants computed at trace time. The FFTs go through :mod:`jaxspec._fft`, which keeps a
batch sharded over a device mesh (each device transforms only its rows); the inverse FFT, window
and overlap-add are one op there, which on CPU works row by row so that the transpose from the
``(freq, frames)`` layout stays in cache. ``fft_impl="matmul"`` computes the DFTs as windowed-DFT
matmuls instead.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _fft
from ._fft import frame_rows as _frame, overlap_add as _overlap_add  # noqa: F401  (used by other modules too)
from .windows import WindowSpec, frame_lengths, frame_window, nola_min, window_sumsquare

PAD_MODES = ("constant", "reflect")
NORMALIZATIONS = (False, True, "backward", "ortho", "forward")


def norm_scale(fn: str, normalized, n_fft: int) -> float:
    """The factor :func:`stft` multiplies by for ``normalized`` (``istft`` divides by it).

    ``False``/``"backward"``: 1 (librosa, numpy's default); ``True``/``"ortho"``: ``1/sqrt(n_fft)``
    (torch's ``normalized=True``); ``"forward"``: ``1/n_fft`` (numpy's ``norm="forward"``).
    """
    allowed = "True, False, 'backward', 'ortho' or 'forward'"
    if _checks.is_traced(normalized):
        raise TypeError(f"{fn}: normalized must be a static value ({allowed}), got a traced value")
    if isinstance(normalized, np.bool_):
        normalized = bool(normalized)
    if not isinstance(normalized, (bool, str)):
        raise TypeError(f"{fn}: normalized must be {allowed}; got {normalized!r} of type {type(normalized).__name__}")
    if isinstance(normalized, str) and normalized not in NORMALIZATIONS:
        raise ValueError(f"{fn}: normalized must be {allowed}; got {normalized!r}")
    if normalized in (False, "backward"):
        return 1.0
    if normalized in (True, "ortho"):
        return 1.0 / math.sqrt(n_fft)
    return 1.0 / n_fft


def _resolve(fn: str, n_fft, hop_length, win_length) -> tuple[int, int, int]:
    n_fft, win_length = frame_lengths(fn, n_fft, win_length)
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1, allow_none=True)
    if hop_length is None:
        hop_length = max(1, win_length // 4)
    return n_fft, hop_length, win_length


def n_frames(length: int, *, n_fft: int = 512, hop_length: int | None = None, center: bool = True) -> int:
    """Number of STFT frames for a signal of ``length`` samples (a static Python int).

    Args:
      length: number of samples (static int >= 0).
      n_fft: FFT size.
      hop_length: hop in samples; default ``n_fft // 4``.
      center: whether the signal is padded by ``n_fft // 2`` on both sides (as in :func:`stft`).

    Returns:
      ``int``: ``1 + (length + 2 * (n_fft // 2) - n_fft) // hop_length`` when ``center`` (i.e.
      ``1 + length // hop_length`` for even ``n_fft``), ``1 + (length - n_fft) // hop_length``
      otherwise. Matches the frame count of ``librosa.stft``.
    """
    fn = "n_frames"
    length = _checks.static_int(fn, "length", length, minimum=0)
    n_fft, hop_length, _ = _resolve(fn, n_fft, hop_length, None)
    center = _checks.static_bool(fn, "center", center)
    padded = length + 2 * (n_fft // 2) if center else length
    if padded < n_fft:
        raise ValueError(f"{fn}: a signal of length {length} is shorter than n_fft={n_fft} with center=False")
    return 1 + (padded - n_fft) // hop_length


def frame(x: jax.Array, *, frame_length: int, hop_length: int) -> jax.Array:
    """Slice a signal into overlapping frames (no padding).

    Args:
      x: ``(..., samples)`` array with ``samples >= frame_length``.
      frame_length: samples per frame (static).
      hop_length: samples between frame starts (static).

    Returns:
      ``(..., n_frames, frame_length)`` with ``n_frames = 1 + (samples - frame_length) // hop_length``.
      Unlike ``librosa.util.frame``, the frame axis comes before the sample axis (the layout an
      ``rfft`` over the last axis wants).
    """
    fn = "frame"
    frame_length = _checks.static_int(fn, "frame_length", frame_length, minimum=1)
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1)
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] < frame_length:
        raise ValueError(f"{fn}: x must have shape (..., samples) with samples >= frame_length={frame_length}, got {x.shape}")
    return _frame(x, frame_length, hop_length)


def overlap_add(frames: jax.Array, *, hop_length: int) -> jax.Array:
    """Overlap-add frames into a signal (the adjoint of :func:`frame`).

    Args:
      frames: ``(..., n_frames, frame_length)``.
      hop_length: samples between frame starts (static).

    Returns:
      ``(..., frame_length + hop_length * (n_frames - 1))``, the sum of the shifted frames
      (no window normalisation).
    """
    hop_length = _checks.static_int("overlap_add", "hop_length", hop_length, minimum=1)
    frames = jnp.asarray(frames)
    if frames.ndim < 2:
        raise ValueError(f"overlap_add: frames must have shape (..., n_frames, frame_length), got {frames.shape}")
    return _overlap_add(frames, hop_length)


def stft(
    x: jax.Array,
    *,
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    normalized: bool | str = False,
    fft_impl: str = "fft",
) -> jax.Array:
    """Short-time Fourier transform of a real signal.

    Matches ``librosa.stft(x, n_fft=..., hop_length=..., win_length=..., window=..., center=...,
    pad_mode=...)`` (layout, frame count, no scaling), with a speech-sized default ``n_fft=512``
    (librosa: 2048). Unlike ``jax.scipy.signal.stft`` there is no ``1 / sum(window)`` scaling and
    no extra padded frame.

    Args:
      x: real signal ``(..., samples)``. float32 gives complex64, float64 (x64 on) complex128;
        bfloat16/float16 are computed in float32. Integer PCM raises ``TypeError``. An input that
        looks like soundfile's ``(samples, channels)`` layout (last axis at most ``n_fft / 8``
        long while another axis is at least ``4 * n_fft``) raises ``ValueError``: transpose it.
      n_fft: FFT size (static); ``freq = n_fft // 2 + 1`` rows. Odd sizes are allowed.
      hop_length: samples between frames (static); default ``win_length // 4``.
      win_length: window length (static, ``<= n_fft``); default ``n_fft``. A shorter window is
        zero-padded to ``n_fft``, centred in the frame.
      window: name, ``(name, param)`` tuple or array; see :func:`jaxspec.get_window`. Periodic.
      center: pad ``n_fft // 2`` samples on both sides so that frame ``t`` is centred at
        ``t * hop_length``.
      pad_mode: ``"constant"`` (zeros) or ``"reflect"``, used when ``center`` is True.
      normalized: ``False`` (default, no scaling, as librosa); ``True`` or ``"ortho"``: multiply
        by ``1 / sqrt(n_fft)`` (torch's ``normalized=True``); ``"forward"``: multiply by
        ``1 / n_fft`` (numpy's ``norm="forward"``; with ``window="vorbis"`` and
        ``hop_length=n_fft // 2`` this is DeepFilterNet's analysis scaling, see
        :mod:`jaxspec.bands`); ``"backward"`` is the same as ``False``. Static.
      fft_impl: ``"fft"`` (default) or ``"matmul"``: the DFT as one real matmul with the window
        folded into an ``(n_fft, 2 * freq)`` cosine/sine matrix built at trace time
        (``precision=HIGHEST``). Agrees with the FFT to 7e-7 of the peak magnitude in float32. It
        can be faster where matmuls are cheap and FFTs are not (TPU) at speech sizes; on CPU it
        is slower. Static.

    Returns:
      Complex ``(..., freq, frames)`` with ``frames = n_frames(samples, n_fft=n_fft,
      hop_length=hop_length, center=center)``.
    """
    fn = "stft"
    x = _checks.real_signal(fn, "x", x)
    n_fft, hop, win_length = _resolve(fn, n_fft, hop_length, win_length)
    center = _checks.static_bool(fn, "center", center)
    pad_mode = _checks.choice(fn, "pad_mode", pad_mode, PAD_MODES)
    scale = norm_scale(fn, normalized, n_fft)
    fft_impl = _checks.choice(fn, "fft_impl", fft_impl, _fft.FFT_IMPLS)
    w = frame_window(window, n_fft=n_fft, win_length=win_length, fn=fn)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{fn}: x must have shape (..., samples) with samples >= 1, got {x.shape}")
    if x.ndim >= 2 and 8 * x.shape[-1] <= n_fft and max(x.shape[:-1]) >= 4 * n_fft:
        long_axis = int(np.argmax(x.shape[:-1])) - x.ndim
        raise ValueError(
            f"{fn}: x has shape {x.shape}: its last axis ({x.shape[-1]} samples) is far shorter than n_fft={n_fft} "
            f"while axis {long_axis} is long ({x.shape[long_axis]}). stft transforms the last axis; for "
            f"soundfile-style (samples, channels) audio pass jnp.swapaxes(x, -1, -2) (i.e. x.T for 2-D input)"
        )
    if not center and x.shape[-1] < n_fft:
        raise ValueError(
            f"{fn}: with center=False the signal must have at least n_fft={n_fft} samples, got "
            f"x.shape[-1]={x.shape[-1]}; use center=True or a smaller n_fft"
        )
    if fft_impl == "matmul":
        return _fft.rfft_matmul(_frame(_center_pad(x, n_fft, center, pad_mode), n_fft, hop), window=w * scale)
    spec = _analysis(x, n_fft, hop, w, center, pad_mode)
    if scale != 1.0:
        spec = spec * jnp.asarray(scale, x.dtype)
    return jnp.swapaxes(spec, -1, -2)


def _center_pad(x: jax.Array, n_fft: int, center: bool, pad_mode: str) -> jax.Array:
    if not center:
        return x
    p = n_fft // 2
    return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(p, p)], mode=pad_mode)


def _analysis(x: jax.Array, n_fft: int, hop: int, w: np.ndarray, center: bool, pad_mode: str) -> jax.Array:
    """:func:`stft`'s arithmetic on validated arguments, frames first: ``(..., frames, freq)``."""
    return _fft.rfft(_frame(_center_pad(x, n_fft, center, pad_mode), n_fft, hop) * jnp.asarray(w, x.dtype), axis=-1)


def istft(
    S: jax.Array,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    normalized: bool | str = False,
    length: int | None = None,
    fft_impl: str = "fft",
) -> jax.Array:
    """Inverse STFT by weighted overlap-add, dividing by the window-sum-square envelope.

    Matches ``librosa.istft`` (same frame use, trimming and ``length`` semantics). Inverts
    :func:`stft` exactly (to float rounding) whenever the window and hop satisfy NOLA.

    Args:
      S: complex STFT ``(..., freq, frames)``.
      n_fft: FFT size (static); default ``2 * (freq - 1)``. Pass it for odd sizes; it must satisfy
        ``n_fft // 2 + 1 == freq``.
      hop_length: static; default ``win_length // 4``.
      win_length: static, ``<= n_fft``; default ``n_fft``.
      window: as in :func:`stft`; must satisfy NOLA at this hop (checked at trace time).
      center: undo the ``n_fft // 2`` padding of a centred STFT.
      normalized: undo :func:`stft`'s scaling of the same name: ``True``/``"ortho"`` multiplies
        by ``sqrt(n_fft)``, ``"forward"`` by ``n_fft``; ``False``/``"backward"`` by 1. Static.
      length: output length in samples (static). Longer output is zero-padded, shorter trimmed;
        only the frames needed are used. Default: ``hop_length * (frames - 1)`` plus
        ``n_fft`` when not ``center``.
      fft_impl: ``"fft"`` (default) or ``"matmul"``: the inverse DFT as one real matmul of the
        stacked real and imaginary planes with a ``(2 * freq, n_fft)`` matrix that has the
        synthesis window folded in (see :func:`stft`). Static.

    Returns:
      Real ``(..., samples)`` in the real dtype matching ``S`` (complex64 -> float32).

    Raises:
      ValueError: if the window/hop violate NOLA (the envelope would be zero), or ``n_fft``
        disagrees with ``S.shape[-2]``.
    """
    fn = "istft"
    S = _checks.complex_spec(fn, "S", S)
    freq = S.shape[-2]
    if n_fft is None:
        if freq < 2:
            raise ValueError(f"{fn}: cannot infer n_fft from S.shape[-2]={freq}; pass n_fft")
        n_fft = 2 * (freq - 1)
    n_fft, hop, win_length = _resolve(fn, n_fft, hop_length, win_length)
    if n_fft // 2 + 1 != freq:
        raise ValueError(f"{fn}: n_fft={n_fft} expects S.shape[-2] == {n_fft // 2 + 1} frequency bins, got {freq} (shape {S.shape})")
    center = _checks.static_bool(fn, "center", center)
    inv_scale = 1.0 / norm_scale(fn, normalized, n_fft)
    length = _checks.static_int(fn, "length", length, minimum=0, allow_none=True)
    fft_impl = _checks.choice(fn, "fft_impl", fft_impl, _fft.FFT_IMPLS)
    w = _synthesis_window(fn, window, n_fft, hop, win_length)
    T = S.shape[-1]
    if length is not None:
        padded = length + 2 * (n_fft // 2) if center else length
        T = min(T, -(-padded // hop))
        S = S[..., :T]
    if T < 1:
        raise ValueError(f"{fn}: S must have at least one frame, got shape {S.shape}")
    scale = w * inv_scale
    if fft_impl == "matmul":
        y = _overlap_add(_fft.irfft_matmul(S, n=n_fft, window=scale), hop)
    else:
        y = _fft.synthesis(S, n=n_fft, hop=hop, window=scale)
    return _normalise_and_trim(y, w, T, n_fft, hop, center, length)


def _synthesis_window(fn: str, window, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """The frame window, after checking that it satisfies NOLA at ``hop`` (else ``ValueError``)."""
    w = frame_window(window, n_fft=n_fft, win_length=win_length, fn=fn)
    if nola_min(w, hop) <= 1e-10 * float(np.max(w * w, initial=0.0)):
        raise ValueError(
            f"{fn}: window={window!r} with win_length={win_length} and hop_length={hop} violates NOLA "
            f"(the sum of squared shifted windows is zero somewhere), so the STFT cannot be inverted; "
            f"use a smaller hop_length or another window"
        )
    return w


def _synthesis_frames_first(S: jax.Array, n_fft: int, hop: int, w: np.ndarray, center: bool,
                            length: int | None) -> jax.Array:
    """:func:`istft` of a validated frames-first STFT ``(..., frames, freq)`` whose frame count
    ``length`` already fits (``normalized=False``), with no transpose: for loops such as
    Griffin-Lim's that stay frames first from one iteration to the next."""
    y = _fft.synthesis(S, n=n_fft, hop=hop, window=w, frames_first=True)
    return _normalise_and_trim(y, w, S.shape[-2], n_fft, hop, center, length)


def _normalise_and_trim(y: jax.Array, w: np.ndarray, T: int, n_fft: int, hop: int, center: bool,
                        length: int | None) -> jax.Array:
    """Divide the overlap-added ``y`` by the window-sum-square envelope and cut it as ``istft``."""
    rdt = y.dtype
    env = window_sumsquare(w, T, hop)
    start = n_fft // 2 if center else 0
    if length is None:
        expected = n_fft + hop * (T - 1) - (2 * (n_fft // 2) if center else 0)
    else:
        expected = length
    stop = min(start + expected, y.shape[-1])
    env = env[start:stop]
    tiny = np.finfo(np.float32 if rdt == jnp.float32 else np.float64).tiny
    inv = np.where(env > tiny, 1.0 / np.where(env > tiny, env, 1.0), 1.0)
    y = y[..., start:stop] * jnp.asarray(inv, rdt)
    if y.shape[-1] < expected:
        y = jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, expected - y.shape[-1])])
    return y


def frequencies(*, sr: float, n_fft: int) -> jax.Array:
    """Centre frequency in Hz of each STFT row.

    Args:
      sr: sample rate in Hz (static, > 0).
      n_fft: FFT size (static).

    Returns:
      ``(freq,)`` float32 array ``k * sr / n_fft`` for ``k = 0 .. n_fft // 2``
      (matches ``librosa.fft_frequencies``).
    """
    sr = _checks.static_float("frequencies", "sr", sr, minimum=0.0, strict=True)
    n_fft = _checks.static_int("frequencies", "n_fft", n_fft, minimum=1)
    return jnp.asarray(np.fft.rfftfreq(n_fft, 1.0 / sr), jnp.float32)


def frame_times(n_frames: int, *, sr: float, hop_length: int, n_fft: int | None = None) -> jax.Array:
    """Time in seconds of each STFT column.

    Args:
      n_frames: number of frames (static).
      sr: sample rate in Hz (static, > 0).
      hop_length: hop in samples (static).
      n_fft: pass it for an STFT computed with ``center=False`` to get frame centres
        (adds ``n_fft // 2`` samples, like ``librosa.frames_to_time(..., n_fft=n_fft)``);
        leave it None for centred frames.

    Returns:
      ``(n_frames,)`` float32 array ``(t * hop_length + offset) / sr``.
    """
    fn = "frame_times"
    n_frames = _checks.static_int(fn, "n_frames", n_frames, minimum=0)
    sr = _checks.static_float(fn, "sr", sr, minimum=0.0, strict=True)
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1)
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=1, allow_none=True)
    offset = 0 if n_fft is None else n_fft // 2
    return jnp.asarray((np.arange(n_frames) * hop_length + offset) / sr, jnp.float32)
