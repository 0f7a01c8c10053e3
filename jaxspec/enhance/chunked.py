"""Enhancement block by block: long files in bounded memory, and streams as they come.

:func:`enhance_blocks` is :func:`~jaxspec.enhance.evaluate.enhance_array` as a generator over
blocks of input: memory does not grow with the input, and the output comes out as the input goes
in. Its parts:

- :class:`CausalEnhancer`, for a :func:`~jaxspec.enhance.evaluate.streamable` model (the causal
  GRU with fixed feature statistics, or the band model): streamed STFT (``jaxspec.streaming``),
  features with the past frames of the splice kept, ``MaskGRU.step`` (``BandDeepFilter.step``)
  with its state carried (recurrent states; the band model's running means and past frames), the
  mask, streamed iSTFT. One compiled step for a fixed block of frames. Its output equals
  ``enhance_array`` (to float rounding): nothing in it depends on where the blocks start.
- :class:`ChunkEnhancer`, for the other models (the U-Net and the DNN, which see the future, and
  per-utterance feature normalisation): overlapping chunks of fixed length, each enhanced as a
  whole file (one compiled shape), cross-faded over the overlap. The normalisation statistics of
  a chunk are taken over its real frames only, so the zeros that pad the last chunk change
  nothing. Its output differs from whole-file processing (other statistics, less context at the
  chunk edges); ``tests/test_chunked.py`` states by how much.
- :class:`BlockResampler`: ``jaxspec.resample`` on windows of fixed length with margins wider than
  the resampling filter, equal to resampling the whole signal.
"""

from __future__ import annotations

import fractions
import functools
import math
import os
import sys
import tempfile
import time
from typing import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf
from flax import nnx

import jaxspec as js
from jaxspec import streaming

from .config import TrainConfig
from .train import LOG_EPS, features, mask_to_estimate

CHUNK_SECONDS = 30.0  # ChunkEnhancer: chunk length at the model's rate (files up to it are enhanced whole)
OVERLAP_SECONDS = 2.0  # ChunkEnhancer: overlap of consecutive chunks (a cross-fade in its middle)
BLOCK_FRAMES = 64  # CausalEnhancer: frames per compiled step


# ----------------------------------------------------------------------------- resampling


