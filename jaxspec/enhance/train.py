"""Training the enhancement example: everything after the raw waveforms runs on the device.

One ``nnx.jit`` step (:func:`make_train_step`) takes a batch of raw clean speech ``(batch, L_c)``,
a batch of raw noise ``(batch, L_n)``, optionally one room impulse response per example, and a
key, and does::

    fit_length -> [speaker augmentation: speed, pitch, EQ] -> [reverb + early-reflection target,
    or room augmentation] -> [augment: gain, noise EQ] -> random_mix (SNR ~ Uniform(snr_low,
    snr_high) dB) -> [recording level] -> prevent_clipping -> stft -> log power -> normalize
    (per utterance, or the model's fixed statistics) -> splice -> model -> mask -> loss -> AdamW
    update, skipped if anything is not finite

The host side (:mod:`jaxspec.enhance.input_pipeline`) only reads crops of audio files, in grain
worker processes. :func:`run` is the loop: a ``Mesh`` over every device with one ``"batch"`` axis
(parameters replicated, the batch sharded; XLA inserts the gradient all-reduce), orbax
checkpoints with the data iterator's state (:mod:`jaxspec.enhance.checkpoints`), a rich progress
bar and a JSON-lines metrics log. The same code runs on one CPU, a GPU, a TPU slice or several
hosts: call ``jax.distributed.initialize()`` first (``jaxspec train --coordinator ...``); each
process then reads only its rows of every batch, assembled with
``jax.make_array_from_process_local_data``.

The run is deterministic for a seed: row ``r`` of step ``i`` comes from
``np.random.default_rng([seed, i, r])`` and the step's device key is ``fold_in(key(seed), i)``,
so a run resumed from a checkpoint ends with the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import signal
import sys
import threading
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

import jaxspec as js

from . import checkpoints as ckpt
from . import input_pipeline as ip
from . import noise as _noise
from .config import TrainConfig
from .models import CIRM_C, CIRM_K, make_model

LOG_EPS = 1e-8
SA_POWER = 0.3
# the band model's loss (loss="sa"): terms on spectra scaled to a unit-RMS mixture
MR_WEIGHT = 0.1  # weight of the multi-resolution STFT term on the waveforms
MR_RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))  # (n_fft, hop) of that term
VALID_SEED = 2**31 - 1


class TrainingStopped(RuntimeError):
    """Training could not go on (too many non-finite steps in a row); the last finite checkpoint is kept."""


# ----------------------------------------------------------------------------- the model's front end

def features(Y: jax.Array, cfg: TrainConfig) -> jax.Array:
    """Model input from a mixture STFT: log power, normalised, spliced.

    Normalisation ``cfg.feature_norm``: ``"utterance"`` (mean and variance of the whole
    utterance), ``"frequency"`` (per frequency over the utterance), or ``"fixed"`` (none here: the
    model's :class:`~jaxspec.enhance.models.FeatureNorm` applies statistics measured on training
    data, so a frame's features depend on that frame alone, not on the file's length or silence).
    Splicing: ``context`` frames on each side for the DNN, ``context`` past frames for the causal
    GRU, none for the U-Net (which sees the whole plane).

    Args:
      Y: complex STFT ``(..., freq, frames)``.
      cfg: the config.

    Returns:
      ``(..., n_features(cfg), frames)`` float32 (``(..., freq, frames)`` for the U-Net).
    """
    if cfg.model == "band":  # the band model normalises the STFT itself
        return Y
    x = jnp.log(js.power(Y) + LOG_EPS)
    if cfg.feature_norm != "fixed":
        x = js.normalize(x, axis=(-2, -1) if cfg.feature_norm == "utterance" else -1)
    if cfg.model == "unet":
        return x
    return js.splice(x, left=cfg.context, right=0 if cfg.model == "gru" else cfg.context)


def mask_to_estimate(Y: jax.Array, out: jax.Array, cfg: TrainConfig) -> jax.Array:
    """Apply the model's output to the mixture STFT: real masks multiply, the cIRM is decompressed;
    the band model's output is the estimate itself."""
    if cfg.model == "band":
        return out
    if cfg.target == "cirm":
        M = js.masks.cirm_decompress(jax.lax.complex(out[..., 0, :, :], out[..., 1, :, :]), K=CIRM_K, C=CIRM_C)
        return js.masks.apply_mask(Y, M)
    return js.masks.apply_mask(Y, out)


def target_mask(S: jax.Array, N: jax.Array, cfg: TrainConfig) -> jax.Array:
    """The training target in the model's output layout, from clean and noise STFTs."""
    if cfg.target == "irm":
        return js.masks.irm(S, N)
    if cfg.target == "psm":
        return js.masks.psm(S, N)
    if cfg.target == "ibm":
        return js.masks.ibm(S, N)
    M = js.masks.cirm(S, N, K=CIRM_K, C=CIRM_C)
    return jnp.stack([M.real, M.imag], axis=-3)


def enhance_waveform(model, x: jax.Array, cfg: TrainConfig) -> tuple[jax.Array, jax.Array]:
    """Enhance waveforms ``(..., samples)`` at ``cfg.sr``; returns ``(enhanced, model_output)``."""
    Y = js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    out = model(features(Y, cfg))
    S_hat = mask_to_estimate(Y, out, cfg)
    return js.istft(S_hat, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=x.shape[-1]), out


