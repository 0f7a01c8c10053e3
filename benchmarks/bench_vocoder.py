"""Phase vocoder and Griffin-Lim against librosa (native batch) and torch.

Phase vocoder: batch 32 x 4 s at 16 kHz (n_fft 512, hop 128 -> 257 x 501 STFT), rate 1.25.
  - jaxspec, static rate (librosa's frame count) and per-example traced rates (fixed n_frames);
  - librosa.phase_vocoder on the whole batch (its per-frame loop vectorises over the batch);
  - a vectorised torch phase vocoder (written below: gather, interpolate, angle + cumsum);
  - floor: a bare rfft over an already framed array of the same size.
Griffin-Lim: batch 8 x 4 s, 32 iterations, momentum 0.99, zero-phase init:
  - jaxspec (one fori_loop), a torch.stft/istft loop with the same update, librosa.griffinlim.
Targets: phase vocoder >= 2x faster than librosa, Griffin-Lim >= 2x faster than the torch
loop, compile <= 300 ms. torch runs on the GPU when JAX does (``_harness.torch_device``).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from . import _harness

SUITE = "vocoder"
SR, N_FFT, HOP, RATE = 16000, 512, 128, 1.25


def _signal(batch: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(n) / SR
    f0 = 120 + 80 * rng.random((batch, 1))
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) + 0.05 * rng.standard_normal((batch, n))
    return (0.2 * x).astype(np.float32)


def torch_phase_vocoder(D, rate: float, *, hop_length: int, n_fft: int):
    """A vectorised torch phase vocoder with librosa's conventions (angle + wrapped cumsum)."""
    import torch

    T = D.shape[-1]
    steps = torch.arange(0, T, rate, dtype=torch.float64, device=D.device)
    k = steps.floor().long()
    alpha = (steps - k).to(torch.float32)
    D = torch.nn.functional.pad(D, (0, 2))
    c0, c1 = D[..., k], D[..., k + 1]
    mag = (1 - alpha) * c0.abs() + alpha * c1.abs()
    omega = hop_length * torch.linspace(0, math.pi, D.shape[-2], dtype=torch.float32, device=D.device)[:, None]
    dphase = c1.angle() - c0.angle() - omega
    dphase = dphase - 2 * math.pi * torch.round(dphase / (2 * math.pi))
    inc = omega + dphase
    acc = torch.cat([D[..., :1].angle(), inc[..., :-1]], dim=-1).cumsum(-1)
    return torch.polar(mag, acc)


def torch_griffin_lim(mag, *, n_iter: int, n_fft: int, hop_length: int, momentum: float, length: int):
    import torch

    win = torch.hann_window(n_fft, device=mag.device)
    angles = torch.ones_like(mag, dtype=torch.complex64)
    prev = torch.zeros_like(angles)
    beta = momentum / (1 + momentum)
    for _ in range(n_iter):
        y = torch.istft(mag * angles, n_fft, hop_length, window=win, length=length)
        rebuilt = torch.stft(y, n_fft, hop_length, window=win, return_complex=True, pad_mode="constant")
        a = rebuilt - beta * prev
        angles = a / (a.abs() + 1e-16)
        prev = rebuilt
    return torch.istft(mag * angles, n_fft, hop_length, window=win, length=length)


