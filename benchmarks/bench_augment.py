"""A batch augmentation chain inside one compiled function, and its stages alone.

Batch 32 x 4 s at 16 kHz (quick: 4 x 1 s). The chain: random gain -> reverb with a per-example
synthetic RIR (RT60 drawn in [0.2, 0.8] s, 0.5 s long, FFT convolution, direct-path aligned) ->
STFT (n_fft 512, hop 128) -> random EQ (8 control points, +-6 dB) -> SpecAugment (2 time masks of up
to 40 frames, 2 frequency masks of up to 30 bins). Reported in ms per batch (target:
report it; no reference library does this per example on device). Rows for each stage alone and the
floor (a bare rfft over an already framed array of the STFT's size) show where the time goes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _harness

SUITE = "augment"
SR, N_FFT, HOP, RIR_LEN = 16000, 512, 128, 8000


def _signal(batch: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(n) / SR
    f0 = 120 + 80 * rng.random((batch, 1))
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) + 0.05 * rng.standard_normal((batch, n))
    return (0.2 * x).astype(np.float32)


def _reverb_stage(key, x):
    import jaxspec as js

    k1, k2 = jax.random.split(key)
    rt60 = jax.random.uniform(k1, x.shape[:-1], x.dtype, 0.2, 0.8)
    return js.reverb(x, js.synthetic_rir(k2, sr=SR, rt60=rt60, length=RIR_LEN, drr_db=3.0), align=True)


def make_chain():
    import jaxspec as js

    return js.chain(
        functools.partial(js.random_gain, min_db=-6.0, max_db=6.0),
        _reverb_stage,
        lambda key, x: js.stft(x, n_fft=N_FFT, hop_length=HOP),
        functools.partial(js.random_eq, n_points=8, max_db=6.0),
        functools.partial(js.random_spec_augment, max_time_width=40, max_freq_width=30),
    )


def run(ctx: _harness.Ctx) -> list[dict]:
    import jaxspec as js

    rows, rep = [], ctx.repeats
    B, secs = ctx.size(32, 4), ctx.size(4, 1)
    x = jnp.asarray(_signal(B, SR * secs))
    key = jax.random.key(0)
    name = f"augment chain {B}x{secs}s"
    chain = make_chain()
    rows.append(_harness.row(SUITE, name, "jaxspec chain (one jit)", _harness.time_jax(chain, key, x, repeats=rep)))
    rows.append(_harness.row(SUITE, name, "jaxspec chain, vmap over keys", _harness.time_jax(
        lambda k, x: jax.vmap(chain)(jax.random.split(k, x.shape[0]), x), key, x, repeats=rep)))
    S = js.stft(x, n_fft=N_FFT, hop_length=HOP)
    stages = [
        ("random_gain", lambda k, x: js.random_gain(k, x), x),
        ("reverb + synthetic_rir", _reverb_stage, x),
        ("stft", lambda k, x: js.stft(x, n_fft=N_FFT, hop_length=HOP), x),
        ("random_eq", lambda k, S: js.random_eq(k, S), S),
        ("random_spec_augment", lambda k, S: js.random_spec_augment(k, S, max_time_width=40, max_freq_width=30), S),
    ]
    for stage, f, arg in stages:
        rows.append(_harness.row(SUITE, name, f"stage: {stage}", _harness.time_jax(f, key, arg, repeats=rep)))
    frames = jnp.asarray(np.random.default_rng(1).standard_normal((B, S.shape[-1], N_FFT)).astype(np.float32))
    rows.append(_harness.row(SUITE, name, "floor: rfft of framed",
                             _harness.time_jax(lambda f: jnp.fft.rfft(f, axis=-1), frames, repeats=rep)))
    return rows


def summarize(rows: list[dict]) -> list[str]:
    by = {r["impl"]: r for r in rows}
    out = []
    c = by.get("jaxspec chain (one jit)")
    if c:
        secs = c["name"].split()[-1]
        out.append(f"- {c['name']}: {c['median_ms']:.1f} ms per batch (compile {c['compile_ms']:.0f} ms)")
        f = by.get("floor: rfft of framed")
        if f:
            out.append(f"- chain / floor (one rfft of the STFT's size): {c['median_ms'] / f['median_ms']:.1f}x")
        stages = [r for k, r in by.items() if k.startswith("stage: ")]
        if stages:
            total = sum(r["median_ms"] for r in stages)
            out.append("- share of the stages timed alone: " + ", ".join(
                f"{r['impl'][7:]} {100 * r['median_ms'] / total:.0f}%" for r in stages) + f" ({secs} clips)")
    return out