def loss_from_stfts(model, Y: jax.Array, S: jax.Array, cfg: TrainConfig, length: int) -> jax.Array:
    """The scalar training loss from mixture and target STFTs ``(batch, freq, frames)``; the
    interference is ``Y - S`` (noise, late reverberation, or both)."""
    out = model(features(Y, cfg))
    if cfg.loss == "mask":
        return jnp.mean((out - target_mask(S, Y - S, cfg)) ** 2)
    S_hat = mask_to_estimate(Y, out, cfg)
    if cfg.loss == "sa":
        if cfg.model == "band":
            return band_loss(Y, S, S_hat, cfg, length)
        if cfg.target == "cirm":  # complex mask: compare compressed complex spectra
            d = js.compress(S_hat, power=SA_POWER) - js.compress(S, power=SA_POWER)
            return jnp.mean(d.real ** 2 + d.imag ** 2)
        # real mask: compare compressed magnitudes (a phase-aware loss would push a real mask down
        # by cos(phase error) ** (1 / SA_POWER) and over-suppress low-SNR speech)
        d = js.compress(js.magnitude(S_hat), power=SA_POWER) - js.compress(js.magnitude(S), power=SA_POWER)
        return jnp.mean(d * d)
    istft = lambda X: js.istft(X, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=length)
    return -jnp.mean(js.si_sdr(istft(S), istft(S_hat)))


def band_loss(Y: jax.Array, S: jax.Array, S_hat: jax.Array, cfg: TrainConfig, length: int) -> jax.Array:
    """The band model's loss, the same at any input level: with target and estimate scaled by the
    mixture's RMS, compressed complex + compressed magnitude terms, ``cfg.over_suppression`` times
    a penalty on the magnitude the estimate lacks, and ``MR_WEIGHT`` times the multi-resolution STFT
    loss of the waveforms (``MR_RESOLUTIONS``), plus ``cfg.stoi_weight`` times ``1 - STOI`` of the
    waveforms (:func:`jaxspec.stoi`, differentiable)."""
    rms = jnp.sqrt(jnp.mean(js.power(Y), axis=(-2, -1), keepdims=True))
    scale = 1.0 / jnp.maximum(rms, 1e-6)
    S, S_hat = S * scale, S_hat * scale
    d = js.compress(S_hat, power=SA_POWER) - js.compress(S, power=SA_POWER)
    m = js.compress(js.magnitude(S_hat), power=SA_POWER) - js.compress(js.magnitude(S), power=SA_POWER)
    under = jnp.minimum(m, 0.0)
    loss = jnp.mean(d.real ** 2 + d.imag ** 2) + jnp.mean(m * m) + cfg.over_suppression * jnp.mean(under * under)
    if MR_WEIGHT or cfg.stoi_weight:
        istft = lambda X: js.istft(X, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=length)  # noqa: E731
        s, s_hat = istft(S), istft(S_hat)
    if MR_WEIGHT:
        ffts, hops = zip(*MR_RESOLUTIONS)
        mr = js.multi_resolution_stft_loss(s, s_hat, fft_sizes=ffts, hop_sizes=hops, win_lengths=ffts, eps=1e-6)
        loss = loss + MR_WEIGHT * jnp.mean(mr)
    if cfg.stoi_weight:
        loss = loss + cfg.stoi_weight * jnp.mean(1.0 - js.stoi(s, s_hat, sr=cfg.sr))
    return loss


def loss_from_waves(model, clean: jax.Array, noise: jax.Array, mixture: jax.Array, cfg: TrainConfig) -> jax.Array:
    """The scalar training loss for one batch of aligned clean target / interference / mixture
    waveforms (``mixture = clean + noise``)."""
    stft = lambda x: js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    if cfg.loss == "sisdr":  # against the waveform itself
        out = model(features(Y := stft(mixture), cfg))
        s_hat = js.istft(mask_to_estimate(Y, out, cfg), n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                         length=clean.shape[-1])
        return -jnp.mean(js.si_sdr(clean, s_hat))
    return loss_from_stfts(model, stft(mixture), stft(clean), cfg, clean.shape[-1])


def draw_rirs(key: jax.Array, batch: int, cfg: TrainConfig) -> jax.Array:
    """One synthetic RIR per example ``(batch, rir_seconds * sr)``: RT60 and DRR drawn uniformly
    from the config's ranges (``jaxspec.synthetic_rir``: direct path plus an exponential tail)."""
    k_r, k_t, k_d = jax.random.split(key, 3)
    rt60 = jax.random.uniform(k_t, (batch,), minval=cfg.rt60_low, maxval=cfg.rt60_high)
    drr = jax.random.uniform(k_d, (batch,), minval=cfg.drr_low, maxval=cfg.drr_high)
    return js.synthetic_rir(k_r, sr=cfg.sr, rt60=rt60, length=int(round(cfg.rir_seconds * cfg.sr)), drr_db=drr)