class BlockResampler:
    """``jaxspec.resample(x, orig_sr=, target_sr=)`` of a stream, block by block.

    ``resample`` is a windowed sinc over 16 zero crossings of the lower band edge (0.945 of the
    lower Nyquist frequency), so an output sample depends on input samples within
    ``16 / (0.945 * min(1, target_sr / orig_sr))`` of its position. Each core block of ``block``
    input samples (a multiple of the polyphase period) is resampled inside a window that adds a
    margin wider than that on both sides (zeros before the start and after the end, as
    ``resample`` takes the signal to be zero outside it): the same numbers as the whole signal, one
    compiled shape. Output lags input by ``block + margin`` samples.

    Args:
      orig_sr, target_sr: the rates (static, > 0).
      channels: rows of every block.
      block_seconds: core block length in seconds of input.
    """

    def __init__(self, orig_sr: float, target_sr: float, channels: int, *, block_seconds: float = 4.0):
        r = fractions.Fraction(orig_sr) / fractions.Fraction(target_sr)
        self.q, self.p = r.numerator, r.denominator  # q input samples <-> p output samples
        self.orig_sr, self.target_sr, self.channels = orig_sr, target_sr, channels
        half = 16.0 / (0.945 * min(1.0, target_sr / orig_sr))
        self.margin = self.q * math.ceil((half + 2) / self.q)
        self.block = self.q * max(1, round(block_seconds * orig_sr / self.q))
        self._buf = np.zeros((channels, self.margin), np.float32)  # the left margin: zeros before the start
        self._base = -self.margin  # input index of _buf[:, 0]
        self._next = 0  # input index where the next core block starts
        self._received = 0
        self._emitted = 0
        self._fn = _resample_fn(orig_sr, target_sr)

    def _window(self, start: int) -> np.ndarray:
        lo = start - self.margin - self._base
        w = self._buf[:, lo:lo + self.block + 2 * self.margin]
        if w.shape[-1] < self.block + 2 * self.margin:
            w = np.pad(w, ((0, 0), (0, self.block + 2 * self.margin - w.shape[-1])))
        return w

    def _run(self, limit: int) -> list[np.ndarray]:
        outs = []
        while self._next + self.block + self.margin <= limit:
            y = np.asarray(self._fn(self._window(self._next)))
            a = self.margin * self.p // self.q
            outs.append(y[:, a:a + self.block * self.p // self.q])
            self._next += self.block
        keep = self._next - self.margin - self._base  # drop what no later window needs
        if keep > 0:
            self._buf = self._buf[:, keep:]
            self._base += keep
        return outs

    def push(self, x: np.ndarray) -> np.ndarray:
        """Add ``x`` ``(channels, n)``; returns the output samples that are now final."""
        self._buf = np.concatenate([self._buf, np.asarray(x, np.float32)], axis=-1)
        self._received += x.shape[-1]
        return self._emit(self._run(self._received))

    def flush(self) -> np.ndarray:
        """End of the stream: the remaining output, ``ceil(n * target_sr / orig_sr)`` samples in all."""
        total = math.ceil(self._received * self.p / self.q - 1e-9 * self._received * self.p / self.q)
        pad = self._next + self.block + self.margin - self._base - self._buf.shape[-1]
        outs = []
        while self._emitted + sum(o.shape[-1] for o in outs) < total:
            self._buf = np.pad(self._buf, ((0, 0), (0, max(0, pad))))
            outs += self._run(self._base + self._buf.shape[-1])
            pad = self.block
        y = self._emit(outs)
        over = self._emitted - total
        if over > 0:
            self._emitted = total
            y = y[:, :y.shape[-1] - over]
        return y

    @property
    def emitted(self) -> int:
        """Output samples given so far."""
        return self._emitted

    def _emit(self, outs: list[np.ndarray]) -> np.ndarray:
        y = np.concatenate(outs, axis=-1) if outs else np.zeros((self.channels, 0), np.float32)
        self._emitted += y.shape[-1]
        return y


@functools.lru_cache(maxsize=8)
def _resample_fn(orig_sr: float, target_sr: float):
    return jax.jit(lambda x: js.resample(x, orig_sr=orig_sr, target_sr=target_sr))


# ----------------------------------------------------------------------------- causal models


class CausalEnhancer:
    """A streamable model run on a stream at its own rate, ``block_frames`` frames (or
    ``block_samples`` samples, which need not be a whole number of hops) per step.

    ``push(y)`` takes ``(channels, n)`` samples at ``cfg.sr`` and returns ``(enhanced, gains)``:
    the enhanced samples that are final and the high-band gain of each new frame
    ``(channels, frames)``; ``flush(length)`` ends the stream (``length`` samples in all).
    The state lives on the device between calls; one step compiles once.
    """

    def __init__(self, model, cfg: TrainConfig, channels: int, *, block_frames: int = BLOCK_FRAMES,
                 block_samples: int | None = None):
        from .evaluate import streamable

        if not streamable(cfg):
            raise ValueError(f"CausalEnhancer: needs a causal model with causal features (model='gru' with "
                             f"feature_norm='fixed', or model='band'), got model={cfg.model!r}, "
                             f"feature_norm={cfg.feature_norm!r}")
        if block_frames < 1:
            raise ValueError(f"CausalEnhancer: block_frames must be >= 1, got {block_frames}")
        if block_samples is not None and block_samples < 1:
            raise ValueError(f"CausalEnhancer: block_samples must be >= 1, got {block_samples}")
        self.model, self.cfg, self.channels = model, cfg, channels
        # a step takes `chunk` samples, any number (the streamed STFT marks which frame slots are real)
        self.chunk = block_frames * cfg.hop_length if block_samples is None else int(block_samples)
        p = _stft_params(cfg)
        freq = cfg.n_fft // 2 + 1
        self._state = (streaming.stft_init(batch_shape=(channels,), **p),
                       streaming.istft_init(batch_shape=(channels,), **p),
                       jnp.zeros((channels, freq, cfg.context), jnp.float32), jnp.asarray(False),
                       model.initial_carry((channels,)))
        self._fifo = np.zeros((channels, 0), np.float32)
        self._step, self._flush = _causal_fns(cfg)
        self._emitted = 0

    def push(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._fifo = np.concatenate([self._fifo, np.asarray(y, np.float32)], axis=-1)
        outs, gains = [], []
        while self._fifo.shape[-1] >= self.chunk:
            out, gain, self._state = self._step(self.model, jnp.asarray(self._fifo[:, :self.chunk]), self._state)
            self._fifo = self._fifo[:, self.chunk:]
            outs.append(out)
            gains.append(gain)
        return self._collect(outs, gains)

    def flush(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        outs, gains = [], []
        if self._fifo.shape[-1]:  # the last partial block, with zeros: the model is causal
            x = np.pad(self._fifo, ((0, 0), (0, self.chunk - self._fifo.shape[-1])))
            out, gain, self._state = self._step(self.model, jnp.asarray(x), self._state)
            outs.append(out)
            gains.append(gain)
            self._fifo = self._fifo[:, :0]
        out, tail, gain, self._state = self._flush(self.model, self._state, jnp.asarray(length, jnp.int32))
        outs += [out, tail]
        gains.append(gain)
        e, g = self._collect(outs, gains)
        keep = max(0, length - (self._emitted - e.shape[-1]))
        return e[:, :keep], g

    def _collect(self, outs, gains) -> tuple[np.ndarray, np.ndarray]:
        if not outs:
            return np.zeros((self.channels, 0), np.float32), np.zeros((self.channels, 0), np.float32)
        e = np.concatenate([np.asarray(o.values)[..., np.asarray(o.valid)] for o in outs], axis=-1)
        g = np.concatenate([np.asarray(v)[..., np.asarray(m)] for v, m in gains], axis=-1)
        self._emitted += e.shape[-1]
        return e, g


def _stft_params(cfg: TrainConfig) -> dict:
    return dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length)


def _high_band_gain(out: jax.Array, cfg: TrainConfig, Y: jax.Array | None = None) -> jax.Array:
    from .evaluate import HIGH_BAND_FROM, _mask_magnitude
    lo = int(HIGH_BAND_FROM * (cfg.n_fft // 2))
    return jnp.mean(_mask_magnitude(out, cfg, Y)[..., lo:, :], axis=-2)


@functools.lru_cache(maxsize=16)
def _causal_fns(cfg: TrainConfig):
    p = _stft_params(cfg)
    ctx_n = cfg.context

    def frames_to_output(m, F, state):
        a, s, ctx, started, carry = state
        n = jnp.sum(F.valid.astype(jnp.int32))
        if cfg.model == "band":  # the STFT in, the estimate out; the model keeps its own state
            out, carry = m.step(F.values, carry, n_valid=n)
            gain = _high_band_gain(out, cfg, F.values)
            o, s = streaming.istft_step(out, s, valid=F.valid, **p)
            return o, (gain, F.valid), (a, s, ctx, started, carry)
        lp = jnp.log(js.power(F.values) + LOG_EPS)  # (C, freq, K): the features before splicing
        if ctx_n:  # the past frames of the splice; before the first frame, the first frame (edge padding)
            ctx = jnp.where(started, ctx, jnp.broadcast_to(lp[..., :1], ctx.shape))
            z = jnp.concatenate([ctx, lp], axis=-1)
            feats = js.splice(z, left=ctx_n, right=0)[..., ctx_n:]
            ctx = jax.lax.dynamic_slice_in_dim(z, n, ctx_n, axis=-1)
            started = started | (n > 0)
        else:
            feats = lp
        out, carry = m.step(feats, carry, n_valid=n)
        gain = _high_band_gain(out, cfg)
        o, s = streaming.istft_step(mask_to_estimate(F.values, out, cfg), s, valid=F.valid, **p)
        return o, (gain, F.valid), (a, s, ctx, started, carry)

    def step(m, x, state):
        F, a = streaming.stft_step(x, state[0], **p)
        return frames_to_output(m, F, (a,) + state[1:])

    def flush(m, state, length):
        F, a = streaming.stft_flush(state[0], **p)
        o, gain, state = frames_to_output(m, F, (a,) + state[1:])
        tail, s = streaming.istft_flush(state[1], length=length, **p)
        return o, tail, gain, (state[0], s) + state[2:]

    return nnx.jit(step), nnx.jit(flush)


# ----------------------------------------------------------------------------- other models


class ChunkEnhancer:
    """Any model on overlapping chunks of ``chunk_seconds`` at its own rate, cross-faded over
    ``overlap_seconds`` (a raised-cosine fade; the two weights sum to one).

    ``push``/``flush`` as :class:`CausalEnhancer`. Chunk ``k`` covers ``[k S, k S + L)`` with
    ``S = L - overlap``; its features are normalised over its real frames only.
    """

    def __init__(self, model, cfg: TrainConfig, channels: int, *, chunk_seconds: float = CHUNK_SECONDS,
                 overlap_seconds: float = OVERLAP_SECONDS):
        hop = cfg.hop_length
        self.length = hop * max(2, round(chunk_seconds * cfg.sr / hop))
        self.overlap = hop * max(1, round(overlap_seconds * cfg.sr / hop))
        if self.overlap >= self.length:
            raise ValueError(f"ChunkEnhancer: overlap_seconds ({overlap_seconds}) must be shorter than chunk_seconds "
                             f"({chunk_seconds})")
        self.model, self.cfg, self.channels = model, cfg, channels
        self.stride = self.length - self.overlap
        # the fade rises over the middle of the overlap: the first and last n_fft samples of it come
        # from one chunk alone, away from the other chunk's edge (where its frames see zero padding)
        edge = min(cfg.n_fft, self.overlap // 4)
        t = np.clip((np.arange(self.overlap) + 0.5 - edge) / (self.overlap - 2 * edge), 0.0, 1.0)
        self.fade = (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)  # 0 -> 1
        self._fifo = np.zeros((channels, 0), np.float32)  # input from _start on
        self._start = 0
        self._tail = None  # the previous chunk's overlap, to fade out
        self._fn = _chunk_fn(cfg, self.length)
        self._frames_out = 0

    def _run(self, x: np.ndarray, real: int) -> tuple[np.ndarray, np.ndarray]:
        e, g = self._fn(self.model, jnp.asarray(x), jnp.asarray(real, jnp.int32))
        return np.asarray(e), np.asarray(g)

    def _emit_chunk(self, e: np.ndarray, g: np.ndarray, *, last: bool, real: int) -> tuple[np.ndarray, np.ndarray]:
        head = e[:, :self.overlap] if self._tail is not None else None
        if head is not None:
            e = e.copy()
            e[:, :self.overlap] = self._tail * (1 - self.fade) + head * self.fade
        if last:
            out = e[:, :real]
        else:
            out = e[:, :self.stride]
            self._tail = e[:, self.stride:]
        # gains: the frames of [start, start + len(out)) on the hop grid, each from the chunk that emits it
        hop = self.cfg.hop_length
        f0 = self._start // hop
        f1 = -(-(self._start + out.shape[-1]) // hop) + (1 if last else 0)
        gains = g[:, self._frames_out - f0:f1 - f0]
        self._frames_out = max(self._frames_out, f1)
        return out, gains

    def push(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._fifo = np.concatenate([self._fifo, np.asarray(y, np.float32)], axis=-1)
        outs, gains = [], []
        while self._fifo.shape[-1] >= self.length:
            e, g = self._run(self._fifo[:, :self.length], self.length)
            o, gg = self._emit_chunk(e, g, last=False, real=self.length)
            outs.append(o)
            gains.append(gg)
            self._fifo = self._fifo[:, self.stride:]
            self._start += self.stride
        return _cat(outs, self.channels), _cat(gains, self.channels)

    def flush(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        real = length - self._start
        outs, gains = [], []
        if real > 0 and (self._tail is None or real > self.overlap):
            x = np.pad(self._fifo[:, :real], ((0, 0), (0, self.length - min(real, self.length))))
            e, g = self._run(x, real)
            o, gg = self._emit_chunk(e, g, last=True, real=real)
            outs.append(o)
            gains.append(gg)
        elif real > 0:  # what is left lies inside the last overlap: the previous chunk has it
            outs.append(self._tail[:, :real])
            gains.append(np.zeros((self.channels, 0), np.float32))
        return _cat(outs, self.channels), _cat(gains, self.channels)


def _cat(parts, channels):
    return np.concatenate(parts, axis=-1) if parts else np.zeros((channels, 0), np.float32)


@functools.lru_cache(maxsize=16)
def _chunk_fn(cfg: TrainConfig, length: int):
    """``fwd(model, chunk (C, length), real) -> (enhanced (C, length), gains (C, frames))``."""
    p = _stft_params(cfg)

    def fwd(m, v, real):
        Y = js.stft(v, **p)
        t = jnp.arange(Y.shape[-1]) * cfg.hop_length
        valid = t <= real  # the frames of the real signal (a whole file of `real` samples has 1 + real // hop)
        if cfg.feature_norm in ("fixed", "running"):  # per-frame or causal: no file statistics
            x = features(Y, cfg)
        else:
            x = _masked_features(Y, cfg, valid)
        out = m(x)
        e = js.istft(mask_to_estimate(Y, out, cfg), **p, length=length)
        return e, _high_band_gain(out, cfg, Y)

    return nnx.jit(fwd)


def _masked_features(Y, cfg: TrainConfig, valid):
    """``features`` with the utterance statistics taken over the ``valid`` frames only."""
    x = jnp.log(js.power(Y) + LOG_EPS)
    w = valid.astype(x.dtype)
    axes = (-2, -1) if cfg.feature_norm == "utterance" else (-1,)
    wb = jnp.broadcast_to(w, x.shape)
    count = jnp.sum(wb, axis=axes, keepdims=True)
    mean = jnp.sum(x * wb, axis=axes, keepdims=True) / count
    var = jnp.sum(((x - mean) * wb) ** 2, axis=axes, keepdims=True) / count
    x = (x - mean) * jax.lax.rsqrt(var + 1e-5)
    if cfg.model == "unet":
        return x
    return js.splice(x, left=cfg.context, right=0 if cfg.model == "gru" else cfg.context)


# ----------------------------------------------------------------------------- the whole path


def enhance_blocks(model, cfg: TrainConfig, sr: int, channels: int, blocks: Iterable[np.ndarray], *,
                   block_frames: int = BLOCK_FRAMES, chunk_seconds: float = CHUNK_SECONDS,
                   overlap_seconds: float = OVERLAP_SECONDS, resample_seconds: float = 4.0,
                   block_samples: int | None = None) -> Iterator[np.ndarray]:
    """``enhance_array``'s path over a stream of ``(channels, n)`` float32 blocks at ``sr``.

    Yields enhanced ``(channels, k)`` blocks as they become final; in all, as many samples as
    came in. Resampling to the model's rate and back, and the high band above the model's
    Nyquist frequency (passed through at the model's mean mask over the top half of its band,
    interpolated between frames) are done as in ``enhance_array``. Causal models
    (:class:`CausalEnhancer`) give ``enhance_array``'s numbers; others (:class:`ChunkEnhancer`)
    run on cross-faded chunks. ``block_frames`` (or ``block_samples`` at the model's rate): the
    input of one step of a causal model;
    ``chunk_seconds``/``overlap_seconds``: the chunks of other models; ``resample_seconds``: the
    core block of the resamplers (their output lags by about that much).
    """
    from .evaluate import streamable

    if streamable(cfg):
        enh = CausalEnhancer(model, cfg, channels, block_frames=block_frames, block_samples=block_samples)
    else:
        enh = ChunkEnhancer(model, cfg, channels, chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds)
    if sr == cfg.sr:
        n = 0
        for x in blocks:
            n += x.shape[-1]
            e, _ = enh.push(x)
            if e.shape[-1]:
                yield e
        e, _ = enh.flush(n)
        if e.shape[-1]:
            yield e
        return
    comb = _Combiner(cfg, sr, channels)
    down = BlockResampler(sr, cfg.sr, channels, block_seconds=resample_seconds)
    up = BlockResampler(cfg.sr, sr, channels, block_seconds=resample_seconds * cfg.sr / sr)
    seen = BlockResampler(cfg.sr, sr, channels, block_seconds=resample_seconds * cfg.sr / sr) if sr > cfg.sr else None
    for x in blocks:
        y = down.push(x)
        e16, g = enh.push(y)
        out = comb.push(x, up.push(e16), seen.push(y) if seen else None, g)
        if out.shape[-1]:
            yield out
    y = down.flush()
    m = down.emitted
    e16, g = enh.push(y)
    e16b, gb = enh.flush(m)
    e = np.concatenate([up.push(e16), up.push(e16b), up.flush()], axis=-1)
    s = np.concatenate([seen.push(y), seen.flush()], axis=-1) if seen else None
    out = comb.push(None, e, s, np.concatenate([g, gb], axis=-1), final=True)
    if out.shape[-1]:
        yield out


class _Combiner:
    """Joins the branches at the input rate: ``e + gain(t) * (x - seen)`` for ``sr > cfg.sr``
    (``e`` alone below), cut or zero-padded to the input's length at the end."""

    def __init__(self, cfg: TrainConfig, sr: int, channels: int):
        self.cfg, self.sr, self.channels = cfg, sr, channels
        self.high = sr > cfg.sr
        self.x = np.zeros((channels, 0), np.float32)
        self.e = np.zeros((channels, 0), np.float32)
        self.s = np.zeros((channels, 0), np.float32)
        self.g = np.zeros((channels, 0), np.float32)
        self.g0 = 0  # frame index of self.g[:, 0]
        self.pos = 0  # output samples given
        self.n_in = 0

    def push(self, x, e, s, g, *, final: bool = False) -> np.ndarray:
        if x is not None:
            self.x = np.concatenate([self.x, x], axis=-1)
            self.n_in += x.shape[-1]
        self.e = np.concatenate([self.e, e], axis=-1)
        if self.high:
            self.s = np.concatenate([self.s, s], axis=-1)
            self.g = np.concatenate([self.g, g], axis=-1)
        if final:
            need = self.n_in - self.pos
            self.e = _fit(self.e, need)
            if self.high:
                self.s = _fit(self.s, need)
            k = need
        else:
            k = min(self.e.shape[-1], self.x.shape[-1]) if not self.high else min(self.e.shape[-1], self.s.shape[-1], self.x.shape[-1])
            if self.high:  # interpolation needs the frame after each sample
                hop, msr = self.cfg.hop_length, self.cfg.sr
                last_t = (self.g0 + self.g.shape[-1] - 1) * hop / msr
                k = min(k, max(0, int(math.floor(last_t * self.sr)) - self.pos))
        k = max(0, min(k, self.n_in - self.pos))
        out = self.e[:, :k]
        if self.high and k:
            hop, msr = self.cfg.hop_length, self.cfg.sr
            t_frames = (self.g0 + np.arange(self.g.shape[-1])) * hop / msr
            ts = (self.pos + np.arange(k)) / self.sr
            gain = np.stack([np.interp(ts, t_frames, self.g[c]) for c in range(self.channels)]).astype(np.float32)
            out = out + gain * (self.x[:, :k] - self.s[:, :k])
            self.s = self.s[:, k:]
            # keep the frames from the one at or before the next sample on
            drop = max(0, int(math.floor((self.pos + k) / self.sr * msr / hop)) - self.g0 - 1)
            self.g = self.g[:, drop:]
            self.g0 += drop
        self.e = self.e[:, k:]
        self.x = self.x[:, k:]
        self.pos += k
        return out


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    return a[:, :n] if a.shape[-1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[-1])))


# ----------------------------------------------------------------------------- files


READ_SECONDS = 4.0  # enhance_file_blocked reads this much per block


def _out_format(dst: str) -> tuple[str, str]:
    ext = os.path.splitext(dst)[1][1:].upper()
    fmt = {"OGA": "OGG", "AIF": "AIFF", "WAVE": "WAV"}.get(ext, ext)
    if fmt not in sf.available_formats():
        raise OSError(f"cannot write {dst!r}: cannot tell the audio format from its extension; use one of "
                      f"{', '.join('.' + e.lower() for e in sorted(sf.available_formats()))}")
    subtype = "PCM_16" if sf.check_format(fmt, "PCM_16") else sf.default_subtype(fmt)
    return fmt, subtype


def _remove(path: str | None) -> None:
    if path and os.path.exists(path):
        os.remove(path)


def enhance_file_blocked(model, cfg: TrainConfig, src: str, dst: str, *, progress: bool | None = None,
                         read_seconds: float = READ_SECONDS, stream=None) -> dict:
    """``enhance_file`` in bounded memory: read, enhance and write block by block.

    The enhanced signal goes to a float32 temporary file beside ``dst`` as it is made; then,
    scaled down if its peak exceeds 1 (as ``enhance_file``), it is written in ``dst``'s format to a
    second temporary file, which replaces ``dst`` at the end. An error or an interruption leaves
    no partial ``dst`` (and no temporary file). ``progress``: a progress line on ``stream``
    (default stderr) when it is a terminal (``None``), always (``True``) or never (``False``).

    Returns:
      ``{"channels", "seconds", "sr", "elapsed", "peak"}``.
    """
    stream = stream or sys.stderr
    if progress is None:
        progress = hasattr(stream, "isatty") and stream.isatty()
    fmt, subtype = _out_format(dst)
    try:
        f = sf.SoundFile(src)
    except Exception as e:  # soundfile raises its own error types for unreadable audio
        raise OSError(f"cannot read audio from {src!r}: {e}") from None
    tmp = tmp2 = None
    t0 = time.perf_counter()
    with f:
        sr, C, n = f.samplerate, f.channels, f.frames
        if n == 0:
            raise OSError(f"cannot enhance {src!r}: the file holds no samples")
        block = max(1, int(read_seconds * sr))
        folder = os.path.dirname(os.path.abspath(dst))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".enhance-", suffix=".f32.wav", dir=folder)
            os.close(fd)
            fd, tmp2 = tempfile.mkstemp(prefix=".enhance-", suffix="." + fmt.lower(), dir=folder)
            os.close(fd)
        except OSError as e:
            _remove(tmp)
            raise OSError(f"cannot write {dst!r}: {e}") from None
        try:
            done = [0]

            def blocks():
                while True:
                    x = f.read(block, dtype="float32", always_2d=True)
                    if not len(x):
                        return
                    done[0] += len(x)
                    if progress:
                        el = time.perf_counter() - t0
                        print(f"\renhance: {100 * done[0] / n:5.1f}% of {n / sr:.0f} s, {el:.0f} s, "
                              f"{el / (done[0] / sr):.3f} x real time", end="", file=stream, flush=True)
                    yield np.ascontiguousarray(x.T)

            peak = 0.0
            with sf.SoundFile(tmp, "w", samplerate=sr, channels=C, subtype="FLOAT", format="WAV") as out:
                for y in enhance_blocks(model, cfg, sr, C, blocks()):
                    peak = max(peak, float(np.max(np.abs(y))) if y.size else 0.0)
                    out.write(np.ascontiguousarray(y.T))
            scale = 1.0 / peak if peak > 1.0 else 1.0
            with sf.SoundFile(tmp, "r") as fin, sf.SoundFile(tmp2, "w", samplerate=sr, channels=C, subtype=subtype,
                                                          format=fmt) as fout:
                if fin.frames != n:
                    raise OSError(f"wrote {fin.frames} frames, expected {n}")
                for y in fin.blocks(blocksize=block, dtype="float32", always_2d=True):
                    fout.write(np.clip(y * scale, -1.0, 1.0) if scale != 1.0 else y)
            os.replace(tmp2, dst)
            tmp2 = None
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            raise OSError(f"cannot write {dst!r}: {e}") from None
        finally:
            _remove(tmp)
            _remove(tmp2)
            if progress:
                print(file=stream)
    return {"channels": C, "seconds": n / sr, "sr": sr, "elapsed": time.perf_counter() - t0, "peak": peak}


def stream(model, cfg: TrainConfig, src: str, dst: str, *, block_ms: float = 100.0, rate: int | None = None,
           channels: int | None = None, log=None) -> dict:
    """Enhance as the input comes and write as the output is made (``jaxspec enhance --stream``).

    ``src``: an audio file, or ``"-"``: raw 16-bit little-endian PCM on stdin (``rate`` and
    ``channels`` required). ``dst``: an audio file (written to a temporary name as it goes and
    renamed at the end, so an interruption leaves no partial file), or ``"-"``: raw 16-bit PCM on
    stdout, flushed block by block. Blocks of ``block_ms`` milliseconds: a causal model takes that
    much audio per step (less than a hop is fine) and the resamplers work in blocks of that
    length; other models wait for a chunk (``CHUNK_SECONDS``). A closed output pipe
    ends the stream cleanly. Samples beyond [-1, 1] are clipped (a stream cannot be rescaled
    afterwards).

    Returns:
      ``{"seconds", "elapsed", "rtf", "clipped", "sr", "channels"}``: ``rtf`` is processing time
      over audio time (below 1: faster than real time).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not (block_ms > 0):
        raise ValueError(f"stream: block_ms must be > 0, got {block_ms}")
    if src == "-":
        if not rate or not channels or rate <= 0 or channels <= 0:
            raise ValueError("stream: reading raw PCM from stdin needs --rate and --channels (positive ints)")
        sr, C = int(rate), int(channels)
        f = None
    else:
        try:
            f = sf.SoundFile(src)
        except Exception as e:  # soundfile raises its own error types for unreadable audio
            raise OSError(f"cannot read audio from {src!r}: {e}") from None
        sr, C = f.samplerate, f.channels
    block = max(1, int(round(block_ms * sr / 1000)))
    model_block = max(1, int(round(block_ms * cfg.sr / 1000)))

    def blocks():
        if f is not None:
            with f:
                while True:
                    x = f.read(block, dtype="float32", always_2d=True)
                    if not len(x):
                        return
                    yield np.ascontiguousarray(x.T)
        raw = sys.stdin.buffer
        need = block * C * 2
        while True:
            b = raw.read(need)
            if not b:
                return
            b = b[:len(b) - len(b) % (2 * C)]
            if b:
                yield (np.frombuffer(b, "<i2").reshape(-1, C).T / 32768.0).astype(np.float32)

    out = tmp = None
    if dst == "-":
        sink = sys.stdout.buffer
    else:
        fmt, subtype = _out_format(dst)
        fd, tmp = tempfile.mkstemp(prefix=".enhance-", suffix="." + fmt.lower(), dir=os.path.dirname(os.path.abspath(dst)))
        os.close(fd)
        out = sf.SoundFile(tmp, "w", samplerate=sr, channels=C, subtype=subtype, format=fmt)
    n_out = clipped = 0
    t0 = time.perf_counter()
    closed = False
    try:
        for y in enhance_blocks(model, cfg, sr, C, blocks(), block_samples=model_block,
                                resample_seconds=max(block_ms / 1000, 0.01)):
            over = np.abs(y) > 1.0
            clipped += int(over.sum())
            y = np.clip(y, -1.0, 1.0)
            n_out += y.shape[-1]
            if out is not None:
                out.write(np.ascontiguousarray(y.T))
                continue
            try:
                sink.write(np.round(y.T * 32767.0).astype("<i2").tobytes())
                sink.flush()
            except BrokenPipeError:
                closed = True
                break
        if out is not None:
            out.close()
            out = None
            os.replace(tmp, dst)
            tmp = None
    finally:
        if out is not None:
            out.close()
        _remove(tmp)
        if closed:  # nothing more can reach the reader; keep the interpreter from failing at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
    elapsed = time.perf_counter() - t0
    secs = n_out / sr
    rtf = elapsed / secs if secs else float("nan")
    log(f"stream: {secs:.2f} s of audio in {elapsed:.2f} s, real-time factor {rtf:.3f}"
        + (" (output pipe closed)" if closed else "") + (f"; {clipped} samples clipped" if clipped else ""))
    return {"seconds": secs, "elapsed": elapsed, "rtf": rtf, "clipped": clipped, "sr": sr, "channels": C,
            "closed": closed}
