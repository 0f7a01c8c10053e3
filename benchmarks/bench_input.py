"""The example's input pipeline: seconds of audio per second the grain loader delivers from a
directory of long files, beside what the default training step consumes.

Corpus: long generated files written to a temporary directory (full: 12 files x 60 s, mixed 16 /
44.1 / 48 kHz, mono and stereo, WAV and FLAC; quick: 4 x 5 s). The loader reads lazy random crops
(partial reads), down-mixes and resamples to 16 kHz, for the default config (batch 16 x 1 s speech
+ noise per step). Rows: in-process with 1 and 2 reading threads (the default), 1 and 2 grain
worker processes; the first batches (worker start-up) are not timed. The demand row is the default ``TrainConfig()`` training step
(DNN 3x256, SA loss) on this machine, in audio seconds (speech + noise) per second. Run it without
``--cores 1``: the workers need cores of their own.
"""

from __future__ import annotations

import os
import tempfile
import time

import jax
import numpy as np
import soundfile as sf

from jaxspec.enhance import input_pipeline as ip
from jaxspec.enhance import train
from jaxspec.enhance.config import TrainConfig

from . import _harness

SUITE = "input"


def _corpus(root: str, n: int, seconds: float) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        sr = (16000, 44100, 48000)[i % 3]
        channels = 1 + i % 2
        x = 0.1 * rng.standard_normal((int(seconds * sr), channels)).astype(np.float32)
        sf.write(os.path.join(root, f"long{i:02d}" + (".flac" if i % 2 else ".wav")), x, sr)


def _throughput(batches, *, workers: int, threads: int, steps: int, skip: int) -> tuple[float, float]:
    """(audio seconds per second, batches per second) over ``steps`` batches after ``skip``."""
    it = iter(ip.make_dataset(batches, steps=steps + skip, workers=workers, threads=threads))
    for _ in range(skip):
        next(it)
    t0 = time.perf_counter()
    n = 0
    for b in it:
        n += 1
    dt = time.perf_counter() - t0
    per_batch = (b["clean"].size + b["noise"].size) / batches.speech.sr
    return n * per_batch / dt, n / dt


def run(ctx: _harness.Ctx) -> list[dict]:
    cfg = TrainConfig()
    steps = ctx.size(60, 6)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        _corpus(root, ctx.size(12, 4), 60.0 if not ctx.quick else 5.0)
        speech = ip.Corpus.from_source(root, sr=cfg.sr, what="speech", log=lambda s: None)
        noise = ip.Corpus.from_source(root, sr=cfg.sr, what="noise", log=lambda s: None)
        batches = ip.StepBatches(seed=0, segment=cfg.segment, rows=range(cfg.batch_size), speech=speech, noise=noise)
        for workers, threads in ((0, 1), (0, 2), (1, 1), (2, 1)):
            audio_s, bps = _throughput(batches, workers=workers, threads=threads, steps=steps, skip=2 if workers else 1)
            rows.append(_harness.row(SUITE, f"loader batch {cfg.batch_size}x{cfg.segment_seconds:g}s",
                                     f"grain, {workers} worker(s) x {threads} thread(s)",
                                     {"median_ms": 1e3 / bps, "compile_ms": None}, workers=workers, threads=threads,
                                     audio_seconds_per_s=audio_s, corpus_hours=speech.seconds / 3600))
    # what the default training step consumes
    rng = np.random.default_rng(0)
    clean = jax.numpy.asarray((0.1 * rng.standard_normal((cfg.batch_size, cfg.segment))).astype(np.float32))
    noise = jax.numpy.asarray(rng.standard_normal((cfg.batch_size, cfg.segment)).astype(np.float32))
    model, opt = train._build(cfg)
    step = train.make_train_step(cfg)
    key = jax.random.key(0)
    t0 = time.perf_counter()
    float(step(model, opt, clean, noise, key)["loss"])
    compile_ms = (time.perf_counter() - t0) * 1e3
    timing = _harness.time_call(lambda: step(model, opt, clean, noise, key)["loss"], repeats=ctx.repeats)
    timing["compile_ms"] = compile_ms
    demand = 1e3 / timing["median_ms"] * 2 * cfg.batch_size * cfg.segment / cfg.sr
    rows.append(_harness.row(SUITE, f"train step {cfg.batch_size}x{cfg.segment_seconds:g}s (demand)",
                             "default TrainConfig step", timing, audio_seconds_per_s=demand,
                             device=str(jax.devices()[0].device_kind)))
    return rows


def summarize(rows: list[dict]) -> list[str]:
    demand = next(r for r in rows if "demand" in r["name"])["audio_seconds_per_s"]
    out = [f"- the default training step consumes {demand:.0f} s of audio (speech + noise) per second "
           f"({rows[-1]['device']})."]
    for r in rows[:-1]:
        out.append(f"- loader, {r['workers']} worker process(es) x {r['threads']} thread(s): "
                   f"{r['audio_seconds_per_s']:.0f} audio s/s = "
                   f"{r['audio_seconds_per_s'] / demand:.1f}x the step's demand (target >= 3x)")
    return out