def make_mixtures(key: jax.Array, clean_raw: jax.Array, noise_raw: jax.Array | None, cfg: TrainConfig,
                  rir: jax.Array | None = None, *, band: jax.Array | None = None, babble: jax.Array | None = None):
    """The on-device data pipeline: crops, speaker augmentation (``speaker_augment``:
    :func:`augment_speaker`), reverberation (``task`` with ``"dereverb"``, or ``rir`` given) or
    room augmentation (``reverb_prob``: :func:`augment_room`), level drift (:func:`gain_drift`)
    and noise EQ (``augment``), mixing at a random SNR (``task`` with ``"denoise"``; ``clean_share``
    of the rows get no noise), recording level (``level_range``), clipping guard.

    With reverberation (``rir`` ``(batch, rir_length)``, or synthetic RIRs drawn here for a
    dereverberation task) the speech is ``reverb(clean, rir, align=True)`` and the returned target
    is its early part (``early_rir``: direct path and the first 50 ms of reflections),
    time-aligned with the mixture.

    ``noise_raw`` ``(batch, L_n)``: noise rows, cropped at random. ``None``: noise generated here
    (:func:`fresh_noise`, ``cfg.fresh_noise``) from ``babble``, the speech stream its babble is cut
    from, and limited to each row's ``band`` (Hz, ``(batch,)``).

    Returns ``(target, interference, mixture)``, each ``(batch, cfg.segment)``, with
    ``mixture = target + interference``.
    """
    k_c, k_n, k_m = jax.random.split(key, 3)
    clean = js.fit_length(k_c, clean_raw, cfg.segment)
    if cfg.speaker_augment:
        clean = augment_speaker(jax.random.fold_in(key, 3), clean, cfg)
    if rir is None and cfg.task != "denoise":
        rir = draw_rirs(jax.random.fold_in(key, 2), clean.shape[0], cfg)
    speech = clean
    if rir is not None:
        speech = js.reverb(clean, rir, align=True)
        clean = js.reverb(clean, js.early_rir(rir, sr=cfg.sr), align=True)
    elif cfg.reverb_prob > 0:  # room augmentation: the target is the reverberant speech itself
        speech = clean = augment_room(jax.random.fold_in(key, 4), clean, cfg)
    if cfg.augment:  # the talker's level drifts within the segment (a constant gain would be undone by the SNR)
        k_g, k_e = jax.random.split(jax.random.fold_in(key, 1))
        g = gain_drift(k_g, clean.shape, cfg.sr)
        speech, clean = speech * g, clean * g
    if cfg.task == "dereverb":
        mixture = speech
    else:
        if noise_raw is None:
            if babble is None or band is None:
                raise ValueError("make_mixtures: noise_raw=None (noise made here) needs band and babble")
            noise = fresh_noise(k_n, babble, band, cfg)
        else:
            noise = js.fit_length(k_n, noise_raw, cfg.segment)
        if cfg.augment:
            N = js.random_eq(k_e, js.stft(noise, n_fft=cfg.n_fft, hop_length=cfg.hop_length), max_db=6.0)
            noise = js.istft(N, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=cfg.segment)
        # the SNR is that of the (reverberant) speech the listener hears against the noise
        mixture, _, _ = js.random_mix(k_m, speech, noise, js.Uniform(cfg.snr_low, cfg.snr_high))
        if cfg.clean_share > 0:  # some inputs are clean speech: the model must leave them alone
            quiet = jax.random.bernoulli(jax.random.fold_in(key, 6), cfg.clean_share, mixture.shape[:-1] + (1,))
            mixture = jnp.where(quiet, speech, mixture)
    if cfg.level_range is not None:  # recording level: the mixture's RMS uniform in level_range dBFS
        lo, hi = cfg.level_range
        level = jax.random.uniform(jax.random.fold_in(key, 5), mixture.shape[:-1] + (1,), minval=lo, maxval=hi)
        rms = jnp.sqrt(jnp.mean(mixture * mixture, axis=-1, keepdims=True))
        g = jnp.where(rms > 0, 10.0 ** (level / 20.0) / jnp.maximum(rms, 1e-12), 1.0)
        mixture, clean = mixture * g, clean * g
    mixture, gain = js.prevent_clipping(mixture)
    gain = jnp.reshape(gain, gain.shape + (1,) * (mixture.ndim - jnp.ndim(gain)))
    clean = clean * gain
    return clean, mixture - clean, mixture


