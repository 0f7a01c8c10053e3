"""Streaming STFT and iSTFT: chunk by chunk, with state, equal to :func:`jaxspec.stft` and
:func:`jaxspec.istft` on the whole signal.

Each transform is a triple of pure functions, the contract of every streamed function here:

- ``stft_init(batch_shape=..., **params) -> state``
- ``stft_step(x, state, **params) -> (Chunk, state)`` for each new chunk ``x`` ``(..., c)``
- ``stft_flush(state, **params) -> (Chunk, state)`` once, after the last chunk

and the same for ``istft_*`` on chunks of frames ``(..., freq, k)``. ``params`` are the keyword
arguments of the offline function (``n_fft``, ``hop_length``, ``win_length``, ``window``,
``center``, ``normalized``, ``fft_impl``); the state remembers them and a step refuses a state made
with other parameters, another batch shape or another dtype (``ValueError``).

The state is a pytree of fixed-shape arrays (its parameters are static metadata), so a step runs
inside ``jax.lax.scan``, under ``jit`` and ``grad``, and on a batch-sharded array. The chunk size
is static per call (a new size is a new trace) but may change from call to call: the state does
not depend on it.

A step cannot always emit the same number of frames (a chunk of 100 samples completes zero or
one frame of hop 128), so every output is a :class:`Chunk`: ``values`` with a fixed number of
slots along the time axis and ``valid``, a boolean mask over those slots. Keeping the valid
slots of every step and of the flush, in order, gives exactly the offline result::

    state = streaming.stft_init(n_fft=512, hop_length=128)
    for x in chunks:                       # any chunk sizes
        out, state = streaming.stft_step(x, state, n_fft=512, hop_length=128)
        frames.append(out.values[..., out.valid])
    out, state = streaming.stft_flush(state, n_fft=512, hop_length=128)
    frames.append(out.values[..., out.valid])
    S = np.concatenate(frames, axis=-1)    # == jaxspec.stft(x_whole, n_fft=512, hop_length=128)

:func:`collect` does that concatenation on stacked outputs (of a ``lax.scan``). ``valid`` has no
batch dimensions (every example of a batch is at the same place in its stream); it gains them
only when the state itself is vmapped.

``pad_mode="constant"`` only: reflection at the end of a stream needs samples a streaming
transform has already given out, and at the start it adds latency; use zeros.

:func:`latency` states the delay of a streamed analysis -> per-frame processing -> synthesis
chain in samples, for a chunk size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _fft
from .stft import _frame, _overlap_add, _resolve, norm_scale
from .windows import WindowSpec, frame_window, nola_min, window_sumsquare

__all__ = [
    "Chunk",
    "STFTState",
    "ISTFTState",
    "stft_init",
    "stft_step",
    "stft_flush",
    "istft_init",
    "istft_step",
    "istft_flush",
    "collect",
    "latency",
]


class Chunk(NamedTuple):
    """One streamed output: ``values`` with a fixed number of time slots (frames for the STFT,
    samples for the iSTFT, on the last axis) and ``valid`` ``(slots,)``, True where a slot holds
    output. Invalid slots are zeros. A pytree, so ``lax.scan`` stacks it."""

    values: jax.Array
    valid: jax.Array


@dataclasses.dataclass(frozen=True)
class STFTState:
    """State of the streamed STFT.

    ``buffer``: ``(*batch_shape, n_fft)``, the last ``n_fft`` samples of the (padded) signal.
    ``position``: int32 scalar, where the stream is relative to the frame grid (samples of the
    padded signal received, reduced modulo ``hop_length`` once the first frame is out, so it
    does not overflow on long streams). ``params``: the static parameters it was made with.
    """

    buffer: jax.Array
    position: jax.Array
    params: tuple = dataclasses.field(metadata=dict(static=True))


@dataclasses.dataclass(frozen=True)
class ISTFTState:
    """State of the streamed iSTFT.

    ``pending``: ``(*batch_shape, n_fft - hop_length)``, the overlap-added samples that later
    frames still add to. ``frames``: int32 scalar, frames received so far. ``params``: the static
    parameters it was made with.
    """

    pending: jax.Array
    frames: jax.Array
    params: tuple = dataclasses.field(metadata=dict(static=True))


jax.tree_util.register_dataclass(STFTState, data_fields=["buffer", "position"], meta_fields=["params"])
jax.tree_util.register_dataclass(ISTFTState, data_fields=["pending", "frames"], meta_fields=["params"])

_PARAM_NAMES = ("n_fft", "hop_length", "win_length", "window", "center", "normalized")


@dataclasses.dataclass(frozen=True)
class _Config:
    n_fft: int
    hop: int
    win_length: int
    window_id: str
    window_repr: str
    center: bool
    normalized: Any
    scale: float
    fft_impl: str
    w: np.ndarray = dataclasses.field(compare=False, repr=False)

    @property
    def key(self) -> tuple:
        """What a state remembers (``fft_impl`` changes rounding only, not the state)."""
        return (self.n_fft, self.hop, self.win_length, self.window_id, self.center, self.scale)

    def describe(self) -> tuple:
        return (self.n_fft, self.hop, self.win_length, self.window_repr, self.center, self.normalized)


def _config(fn: str, n_fft, hop_length, win_length, window, center, pad_mode, normalized, fft_impl,
            *, inverse: bool) -> _Config:
    n_fft, hop, win_length = _resolve(fn, n_fft, hop_length, win_length)
    center = _checks.static_bool(fn, "center", center)
    if pad_mode != "constant":
        _checks.choice(fn, "pad_mode", pad_mode, ("constant", "reflect"))
        raise ValueError(
            f"{fn}: pad_mode={pad_mode!r} cannot be streamed (reflection at the end of a stream needs samples "
            f"already given out); use pad_mode='constant'"
        )
    scale = norm_scale(fn, normalized, n_fft)
    fft_impl = _checks.choice(fn, "fft_impl", fft_impl, _fft.FFT_IMPLS)
    w = frame_window(window, n_fft=n_fft, win_length=win_length, fn=fn)
    if inverse and nola_min(w, hop) <= 1e-10 * float(np.max(w * w, initial=0.0)):
        raise ValueError(
            f"{fn}: window={window!r} with win_length={win_length} and hop_length={hop} violates NOLA "
            f"(the sum of squared shifted windows is zero somewhere), so the STFT cannot be inverted; "
            f"use a smaller hop_length or another window"
        )
    wid = hashlib.sha1(np.ascontiguousarray(w, np.float64).tobytes()).hexdigest()[:16]
    wrepr = f"array{tuple(np.shape(window))}" if not isinstance(window, (str, tuple)) else repr(window)
    return _Config(n_fft, hop, win_length, wid, wrepr, center, normalized, scale, fft_impl, w)


def _batch_shape(fn: str, batch_shape) -> tuple:
    if isinstance(batch_shape, (int, np.integer)):
        batch_shape = (batch_shape,)
    try:
        return tuple(_checks.static_int(fn, "batch_shape", d, minimum=0) for d in batch_shape)
    except TypeError:
        raise TypeError(f"{fn}: batch_shape must be a tuple of ints, got {batch_shape!r}") from None


def _check_state(fn: str, state, cls, cfg: _Config, batch: tuple, dtype, what: str) -> None:
    if not isinstance(state, cls):
        made = {STFTState: "stft_init", ISTFTState: "istft_init"}[cls]
        raise TypeError(f"{fn}: state must be a {cls.__name__} from {made} or the previous step, got {type(state).__name__}")
    if state.params[0] != cfg.key:
        made = dict(zip(_PARAM_NAMES, state.params[1]))
        now = dict(zip(_PARAM_NAMES, cfg.describe()))
        diff = ", ".join(f"{k}={made[k]!r} (this call: {now[k]!r})" for k in _PARAM_NAMES if made[k] != now[k])
        if not diff:  # same names, other window values (e.g. two different arrays)
            diff = f"window {made['window']} with other values"
        raise ValueError(f"{fn}: the state was made with other parameters: {diff}")
    arr = state.buffer if cls is STFTState else state.pending
    if arr.shape[:-1] != batch:
        raise ValueError(f"{fn}: the state was made for batch shape {arr.shape[:-1]}, but {what} has batch shape {batch}")
    if arr.dtype != dtype:
        raise ValueError(f"{fn}: the state holds {arr.dtype}, but {what} is {dtype}; make the state with dtype={dtype}")


# ----------------------------------------------------------------------------- STFT


def stft_init(
    *,
    batch_shape: Sequence[int] = (),
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    normalized: bool | str = False,
    fft_impl: str = "fft",
    dtype: Any = jnp.float32,
) -> STFTState:
    """The state of a streamed :func:`jaxspec.stft` before the first sample.

    Args:
      batch_shape: leading dims of the chunks (static tuple of ints), e.g. ``(channels,)``.
      n_fft, hop_length, win_length, window, center, normalized, fft_impl: as in
        :func:`jaxspec.stft` (static); pass the same ones to every step and the flush.
      pad_mode: ``"constant"`` only (see the module docstring).
      dtype: real dtype of the chunks (float32; float64 with x64).

    Returns:
      A :class:`STFTState`. With ``center=True`` the ``n_fft // 2`` zeros of the left padding are
      already in it.
    """
    fn = "stft_init"
    cfg = _config(fn, n_fft, hop_length, win_length, window, center, pad_mode, normalized, fft_impl, inverse=False)
    batch = _batch_shape(fn, batch_shape)
    dt = _checks.state_dtype(fn, dtype)
    start = cfg.n_fft // 2 if cfg.center else 0
    return STFTState(jnp.zeros(batch + (cfg.n_fft,), dt), jnp.asarray(start, jnp.int32), (cfg.key, cfg.describe()))


def _frames_done(q, n_fft: int, hop: int):
    """Frames of the padded signal complete once ``q`` of its samples have arrived."""
    return jnp.maximum(0, (q - n_fft) // hop + 1)


def _stft_advance(x: jax.Array, state: STFTState, cfg: _Config) -> tuple[Chunk, STFTState]:
    n_fft, hop = cfg.n_fft, cfg.hop
    c = x.shape[-1]
    K = -(-c // hop)
    pos = state.position
    t0 = _frames_done(pos, n_fft, hop)
    count = _frames_done(pos + c, n_fft, hop) - t0
    seq = jnp.concatenate([state.buffer, x], axis=-1)  # padded samples [pos - n_fft, pos + c)
    new_buffer = seq[..., c:]
    new_pos = pos + c
    # once past the first frame only the phase on the hop grid matters: keep the counter small
    new_pos = jnp.where(new_pos >= n_fft + hop, n_fft + (new_pos - n_fft) % hop, new_pos)
    new_state = STFTState(new_buffer, new_pos.astype(jnp.int32), state.params)
    batch = x.shape[:-1]
    freq = n_fft // 2 + 1
    if K == 0:
        cdt = jnp.result_type(x.dtype, jnp.complex64)
        return Chunk(jnp.zeros(batch + (freq, 0), cdt), jnp.zeros((0,), bool)), new_state
    W = (K - 1) * hop + n_fft
    offset = t0 * hop - (pos - n_fft)  # where frame t0 starts in seq: 1 .. max(n_fft, hop)
    seq = jnp.pad(seq, [(0, 0)] * len(batch) + [(0, max(n_fft, hop) + W - (n_fft + c))])
    win = jax.lax.dynamic_slice_in_dim(seq, offset, W, axis=-1)
    frames = _frame(win, n_fft, hop)  # (..., K, n_fft)
    valid = jnp.arange(K) < count
    frames = jnp.where(valid[:, None], frames, jnp.zeros((), frames.dtype))
    if cfg.fft_impl == "matmul":
        spec = jnp.swapaxes(_fft.rfft_matmul(frames, window=cfg.w * cfg.scale), -1, -2)
        return Chunk(spec, valid), new_state
    spec = _fft.rfft(frames * jnp.asarray(cfg.w, x.dtype), axis=-1)
    if cfg.scale != 1.0:
        spec = spec * jnp.asarray(cfg.scale, x.dtype)
    return Chunk(jnp.swapaxes(spec, -1, -2), valid), new_state


def stft_step(
    x: jax.Array,
    state: STFTState,
    *,
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    normalized: bool | str = False,
    fft_impl: str = "fft",
) -> tuple[Chunk, STFTState]:
    """Feed the next chunk of a stream to a streamed :func:`jaxspec.stft`.

    Args:
      x: real ``(*batch_shape, c)``, the next ``c >= 1`` samples (``c`` static, any size).
      state: from :func:`stft_init` or the previous step, made with the same parameters.
      n_fft, ...: the parameters of :func:`stft_init`.

    Returns:
      ``(Chunk, state)``: ``values`` complex ``(*batch_shape, freq, ceil(c / hop_length))``, the
      frames this chunk completes in its first ``valid.sum()`` slots, and the new state.

    Raises:
      ValueError: the state was made with other parameters, batch shape or dtype.
    """
    fn = "stft_step"
    cfg = _config(fn, n_fft, hop_length, win_length, window, center, pad_mode, normalized, fft_impl, inverse=False)
    x = _checks.real_signal(fn, "x", x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{fn}: x must have shape (*batch_shape, samples) with samples >= 1, got {x.shape}")
    _check_state(fn, state, STFTState, cfg, x.shape[:-1], x.dtype, "x")
    return _stft_advance(x, state, cfg)


def stft_flush(
    state: STFTState,
    *,
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    normalized: bool | str = False,
    fft_impl: str = "fft",
) -> tuple[Chunk, STFTState]:
    """End a streamed :func:`jaxspec.stft`: the frames that need the right padding.

    Args:
      state: from the last :func:`stft_step` (or :func:`stft_init` for an empty stream).
      n_fft, ...: the parameters of :func:`stft_init`.

    Returns:
      ``(Chunk, state)``: with ``center=True``, ``values`` ``(*batch_shape, freq,
      ceil((n_fft // 2) / hop_length))``, the last frames (those that reach into the ``n_fft // 2``
      zeros after the signal); with ``center=False`` no slots. After the flush the stream has
      given ``n_frames(length, ...)`` frames in all, as :func:`jaxspec.stft`.
    """
    fn = "stft_flush"
    cfg = _config(fn, n_fft, hop_length, win_length, window, center, pad_mode, normalized, fft_impl, inverse=False)
    if not isinstance(state, STFTState):
        raise TypeError(f"{fn}: state must be a STFTState from stft_init or stft_step, got {type(state).__name__}")
    batch, dt = state.buffer.shape[:-1], state.buffer.dtype
    _check_state(fn, state, STFTState, cfg, batch, dt, "the state")
    tail = jnp.zeros(batch + ((cfg.n_fft // 2) if cfg.center else 0,), dt)
    return _stft_advance(tail, state, cfg)


# ----------------------------------------------------------------------------- iSTFT


def _envelopes(cfg: _Config, rdt) -> tuple[np.ndarray, np.ndarray]:
    """Inverse window-sum-square envelopes: ``head[min(t, q - 1)]`` for the hop samples that frame
    ``t`` completes, ``tail[min(T, q)]`` for the ``n_fft - hop`` samples after ``T`` frames."""
    n_fft, hop, w = cfg.n_fft, cfg.hop, cfg.w
    q = -(-n_fft // hop)
    tiny = np.finfo(np.float32 if rdt == jnp.float32 else np.float64).tiny
    inv = lambda e: np.where(e > tiny, 1.0 / np.where(e > tiny, e, 1.0), 1.0)
    ws = window_sumsquare(w, q, hop)
    head = np.stack([ws[t * hop:(t + 1) * hop] for t in range(q)])
    A = n_fft - hop
    tail = np.zeros((q + 1, A))
    for m in range(1, q + 1):
        tail[m] = window_sumsquare(w, m, hop)[-A:] if A else tail[m]
    return inv(head).astype(rdt), inv(tail).astype(rdt)


def istft_init(
    *,
    batch_shape: Sequence[int] = (),
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    normalized: bool | str = False,
    fft_impl: str = "fft",
    dtype: Any = jnp.float32,
) -> ISTFTState:
    """The state of a streamed :func:`jaxspec.istft` before the first frame.

    Args:
      batch_shape: leading dims of the frames (static tuple of ints).
      n_fft, hop_length, win_length, window, center, normalized, fft_impl: as in
        :func:`jaxspec.istft` (static; ``n_fft`` is required here, it cannot be inferred before
        the first frame). The window must satisfy NOLA at this hop.
      dtype: real dtype of the output (float32 for complex64 frames; float64 with x64).

    Returns:
      An :class:`ISTFTState`.
    """
    fn = "istft_init"
    cfg = _config(fn, n_fft, hop_length, win_length, window, center, "constant", normalized, fft_impl, inverse=True)
    if cfg.hop > cfg.n_fft:  # NOLA fails then; kept for clarity
        raise ValueError(f"{fn}: hop_length ({cfg.hop}) must be <= n_fft ({cfg.n_fft})")
    batch = _batch_shape(fn, batch_shape)
    dt = _checks.state_dtype(fn, dtype)
    return ISTFTState(jnp.zeros(batch + (cfg.n_fft - cfg.hop,), dt), jnp.asarray(0, jnp.int32), (cfg.key, cfg.describe()))


def istft_step(
    S: jax.Array,
    state: ISTFTState,
    *,
    valid: jax.Array | None = None,
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    normalized: bool | str = False,
    fft_impl: str = "fft",
) -> tuple[Chunk, ISTFTState]:
    """Feed the next frames to a streamed :func:`jaxspec.istft`.

    Args:
      S: complex ``(*batch_shape, freq, k)``, the next ``k >= 1`` frames (``k`` static).
      state: from :func:`istft_init` or the previous step, made with the same parameters.
      valid: optional ``(k,)`` bool, which of the ``k`` slots hold frames (a prefix, as in the
        :class:`Chunk` of :func:`stft_step`, so its output can be passed on as it is); default all.
      n_fft, ...: the parameters of :func:`istft_init`.

    Returns:
      ``(Chunk, state)``: ``values`` real ``(*batch_shape, k * hop_length)``: each frame completes
      ``hop_length`` output samples (the overlap of later frames is kept in the state); with
      ``center=True`` the first ``n_fft // 2`` samples of the stream (the padding) are not valid.

    Raises:
      ValueError: the state was made with other parameters, batch shape or dtype, or ``S`` has the
        wrong number of bins.
    """
    fn = "istft_step"
    cfg = _config(fn, n_fft, hop_length, win_length, window, center, "constant", normalized, fft_impl, inverse=True)
    S = _checks.complex_spec(fn, "S", S)
    n_fft, hop = cfg.n_fft, cfg.hop
    if S.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"{fn}: n_fft={n_fft} expects S.shape[-2] == {n_fft // 2 + 1} frequency bins, got shape {S.shape}")
    K = S.shape[-1]
    if K < 1:
        raise ValueError(f"{fn}: S must hold at least one frame, got shape {S.shape}")
    rdt = jnp.finfo(S.dtype).dtype
    _check_state(fn, state, ISTFTState, cfg, S.shape[:-2], rdt, "S's real part")
    if valid is None:
        valid = jnp.ones((K,), bool)
    else:
        valid = jnp.asarray(valid)
        if valid.dtype != bool or valid.shape != (K,):
            raise ValueError(f"{fn}: valid must be a ({K},) bool mask over S's frames, got {valid.dtype} {valid.shape}")
    batch = S.shape[:-2]
    nb = len(batch)
    inv_scale = 1.0 / cfg.scale
    if cfg.fft_impl == "matmul":
        frames = _fft.irfft_matmul(S, n=n_fft, window=cfg.w * inv_scale)
    else:
        frames = _fft.irfft(jnp.swapaxes(S, -1, -2), n=n_fft, axis=-1) * jnp.asarray(cfg.w * inv_scale, rdt)
    frames = jnp.where(valid[:, None], frames, jnp.zeros((), rdt))  # (..., K, n_fft)
    y = _overlap_add(frames, hop)  # (..., K * hop + A)
    A = n_fft - hop
    y = y + jnp.pad(state.pending, [(0, 0)] * nb + [(0, K * hop)])
    n = jnp.sum(valid.astype(jnp.int32))
    new_pending = jax.lax.dynamic_slice_in_dim(y, n * hop, A, axis=-1)
    head, _ = _envelopes(cfg, rdt)
    q = head.shape[0]
    t0 = state.frames
    t = t0 + jnp.arange(K)
    inv = jnp.asarray(head)[jnp.minimum(t, q - 1)].reshape(-1)  # (K * hop,)
    i = jnp.arange(K * hop)
    p = n_fft // 2 if cfg.center else 0
    past_pad = (jnp.minimum(t0, p // hop + 1) * hop + i) >= p  # clamped: no overflow on long streams
    ok = (i < n * hop) & past_pad
    out = jnp.where(ok, y[..., :K * hop] * inv, jnp.zeros((), rdt))
    return Chunk(out, ok), ISTFTState(new_pending, (t0 + n).astype(jnp.int32), state.params)


def istft_flush(
    state: ISTFTState,
    *,
    length: int | jax.Array | None = None,
    n_fft: int = 512,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    normalized: bool | str = False,
    fft_impl: str = "fft",
) -> tuple[Chunk, ISTFTState]:
    """End a streamed :func:`jaxspec.istft`: the samples that only the last frames reach.

    Args:
      state: from the last :func:`istft_step`.
      length: the total output length in samples, as ``istft(..., length=...)``; an int or a traced
        int32 scalar (only the mask depends on it). Default: :func:`jaxspec.istft`'s default,
        ``hop_length * (frames - 1) + n_fft`` minus the padding.
      n_fft, ...: the parameters of :func:`istft_init`.

    Returns:
      ``(Chunk, state)``: ``values`` real ``(*batch_shape, n_fft)``. The valid samples of all steps
      and the flush are ``istft(S_all, length=length)`` (for a ``length`` up to ``n_fft`` samples
      past the last frame's hop; beyond it :func:`jaxspec.istft` pads zeros, which a stream can
      append itself). Steps give out each sample as soon as no later frame reaches it, so when
      ``length`` is shorter than what the steps gave, keep the first ``length`` samples.
    """
    fn = "istft_flush"
    cfg = _config(fn, n_fft, hop_length, win_length, window, center, "constant", normalized, fft_impl, inverse=True)
    if not isinstance(state, ISTFTState):
        raise TypeError(f"{fn}: state must be an ISTFTState from istft_init or istft_step, got {type(state).__name__}")
    batch, rdt = state.pending.shape[:-1], state.pending.dtype
    _check_state(fn, state, ISTFTState, cfg, batch, rdt, "the state")
    if length is not None and not _checks.is_traced(length):
        length = _checks.static_int(fn, "length", length, minimum=0)
    n_fft, hop = cfg.n_fft, cfg.hop
    _, tail = _envelopes(cfg, rdt)
    q = tail.shape[0] - 1
    T = state.frames
    inv = jnp.asarray(tail)[jnp.minimum(T, q)]
    out = jnp.pad(state.pending * inv, [(0, 0)] * len(batch) + [(0, hop)])  # (..., n_fft)
    i = jnp.arange(n_fft)
    p = n_fft // 2 if cfg.center else 0
    start = T * hop  # padded-signal index of out[..., 0]
    if length is None:
        end = (T - 1) * hop + n_fft - p  # istft's default: the last frame's end minus the padding
    else:
        end = jnp.asarray(length, jnp.int32) + p
    ok = (start + i >= p) & (start + i < end) & (T > 0)
    out = jnp.where(ok, out, jnp.zeros((), rdt))
    return Chunk(out, ok), ISTFTState(jnp.zeros_like(state.pending), T, state.params)


# ----------------------------------------------------------------------------- helpers


def collect(chunks: Chunk) -> np.ndarray:
    """Concatenate streamed outputs on the host: the valid slots, in order.

    Args:
      chunks: a :class:`Chunk`, or one stacked by ``lax.scan`` (``values`` ``(steps, *batch,
        ..., slots)``, ``valid`` ``(steps, slots)``), or a sequence of them.

    Returns:
      A NumPy array ``(*batch, ..., total)`` (the time axis last).
    """
    if isinstance(chunks, Chunk):
        chunks = [chunks]
    parts = []
    for ch in chunks:
        v, m = np.asarray(ch.values), np.asarray(ch.valid)
        if m.ndim == 1:
            parts.append(v[..., m])
            continue
        if m.ndim != 2:
            raise ValueError(f"collect: valid must be (slots,) or (steps, slots), got shape {m.shape}")
        for s in range(m.shape[0]):
            parts.append(v[s][..., m[s]])
    if not parts:
        raise ValueError("collect: no chunks given")
    return np.concatenate(parts, axis=-1)


def latency(*, n_fft: int = 512, hop_length: int | None = None, win_length: int | None = None, center: bool = True,
            chunk: int | None = None) -> int:
    """The delay in samples of streamed analysis -> per-frame processing -> synthesis.

    Args:
      n_fft, hop_length, win_length, center: the STFT parameters (static).
      chunk: samples per :func:`stft_step` call (static); default ``hop_length``.

    With chunks of ``chunk`` samples (default ``hop_length``) fed to :func:`stft_step`, each
    step's frames processed at once and passed to :func:`istft_step`, output sample ``s`` is out
    at the latest when the step that delivers input sample ``s + latency(...)`` returns. For
    ``chunk=1`` this is ``n_fft - 1`` (a sample must wait for the last frame that covers it to be
    complete); larger chunks add the wait for the chunk to fill. A causal model that needs no
    future frames adds nothing; a model with ``L`` frames of lookahead adds ``L * hop_length``.

    Returns:
      ``int``: the worst case over all samples, computed from the frame grid (static).
    """
    fn = "latency"
    n_fft, hop, _ = _resolve(fn, n_fft, hop_length, win_length)
    center = _checks.static_bool(fn, "center", center)
    chunk = _checks.static_int(fn, "chunk", chunk, minimum=1, allow_none=True)
    c = hop if chunk is None else chunk
    p = n_fft // 2 if center else 0
    period = hop * c // math.gcd(hop, c)
    s = np.arange(2 * period + n_fft, 4 * period + n_fft, dtype=np.int64)  # a full period, past the start
    last_frame = (s + p) // hop  # the last frame that covers output sample s
    need = last_frame * hop + n_fft - p - 1  # the newest input sample that frame needs
    delivered = (need // c + 1) * c - 1  # the last input sample of the step that delivers it
    return int(np.max(delivered - s))