def run(ctx: _harness.Ctx) -> list[dict]:
    import jaxspec as js

    rows = []
    rep = ctx.repeats
    B, secs = ctx.size(32, 2), ctx.size(4, 1)
    x = _signal(B, SR * secs)
    S = np.asarray(js.stft(x, n_fft=N_FFT, hop_length=HOP))
    T = S.shape[-1]
    n_out = len(np.arange(0, T, RATE))
    name = f"phase_vocoder {B}x{secs}s r{RATE}"
    Sj = jnp.asarray(S)
    rates = jnp.full((B,), RATE, jnp.float32)
    rows.append(_harness.row(SUITE, name, "jaxspec static rate",
                             _harness.time_jax(lambda S: js.phase_vocoder(S, RATE), Sj, repeats=rep)))
    rows.append(_harness.row(SUITE, name, "jaxspec traced rates",
                             _harness.time_jax(lambda S, r: js.phase_vocoder(S, r, n_frames=n_out), Sj, rates, repeats=rep)))
    try:
        import librosa

        rows.append(_harness.row(SUITE, name, "librosa",
                                 _harness.time_call(lambda: librosa.phase_vocoder(S, rate=RATE, hop_length=HOP, n_fft=N_FFT),
                                                    repeats=max(2, rep // 2))))
    except ImportError:
        pass
    try:
        import torch

        St = torch.from_numpy(S.copy()).to(_harness.torch_device())
        with torch.inference_mode():
            rows.append(_harness.row(SUITE, name, "torch vectorised",
                                     _harness.time_call(lambda: torch_phase_vocoder(St, RATE, hop_length=HOP, n_fft=N_FFT),
                                                        repeats=rep)))
    except ImportError:
        pass
    frames = jnp.asarray(np.random.default_rng(1).standard_normal((B, n_out, N_FFT)).astype(np.float32))
    rows.append(_harness.row(SUITE, name, "floor: rfft of framed",
                             _harness.time_jax(lambda f: jnp.fft.rfft(f, axis=-1), frames, repeats=rep)))

    # Griffin-Lim
    Bg, n_iter = ctx.size(8, 2), ctx.size(32, 4)
    xg = x[:Bg] if Bg <= B else _signal(Bg, SR * secs)
    L = xg.shape[-1]
    mag = np.abs(np.asarray(js.stft(xg, n_fft=N_FFT, hop_length=HOP)))
    gname = f"griffin_lim {Bg}x{secs}s {n_iter}it"
    rows.append(_harness.row(SUITE, gname, "jaxspec",
                             _harness.time_jax(lambda m: js.griffin_lim(m, n_iter=n_iter, hop_length=HOP, length=L, init=None),
                                               jnp.asarray(mag), repeats=max(2, rep // 2))))
    try:
        import torch

        mt = torch.from_numpy(mag).to(_harness.torch_device())
        with torch.inference_mode():
            rows.append(_harness.row(SUITE, gname, "torch stft/istft loop", _harness.time_call(
                lambda: torch_griffin_lim(mt, n_iter=n_iter, n_fft=N_FFT, hop_length=HOP, momentum=0.99, length=L),
                repeats=max(2, rep // 2))))
    except ImportError:
        pass
    try:
        import librosa

        rows.append(_harness.row(SUITE, gname, "librosa", _harness.time_call(
            lambda: librosa.griffinlim(mag, n_iter=n_iter, hop_length=HOP, n_fft=N_FFT, init=None, length=L),
            repeats=2)))
    except ImportError:
        pass
    return rows


def summarize(rows: list[dict]) -> list[str]:
    by = {(r["name"].split()[0], r["impl"]): r for r in rows}
    out = []

    def ratio(name, ours, ref, target):
        a, b = by.get((name, ours)), by.get((name, ref))
        if a and b:
            x = b["median_ms"] / a["median_ms"]
            out.append(f"- {name}: {ours} is {x:.2f}x faster than {ref} (target >= {target}x): "
                       f"{'met' if x >= target else 'NOT met'}")

    ratio("phase_vocoder", "jaxspec static rate", "librosa", 2)
    ratio("phase_vocoder", "jaxspec traced rates", "librosa", 2)
    ratio("phase_vocoder", "jaxspec static rate", "torch vectorised", 1)
    ratio("griffin_lim", "jaxspec", "torch stft/istft loop", 2)
    ratio("griffin_lim", "jaxspec", "librosa", 1)
    for (name, impl), r in by.items():
        if impl.startswith("jaxspec") and r.get("compile_ms") is not None:
            c = r["compile_ms"]
            out.append(f"- {name} ({impl}) compile {c:.0f} ms (target <= 300 ms): {'met' if c <= 300 else 'NOT met'}")
    return out