def fresh_noise(key: jax.Array, babble: jax.Array, band: jax.Array, cfg: TrainConfig) -> jax.Array:
    """``(batch, cfg.segment)`` noise generated for one step (``cfg.fresh_noise``): a pool of
    ``ceil(batch / K)`` clips of each of the ``K`` kinds ``cfg.noise_kinds`` (babble and the other
    speech-based kinds cut from ``babble``, a 1-D speech stream), ``batch`` of them drawn without
    replacement, each low-passed to its row's ``band`` in Hz as the input pipeline's
    :func:`~jaxspec.enhance.input_pipeline.band_limit` does (a row whose band reaches Nyquist
    unchanged)."""
    batch = band.shape[0]
    kinds = cfg.noise_kinds
    n = len(kinds) * -(-batch // len(kinds))
    k_pool, k_pick = jax.random.split(key)
    pool = _noise.noise_bank(k_pool, babble, n=n, samples=cfg.segment, sr=cfg.sr, kinds=kinds)
    noise = pool[jax.random.permutation(k_pick, n)[:batch]]
    f = jnp.fft.rfftfreq(cfg.segment, 1.0 / cfg.sr)
    band = jnp.asarray(band, jnp.float32)[:, None]
    edge = 0.5 + 0.5 * jnp.cos(jnp.pi * jnp.clip((f - band) / ip.BAND_EDGE_HZ, 0.0, 1.0))
    gain = jnp.where(band + ip.BAND_EDGE_HZ >= cfg.sr / 2, 1.0, edge)
    return jnp.fft.irfft(jnp.fft.rfft(noise, axis=-1) * gain, n=cfg.segment, axis=-1)


GAIN_DRIFT_DB = 6.0  # the talker's level wanders within +-this over a segment
GAIN_DRIFT_SECONDS = 1.0  # spacing of the drift's control points


def gain_drift(key: jax.Array, shape: tuple[int, ...], sr: int) -> jax.Array:
    """A gain ``shape`` that wanders smoothly (linear between control points ``GAIN_DRIFT_SECONDS``
    apart, each uniform within ``GAIN_DRIFT_DB``) along the last axis."""
    n = shape[-1]
    k = int(math.ceil(n / (GAIN_DRIFT_SECONDS * sr))) + 1
    db = jax.random.uniform(key, shape[:-1] + (k,), minval=-GAIN_DRIFT_DB, maxval=GAIN_DRIFT_DB)
    t = jnp.linspace(0.0, k - 1.0, n)
    i = jnp.minimum(jnp.floor(t).astype(jnp.int32), k - 2)
    w = t - i
    db_t = jnp.take(db, i, axis=-1) * (1 - w) + jnp.take(db, i + 1, axis=-1) * w
    return 10.0 ** (db_t / 20.0)


# speaker and channel augmentation (TrainConfig.speaker_augment): what synthetic voices lack
SPEED_RANGE = (0.9, 1.1)  # speed perturbation (pitch and tempo together)
PITCH_SEMITONES = 3.0  # pitch shift, either way, tempo kept
SPEECH_EQ_DB = 8.0  # random smooth EQ / spectral tilt of the talker and microphone
# Shares of each batch that get the costly resampling-based changes. Rows are drawn independently,
# so changing a fixed share of them is the same as changing each with that probability, at a
# fraction of the cost. The rows are picked within groups of consecutive rows (the same places in
# every group), so a batch sharded over devices is augmented on each device's own rows.
SPEED_SHARE = 0.125
PITCH_SHARE = 0.125
ROOM_RT60 = (0.15, 0.6)  # room augmentation
ROOM_DRR_DB = (0.0, 12.0)


def augment_speaker(key: jax.Array, clean: jax.Array, cfg: TrainConfig) -> jax.Array:
    """Speaker and channel variety for clean speech ``(batch, samples)``, at its length: speed
    perturbation (``SPEED_RANGE``, pitch and tempo together; ``SPEED_SHARE`` of the rows), a
    pitch shift keeping the tempo (uniform within ``PITCH_SEMITONES``; ``PITCH_SHARE`` of the
    rows, others than the speed-perturbed ones) and a random smooth EQ (``SPEECH_EQ_DB``; all
    rows). With batches of fewer than 8 rows the shares are rounded up (at least one row each)."""
    k_s, k_p, k_e = jax.random.split(key, 3)
    B, L = clean.shape
    G = next(g for g in (8, 4, 2, 1) if B % g == 0)  # rows per group
    n_speed = max(1, int(round(SPEED_SHARE * G)))
    n_pitch = min(G - n_speed, max(1, int(round(PITCH_SHARE * G))))
    x = clean.reshape(B // G, G, L)
    rows = lambda lo, hi: x[:, lo:hi].reshape(-1, L)  # noqa: E731  (one batch dim: the transforms are fastest so)
    back = lambda y, n: y.reshape(B // G, n, L)  # noqa: E731
    ratio = jax.random.uniform(k_s, (B // G * n_speed,), minval=SPEED_RANGE[0], maxval=SPEED_RANGE[1])
    parts = [back(js.resample_fixed(rows(0, n_speed), ratio, length=L, min_ratio=SPEED_RANGE[0]), n_speed)]
    if n_pitch:
        steps = jax.random.uniform(k_p, (B // G * n_pitch,), minval=-PITCH_SEMITONES, maxval=PITCH_SEMITONES)
        # a quarter-frame hop: the vocoder's phase advance is only coherent with 75% overlap
        parts.append(back(js.pitch_shift(rows(n_speed, n_speed + n_pitch), steps, n_fft=cfg.n_fft,
                                         hop_length=cfg.n_fft // 4), n_pitch))
    x = jnp.concatenate(parts + [x[:, n_speed + n_pitch:]], axis=1).reshape(B, L)
    X = js.random_eq(k_e, js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length), n_points=6, max_db=SPEECH_EQ_DB)
    return js.istft(X, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=L)


def augment_room(key: jax.Array, clean: jax.Array, cfg: TrainConfig) -> jax.Array:
    """With probability ``cfg.reverb_prob`` per example, reverberate the speech with a synthetic RIR
    (RT60 uniform in ``ROOM_RT60`` s, DRR in ``ROOM_DRR_DB`` dB), time-aligned to its direct path."""
    k_r, k_t, k_d, k_u = jax.random.split(key, 4)
    B = clean.shape[0]
    rt60 = jax.random.uniform(k_t, (B,), minval=ROOM_RT60[0], maxval=ROOM_RT60[1])
    drr = jax.random.uniform(k_d, (B,), minval=ROOM_DRR_DB[0], maxval=ROOM_DRR_DB[1])
    rir = js.synthetic_rir(k_r, sr=cfg.sr, rt60=rt60, length=int(round(ROOM_RT60[1] * cfg.sr)), drr_db=drr)
    wet = js.reverb(clean, rir, align=True)
    return jnp.where(jax.random.bernoulli(k_u, cfg.reverb_prob, (B, 1)), wet, clean)


def make_schedule(cfg: TrainConfig) -> optax.Schedule:
    """Linear warm-up to ``cfg.lr``, then cosine decay to ``cfg.lr * cfg.final_lr_ratio`` at ``cfg.steps``."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=cfg.lr, warmup_steps=min(cfg.warmup_steps, max(cfg.steps - 1, 0)),
        decay_steps=max(cfg.steps, cfg.warmup_steps + 1), end_value=cfg.lr * cfg.final_lr_ratio)


def make_optimizer(model, cfg: TrainConfig) -> nnx.Optimizer:
    """AdamW on :func:`make_schedule`, after global-norm gradient clipping."""
    tx = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), optax.adamw(make_schedule(cfg), weight_decay=cfg.weight_decay))
    return nnx.Optimizer(model, tx, wrt=nnx.Param)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


@functools.lru_cache(maxsize=8)
def make_train_step(cfg: TrainConfig) -> Callable:
    """``train_step(model, optimizer, clean_raw, noise_raw, key, rir=None, band=None, babble=None)
    -> {"loss", "grad_norm", "ok"}``, one ``nnx.jit``.

    ``clean_raw`` ``(batch, L_c)`` and ``noise_raw`` ``(batch, L_n)`` are raw rows (longer ones
    are cropped at random, shorter ones looped by ``fit_length``); ``rir`` ``(batch, rir_length)``
    reverberates the speech. ``noise_raw=None`` makes the noise in the step from ``band`` and
    ``babble`` (:func:`make_mixtures`). The model and optimiser are updated in place, unless the
    loss, the gradient norm or any updated parameter is not finite: then the step is skipped (both
    keep their previous state) and ``ok`` is False. Cached per config.
    """

    @nnx.jit
    def train_step(model, optimizer, clean_raw, noise_raw, key, rir=None, band=None, babble=None):
        clean, noise, mixture = make_mixtures(key, clean_raw, noise_raw, cfg, rir, band=band, babble=babble)
        loss, grads = nnx.value_and_grad(loss_from_waves)(model, clean, noise, mixture, cfg)
        return _guarded_update(model, optimizer, loss, grads)

    return train_step


def _guarded_update(model, optimizer, loss, grads) -> dict:
    """Apply the update unless the loss, the gradient norm or an updated parameter is not finite."""
    grad_norm = optax.tree.norm(grads)
    snapshot = lambda tree: jax.tree.map(lambda x: x, nnx.state(tree))  # noqa: E731  (values now, not live variables)
    before_m, before_o = snapshot(model), snapshot(optimizer)
    optimizer.update(model, grads)
    after_m, after_o = nnx.state(model), nnx.state(optimizer)
    ok = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & _all_finite(after_m)
    keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
    nnx.update(model, jax.tree.map(keep, after_m, before_m))
    nnx.update(optimizer, jax.tree.map(keep, after_o, before_o))
    return {"loss": loss, "grad_norm": grad_norm, "ok": ok}


@functools.lru_cache(maxsize=8)
def make_pairs_step(cfg: TrainConfig) -> Callable:
    """``pairs_step(model, optimizer, inputs, targets) -> {"loss", "grad_norm", "ok"}``: the train
    step for precomputed spectrogram pairs (:mod:`jaxspec.enhance.pairs`, channels-last float16),
    with the same loss and non-finite guard as :func:`make_train_step`."""
    from .pairs import from_channels_last

    @nnx.jit
    def pairs_step(model, optimizer, inputs, targets):
        Y, S = from_channels_last(inputs), from_channels_last(targets)
        loss, grads = nnx.value_and_grad(loss_from_stfts)(model, Y, S, cfg, cfg.segment)
        return _guarded_update(model, optimizer, loss, grads)

    return pairs_step


# ----------------------------------------------------------------------------- sharding

def make_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D ``Mesh`` over ``devices`` (default: all, across hosts) with axis ``"batch"``."""
    devices = jax.devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), ("batch",))


def replicate(tree, mesh: jax.sharding.Mesh):
    """Place every array of an NNX graph (model, optimiser) replicated on ``mesh``, in place."""
    state = nnx.state(tree)
    state = jax.device_put(state, NamedSharding(mesh, P()))
    nnx.update(tree, state)
    return tree


def shard_batch(x: np.ndarray, mesh: jax.sharding.Mesh) -> jax.Array:
    """This process's rows of a batch as one global array sharded over ``"batch"``."""
    return jax.make_array_from_process_local_data(NamedSharding(mesh, P("batch")), np.asarray(x))


# ----------------------------------------------------------------------------- data sources

def _speech_stream(corpus, sr: int, seconds: float = 60.0) -> np.ndarray:
    """Up to ``seconds`` of speech (fixed crops) for generated babble."""
    rng = np.random.default_rng(1234)
    n = int(min(seconds, max(corpus.seconds, 1.0)) * sr)
    chunk = min(n, 2 * sr)
    return np.concatenate([corpus.crop(rng, chunk) for _ in range(max(1, n // chunk))])


def noise_bank(cfg: TrainConfig, speech, *, key: jax.Array, n: int | None = None, seconds: float | None = None) -> np.ndarray:
    """Generated noise rows ``(n, samples)`` of the kinds ``cfg.noise_kinds`` (babble from ``speech``)."""
    n = cfg.noise_clips if n is None else n
    samples = int(round((cfg.noise_seconds if seconds is None else seconds) * cfg.sr))
    stream = jnp.asarray(_speech_stream(speech, cfg.sr))
    bank = jax.jit(_noise.noise_bank, static_argnames=("n", "samples", "sr", "kinds"))(
        key, stream, n=n, samples=samples, sr=cfg.sr, kinds=cfg.noise_kinds)
    return np.asarray(bank)


@dataclasses.dataclass(frozen=True)
class FreshNoise:
    """The noise source of ``cfg.fresh_noise``: noise generated inside every step, its babble cut
    from ``stream`` (1-D speech)."""

    stream: np.ndarray


def step_noise(b: dict, noise) -> tuple:
    """``(noise_raw, band, babble)`` for :func:`make_mixtures` from a
    :class:`~jaxspec.enhance.input_pipeline.StepBatches` batch ``b`` of the noise source ``noise``."""
    if isinstance(noise, FreshNoise):
        return None, b["band"], noise.stream
    return b["noise"], None, None


def build_sources(cfg: TrainConfig, *, log: Callable[[str], None] = print):
    """``(speech, noise, rirs)`` for training: file corpora (or the shipped corpus and a generated
    noise bank, or with ``cfg.fresh_noise`` a :class:`FreshNoise`) and an optional
    :class:`~jaxspec.enhance.input_pipeline.RirSet`."""
    skip = cfg.skip_bad_files
    babble = None
    if cfg.speech is None and cfg.corpus == "real":
        speech = _real_corpus("train", cfg, log)
        babble = _real_corpus("babble", cfg, log)
    elif cfg.speech is None:
        files, _ = ip.scan(ip.shipped_speech("train"), what="shipped speech", log=log)
        speech = ip.Corpus(files, sr=cfg.sr, what="shipped speech")
    else:
        speech = ip.Corpus.from_source(cfg.speech, sr=cfg.sr, skip_bad=skip, what="speech", log=log)
    if cfg.task == "dereverb" and cfg.noise is None:  # no noise in this task: nothing to generate
        noise = ip.ArrayCorpus(np.zeros((1, 1), np.float32), sr=cfg.sr, what="no noise")
    elif cfg.noise is None and cfg.fresh_noise:
        noise = FreshNoise(_speech_stream(speech if babble is None else babble, cfg.sr))
    elif cfg.noise is None:
        bank = noise_bank(cfg, speech if babble is None else babble, key=jax.random.fold_in(jax.random.key(cfg.seed), 1 << 20))
        noise = ip.ArrayCorpus(bank, sr=cfg.sr, what="generated noise")
    else:
        noise = ip.Corpus.from_source(cfg.noise, sr=cfg.sr, skip_bad=skip, what="noise", log=log)
    rirs = None
    if cfg.rir is not None:
        rirs = ip.RirSet(cfg.rir, sr=cfg.sr, length=int(round(cfg.rir_seconds * cfg.sr)), skip_bad=skip, log=log)
    return speech, noise, rirs


def _real_corpus(split: str, cfg: TrainConfig, log) -> ip.Corpus:
    """One split of the shipped real-speech corpus, with each recording's bandwidth."""
    entries = ip.real_speech(split)
    files, _ = ip.scan([e["path"] for e in entries], what=f"real speech ({split})", log=log)
    return ip.Corpus(files, sr=cfg.sr, what=f"real speech ({split})", bands=[e["bandwidth_hz"] for e in entries])


def validation_set(cfg: TrainConfig, *, log: Callable[[str], None] = print):
    """``(target, mixture)`` ``(valid_clips, segment)``: fixed examples from the validation sources,
    made by the training pipeline itself (:func:`make_mixtures` with a fixed key, no augmentation),
    so they follow the task (noise at a random SNR, reverberation, or both); None without
    validation sources."""
    if cfg.valid_speech is None:
        return None
    speech = ip.Corpus.from_source(cfg.valid_speech, sr=cfg.sr, skip_bad=cfg.skip_bad_files, what="valid_speech", log=log)
    noise = ip.Corpus.from_source(cfg.valid_noise, sr=cfg.sr, skip_bad=cfg.skip_bad_files, what="valid_noise", log=log)
    b = ip.StepBatches(seed=cfg.seed, segment=cfg.segment, rows=range(cfg.valid_clips), speech=speech, noise=noise)(VALID_SEED)
    target, _, mixture = make_mixtures(jax.random.key(VALID_SEED), jnp.asarray(b["clean"]), jnp.asarray(b["noise"]),
                                       cfg.replace(augment=False))
    return target, mixture


# ----------------------------------------------------------------------------- the loop

class _Interrupt:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps (main thread only)."""

    def __init__(self):
        self.hit, self._old = None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.hit is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self.hit = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class _Progress:
    """A rich progress bar on a terminal; plain lines every ``every`` steps otherwise."""

    def __init__(self, total: int, start: int, every: int, stream=None, enabled: bool = True):
        self.total, self.every, self.stream = total, every, stream or sys.stdout
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self.bar = None
        if self.tty:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]:.1f} steps/s"), TextColumn("loss {task.fields[loss]}"),
                                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                console=Console(file=self.stream), transient=False)
            self.task = self.bar.add_task("train", total=total, completed=start, rate=0.0, loss="-")
            self.bar.start()

    def update(self, step: int, loss: float, rate: float, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(self.task, completed=step, rate=rate, loss=f"{loss:.4f}")
        elif final or step % self.every == 0:
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            print(f"step {step}/{self.total}  loss {loss:.4f}  {rate:.2f} steps/s  eta {eta:4.0f} s",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


NORM_STEPS = 8  # batches of training mixtures measured for feature_norm="fixed"


def measure_features(model, cfg: TrainConfig, stfts) -> None:
    """Fill the model's :class:`~jaxspec.enhance.models.FeatureNorm` (``feature_norm="fixed"``) with
    the per-feature mean and variance of :func:`features` over ``stfts``, an iterable of mixture
    STFT batches ``(batch, freq, frames)`` (``jaxspec.Standardizer``); a no-op for other models."""
    norm = getattr(model, "norm", None)
    if norm is None:
        return
    update = jax.jit(lambda st, Y: st.update(features(Y, cfg)))
    stats = js.Standardizer.init(norm.mean.get_value().shape)
    for Y in stfts:
        stats = update(stats, jnp.asarray(Y))
    norm.set(stats)


def training_mixtures(cfg: TrainConfig, speech, noise, rirs=None, *, steps: int = NORM_STEPS):
    """STFTs of the mixtures of ``steps`` whole batches made exactly as training makes them (same
    sources, augmentation and mixing; keys of their own), for measuring feature statistics. Every
    process reads every row, so all processes measure the same statistics."""
    batches = ip.StepBatches(seed=cfg.seed, segment=cfg.segment, rows=range(cfg.batch_size), speech=speech,
                             noise=None if isinstance(noise, FreshNoise) else noise, rirs=rirs,
                             pause_range=cfg.pause_range)
    mix = jax.jit(lambda k, c, n, r, band, bab: js.stft(make_mixtures(k, c, n, cfg, r, band=band, babble=bab)[2],
                                                        n_fft=cfg.n_fft, hop_length=cfg.hop_length))
    key = jax.random.fold_in(jax.random.key(cfg.seed), 1 << 21)
    for i in range(steps):
        b = batches(i)
        rir = jnp.asarray(b["rir"]) if "rir" in b else None
        n, band, bab = step_noise(b, noise)
        yield mix(jax.random.fold_in(key, i), jnp.asarray(b["clean"]), None if n is None else jnp.asarray(n), rir,
                  None if band is None else jnp.asarray(band), None if bab is None else jnp.asarray(bab))


def _build(cfg: TrainConfig):
    model = make_model(cfg, rngs=nnx.Rngs(cfg.seed))
    return model, make_optimizer(model, cfg)


def run(cfg: TrainConfig, workdir: str, *, resume: bool = True, until: int | None = None,
        log: Callable[[str], None] = print, progress_stream=None) -> dict:
    """Train ``cfg`` in ``workdir`` (created if needed), resuming from its latest usable checkpoint.

    Args:
      cfg: the run's configuration.
      workdir: directory for ``checkpoints/``, ``metrics.jsonl`` and ``train_log.json``.
      resume: continue from the checkpoint in ``workdir`` if there is one (its config must be ``cfg``).
      until: stop (with a checkpoint) after this step instead of ``cfg.steps``; the schedule and the
        data are still those of ``cfg.steps``, so a run resumed later continues exactly.
      log: where status lines go.
      progress_stream: where the progress bar goes (default stdout).

    Returns:
      ``{"model", "cfg", "step", "losses", "skipped", "steps_per_s", "seconds", "interrupted"}``.

    Raises:
      TrainingStopped: more than ``cfg.max_bad_steps`` non-finite steps in a row; the last finite
        checkpoint is kept.
      input_pipeline.BadAudioFile / ValueError / FileNotFoundError: bad data sources or config.
      checkpoints.CheckpointError: the work directory's checkpoints are unusable or of another config.
    """
    os.makedirs(workdir, exist_ok=True)
    mesh = make_mesh()
    n_dev, pi, pc = mesh.devices.size, jax.process_index(), jax.process_count()
    if cfg.batch_size % n_dev:
        raise ValueError(f"batch_size ({cfg.batch_size}) must be a multiple of the device count ({n_dev})")
    rows = ip.rows_for_process(cfg.batch_size, pi, pc)
    if pi != 0:  # one process speaks for all
        log = lambda s: None  # noqa: E731
    pairs = None
    if cfg.pairs is not None:
        from .pairs import PairBatches, PairSource

        pairs = PairSource(cfg.pairs)
        pairs.check(cfg)
    else:
        speech, noise, rirs = build_sources(cfg, log=log)
    valid = validation_set(cfg, log=log)

    start, data_state = 0, {}
    if resume and ckpt.steps(workdir):
        model, optimizer, _, start, data_state = ckpt.restore_latest(workdir, _build, expect=cfg, log=log)
        if pi == 0:
            ckpt.set_aside_after(workdir, start, log=log)
        log(f"resuming from step {start} in {workdir}")
    else:
        if ckpt.steps(workdir) and pi == 0:
            ckpt.set_aside_after(workdir, -1, log=log, reason="previous")
        model, optimizer = _build(cfg)
        if pairs is not None:
            from .pairs import from_channels_last

            first = PairBatches(pairs, seed=cfg.seed, batch_size=cfg.batch_size, rows=range(cfg.batch_size))
            measure_features(model, cfg, (from_channels_last(jnp.asarray(first(i)["input"])) for i in range(NORM_STEPS)))
        else:
            measure_features(model, cfg, training_mixtures(cfg, speech, noise, rirs))
    replicate(model, mesh)
    replicate(optimizer, mesh)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    if pairs is not None:
        data = f"{len(pairs)} spectrogram pairs from {cfg.pairs}"
    else:
        if cfg.task == "dereverb" and cfg.noise is None:
            noise_text = "no noise"
        elif isinstance(noise, FreshNoise):
            noise_text = f"noise generated in every step ({'/'.join(cfg.noise_kinds)})"
        else:
            noise_text = f"{len(noise)} noise " + ("file(s)" if cfg.noise else f"clip(s) generated ({'/'.join(cfg.noise_kinds)})")
        data = (f"{len(speech)} speech file(s) ({speech.seconds / 3600:.2f} h), {noise_text}"
                + (f", {len(rirs)} RIR(s)" if rirs is not None else "")
                + (", synthetic RIRs" if rirs is None and cfg.task != "denoise" else ""))
    log(f"training {cfg.model} for {cfg.task} ({n_params / 1e6:.2f} M params, target {cfg.target}, loss {cfg.loss}) "
        f"on {data}; batch {cfg.batch_size} x {cfg.segment / cfg.sr:.2f} s on {n_dev} {jax.devices()[0].platform} device(s)"
        + (f" in {pc} processes" if pc > 1 else ""))

    if pairs is not None:
        batches = PairBatches(pairs, seed=cfg.seed, batch_size=cfg.batch_size, rows=rows)
    else:
        batches = ip.StepBatches(seed=cfg.seed, segment=cfg.segment, rows=rows, speech=speech,
                                 noise=None if isinstance(noise, FreshNoise) else noise, rirs=rirs,
                                 pause_range=cfg.pause_range)
        if isinstance(noise, FreshNoise):
            babble_on_mesh = jax.device_put(jnp.asarray(noise.stream), NamedSharding(mesh, P()))
    if data_state.get("next_step", start) != start:
        raise ckpt.CheckpointError(f"checkpoint of step {start} in {workdir!r} records data position "
                                   f"{data_state.get('next_step')!r}; it was not written by this trainer")
    it = iter(ip.make_dataset(batches, steps=cfg.steps, start=start, workers=cfg.workers, threads=cfg.threads))

    step_fn = make_train_step(cfg) if pairs is None else make_pairs_step(cfg)
    schedule = make_schedule(cfg)
    base_key = jax.random.key(cfg.seed)
    stop = cfg.steps if until is None else max(start, min(int(until), cfg.steps))
    main = pi == 0
    progress = _Progress(cfg.steps, start, cfg.log_every, progress_stream, enabled=main)
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    evaluate_valid = None
    if valid is not None:
        evaluate_valid = nnx.jit(lambda m, c, y: js.si_sdr(c, enhance_waveform(m, y, cfg)[0]))
        noisy_sdr = float(jnp.mean(js.si_sdr(valid[0], valid[1])))
    losses: list[tuple[int, float]] = []
    skipped: list[int] = []
    bad_run = 0
    pending = []
    t_start = time.perf_counter()
    t_mark, s_mark = t_start, start
    t_after_first = None
    step = start
    interrupted = False

    fast_step = nnx.cached_partial(step_fn, model, optimizer)  # caches the graph traversal of model and optimiser

    def checkpoint(at: int) -> None:
        ckpt.save(workdir, model, optimizer, cfg, at, data_state={"next_step": at})

    with _Interrupt() as intr:
        try:
            while step < stop:
                if intr.hit is not None:
                    interrupted = True
                    break
                b = next(it)
                if pairs is not None:
                    metrics = fast_step(shard_batch(b["input"], mesh), shard_batch(b["target"], mesh))
                else:
                    rir = shard_batch(b["rir"], mesh) if "rir" in b else None
                    if "band" in b:  # noise made in the step
                        metrics = fast_step(shard_batch(b["clean"], mesh), None, jax.random.fold_in(base_key, step),
                                            rir, shard_batch(b["band"], mesh), babble_on_mesh)
                    else:
                        metrics = fast_step(shard_batch(b["clean"], mesh), shard_batch(b["noise"], mesh),
                                            jax.random.fold_in(base_key, step), rir)
                step += 1
                pending.append((step, metrics))
                if step == start + 1:
                    float(metrics["loss"])
                    t_after_first = time.perf_counter()
                last = step == stop
                if step % cfg.log_every and step % cfg.checkpoint_every and not last:
                    continue
                vals = [(s, float(m["loss"]), float(m["grad_norm"]), bool(m["ok"])) for s, m in pending]
                pending = []
                for s, loss, _, ok in vals:
                    if ok:
                        losses.append((s, loss))
                        bad_run = 0
                    else:
                        skipped.append(s)
                        bad_run += 1
                        if bad_run > cfg.max_bad_steps:
                            raise TrainingStopped(
                                f"training stopped: {bad_run} steps in a row (the last at step {s}) had a non-finite "
                                f"loss, gradient or update and were skipped; the last finite checkpoint is kept in "
                                f"{ckpt.checkpoint_dir(workdir)} (check the data, or lower lr / clip_norm)")
                now = time.perf_counter()
                rate = (step - s_mark) / max(now - t_mark, 1e-9)
                t_mark, s_mark = now, step
                good = [l for _, l, _, ok in vals if ok]
                mean_loss = float(np.mean(good)) if good else float("nan")
                progress.update(step, mean_loss, rate, final=last)
                record = {"step": step, "loss": mean_loss if good else None,
                          "grad_norm": float(np.mean([g for _, _, g, ok in vals if ok])) if good else None,
                          "lr": float(schedule(step - 1)), "steps_per_s": rate,
                          "audio_seconds_per_s": rate * cfg.batch_size * cfg.segment / cfg.sr,
                          "skipped_steps": len(skipped)}
                if evaluate_valid is not None:
                    sdr = float(jnp.mean(evaluate_valid(model, valid[0], valid[1])))
                    record.update(valid_si_sdr=sdr, valid_si_sdr_i=sdr - noisy_sdr)
                if main:
                    with open(metrics_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                if step % cfg.checkpoint_every == 0 or last:
                    checkpoint(step)
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            if step > start or not ckpt.steps(workdir):
                checkpoint(step)
            log(f"interrupted at step {step}: checkpoint saved in {ckpt.checkpoint_dir(workdir)}; "
                "run the same command again to resume")
    progress.close()
    if skipped:
        log(f"skipped {len(skipped)} non-finite step(s), e.g. step {skipped[0]}")
    seconds = time.perf_counter() - t_start
    timed = step - start - 1
    sps = timed / (time.perf_counter() - t_after_first) if t_after_first and timed > 0 else float("nan")
    if main:
        with open(os.path.join(workdir, "train_log.json"), "w") as f:
            json.dump({"losses": losses, "skipped_steps": skipped, "steps_per_s": sps, "seconds": seconds,
                       "devices": n_dev, "processes": pc, "step": step, "interrupted": interrupted}, f)
    return {"model": model, "cfg": cfg, "step": step, "losses": losses, "skipped": skipped, "steps_per_s": sps,
            "seconds": seconds, "interrupted": interrupted}


def load(path: str, *, log: Callable[[str], None] = print):
    """The model of the newest usable checkpoint under ``path``: ``(model, cfg, step)``."""
    model, _, cfg, step, _ = ckpt.restore_latest(path, _build, log=log)
    return model, cfg, step
