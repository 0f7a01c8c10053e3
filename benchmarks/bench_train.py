"""Training throughput of the example: steps/s of the one-jit training step, and the share of the
step spent in the on-device data pipeline (crops + mixing + STFTs + features + targets).

Batch 32 x 2 s at 16 kHz (quick: 4 x 0.5 s), the frame-wise DNN recipe (3 x 256 units, +-2
context frames, hop 128, SA loss, no augmentation), and a row for the example's default step (the
causal GRU with speaker, room and level augmentation). The pipeline row is the DNN step's first
half, jitted on its own; its share is pipeline time / step time.
"""

from __future__ import annotations

import time

import jax
import numpy as np
from flax import nnx

from jaxspec.enhance import train
from jaxspec.enhance.config import TrainConfig

from . import _harness

SUITE = "train"


def _pipeline(cfg):
    import jaxspec as js

    def fn(clean_raw, noise_raw, key):
        clean, noise, mixture = train.make_mixtures(key, clean_raw, noise_raw, cfg)
        stft = lambda x: js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
        Y, S, N = stft(mixture), stft(clean), stft(noise)
        return train.features(Y, cfg), train.target_mask(S, N, cfg), S

    return fn


# the frame-wise DNN recipe these rows have always timed (the example's default before the causal GRU)
DNN_BASELINE = dict(model="dnn", layers=3, context=2, hop_length=128, feature_norm="utterance", augment=False,
                    speaker_augment=False, reverb_prob=0.0, level_range=None)


def _time_step(cfg, clean, noise, key, repeats):
    model = train.make_model(cfg, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(model, cfg)
    step = train.make_train_step(cfg)
    t0 = time.perf_counter()
    float(step(model, opt, clean, noise, key)["loss"])
    compile_ms = (time.perf_counter() - t0) * 1e3
    timing = _harness.time_call(lambda: step(model, opt, clean, noise, key)["loss"], repeats=repeats)
    timing["compile_ms"] = compile_ms
    return timing


def run(ctx: _harness.Ctx) -> list[dict]:
    batch = ctx.size(32, 4)
    seconds = 2.0 if not ctx.quick else 0.5
    cfg = TrainConfig(batch_size=batch, segment_seconds=seconds, **DNN_BASELINE)
    rng = np.random.default_rng(0)
    raw_len = int(1.5 * cfg.segment)
    clean = jax.numpy.asarray((0.1 * rng.standard_normal((batch, raw_len))).astype(np.float32))
    noise = jax.numpy.asarray(rng.standard_normal((batch, raw_len)).astype(np.float32))
    key = jax.random.key(0)
    shape = f"{batch}x{seconds:g}s"

    pipe = _harness.time_jax(_pipeline(cfg), clean, noise, key, repeats=ctx.repeats)
    rows = [_harness.row(SUITE, f"data pipeline {shape}", "jaxspec (mix+stft+features+irm)", pipe)]
    timing = _time_step(cfg, clean, noise, key, ctx.repeats)
    rows.append(_harness.row(SUITE, f"train step {shape}", "jaxspec nnx.jit step (DNN 3x256, SA)", timing,
                             steps_per_s=1e3 / timing["median_ms"], device=str(jax.devices()[0].device_kind)))
    gru = TrainConfig(batch_size=batch, segment_seconds=seconds)  # the default: causal GRU, augmentation
    timing = _time_step(gru, clean, noise, key, ctx.repeats)
    rows.append(_harness.row(SUITE, f"default train step {shape}", "causal GRU 2x256, speaker/room/level "
                             "augmentation, SA", timing, steps_per_s=1e3 / timing["median_ms"],
                             device=str(jax.devices()[0].device_kind)))
    return rows


def summarize(rows: list[dict]) -> list[str]:
    pipe = next(r for r in rows if r["name"].startswith("data pipeline"))
    step = next(r for r in rows if r["name"].startswith("train step"))
    share = pipe["median_ms"] / step["median_ms"]
    return [f"- training: {step['steps_per_s']:.2f} steps/s ({step['name'][len('train step '):]}, {step['device']}); "
            f"the on-device data pipeline is {100 * share:.0f}% of the step time "
            f"({pipe['median_ms']:.1f} of {step['median_ms']:.1f} ms)."] + [
        f"- the default step (causal GRU with augmentation): {r['steps_per_s']:.2f} steps/s"
        for r in rows if r["name"].startswith("default train step")]
