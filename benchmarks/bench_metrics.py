"""STOI and losses: jaxspec against pystoi (the reference it reimplements) and torch.

STOI: batch 32 x 4 s at 16 kHz (quick: 4 x 1 s) of speech-like signals (harmonic sources with a
syllable-rate envelope) in white noise, jaxspec.stoi (one jit, resampling to 10 kHz included)
against pystoi.stoi in a Python loop over the batch. Target: >= 10x faster on 1 core.
Also: the gradient of 1 - STOI (the example's training loss), si_sdr and the multi-resolution
STFT loss (auraloss's three resolutions) with its gradient on the same batch, against a torch
version of the same loss (forward + backward), on the GPU when JAX runs on one
(``_harness.torch_device``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _harness

SUITE = "metrics"
SR = 16000


def _speechlike(batch: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    f0 = 100 + 120 * rng.random((batch, 1))
    src = sum(np.sin(2 * np.pi * k * f0 * t + rng.random((batch, 1)) * 6.28) / k for k in range(1, 15))
    env = np.clip(np.sin(2 * np.pi * (3 + 2 * rng.random((batch, 1))) * t), 0, None) ** 2  # ~4 syllables/s
    return (0.3 * src * env).astype(np.float32)


def _torch_mrstft(est, ref, fft_sizes=(1024, 2048, 512), hops=(120, 240, 50), wins=(600, 1200, 240)):
    import torch

    total = 0.0
    for n, h, w in zip(fft_sizes, hops, wins):
        win = torch.hann_window(w, device=est.device)
        X = torch.stft(est, n, h, w, win, return_complex=True)
        Y = torch.stft(ref, n, h, w, win, return_complex=True)
        xm = torch.sqrt(torch.clamp(X.real ** 2 + X.imag ** 2, min=1e-8))
        ym = torch.sqrt(torch.clamp(Y.real ** 2 + Y.imag ** 2, min=1e-8))
        sc = torch.linalg.norm(ym - xm, dim=(-2, -1)) / torch.linalg.norm(ym, dim=(-2, -1))
        lm = (torch.log(ym) - torch.log(xm)).abs().mean(dim=(-2, -1))
        total = total + sc + lm
    return (total / len(fft_sizes)).sum()


def run(ctx: _harness.Ctx) -> list[dict]:
    import jaxspec as js

    rows, rep = [], ctx.repeats
    B, secs = ctx.size(32, 4), ctx.size(4, 1)
    clean = _speechlike(B, SR * secs)
    noisy = clean + 0.1 * np.random.default_rng(1).standard_normal(clean.shape).astype(np.float32)
    name = f"stoi {B}x{secs}s 16k"
    c, y = jnp.asarray(clean), jnp.asarray(noisy)
    rows.append(_harness.row(SUITE, name, "jaxspec", _harness.time_jax(functools.partial(js.stoi, sr=SR), c, y,
                                                                       repeats=rep)))
    rows.append(_harness.row(SUITE, f"estoi {B}x{secs}s 16k", "jaxspec", _harness.time_jax(
        functools.partial(js.stoi, sr=SR, extended=True), c, y, repeats=rep)))
    # 1 - STOI as a training loss (the example's): its gradient with respect to the estimate
    sg = jax.grad(lambda e, r: jnp.mean(1.0 - js.stoi(r, e, sr=SR)))
    rows.append(_harness.row(SUITE, f"stoi-loss+grad {B}x{secs}s 16k", "jaxspec",
                             _harness.time_jax(sg, y, c, repeats=rep)))
    try:
        from pystoi import stoi as pystoi

        c64, y64 = clean.astype(np.float64), noisy.astype(np.float64)
        rows.append(_harness.row(SUITE, name, "pystoi loop", _harness.time_call(
            lambda: [pystoi(a, b, SR) for a, b in zip(c64, y64)], repeats=max(2, rep // 3))))
        rows.append(_harness.row(SUITE, f"estoi {B}x{secs}s 16k", "pystoi loop", _harness.time_call(
            lambda: [pystoi(a, b, SR, extended=True) for a, b in zip(c64, y64)], repeats=max(2, rep // 3))))
    except ImportError:
        pass
    rows.append(_harness.row(SUITE, f"si_sdr {B}x{secs}s", "jaxspec", _harness.time_jax(js.si_sdr, c, y, repeats=rep)))
    lname = f"mrstft loss+grad {B}x{secs}s"
    g = jax.grad(lambda e, r: jnp.mean(js.multi_resolution_stft_loss(r, e)))
    rows.append(_harness.row(SUITE, lname, "jaxspec", _harness.time_jax(g, y, c, repeats=rep)))
    try:
        import torch

        dev = _harness.torch_device()
        yt, ct = torch.from_numpy(noisy).to(dev), torch.from_numpy(clean).to(dev)

        def torch_step():
            e = yt.clone().requires_grad_(True)
            _torch_mrstft(e, ct).backward()
            return e.grad

        rows.append(_harness.row(SUITE, lname, "torch", _harness.time_call(torch_step, repeats=rep)))
    except ImportError:
        pass
    return rows


def summarize(rows: list[dict]) -> list[str]:
    by = {(r["name"].split()[0], r["impl"]): r for r in rows}
    out = []
    for metric, ref, target in (("stoi", "pystoi loop", 10.0), ("estoi", "pystoi loop", 10.0),
                                ("mrstft", "torch", None)):
        a, b = by.get((metric, "jaxspec")), by.get((metric, ref))
        if a and b:
            x = b["median_ms"] / a["median_ms"]
            verdict = "" if target is None else f" (target >= {target:g}x): {'met' if x >= target else 'NOT met'}"
            out.append(f"- {metric}: jaxspec is {x:.1f}x faster than {ref}{verdict}; compile {a['compile_ms']:.0f} ms")
    return out
