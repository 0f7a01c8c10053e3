"""Log-mel features from a waveform batch: jaxspec vs torch, librosax, librosa, and our STFT alone.

Batch 32 x 4 s at 16 kHz, n_fft 512, hop 128, periodic Hann, 80 Slaney mel bands, power in dB with
``top_db=80`` (per example for jaxspec and the torch reference; librosax/librosa clamp over the
whole batch, which costs the same). The torch reference is ``torch.stft`` + ``|S|^2`` + a matmul
with the same filterbank + ``10 log10`` + the per-example clamp. librosax (a JAX port of librosa)
is timed when it is importable (``pip install librosax``; it pulls einops but no torch); the row
is left out otherwise. torch runs on the GPU when JAX does (``_harness.torch_device``). Targets:
log-mel <= torch, and <= 1.15x our STFT alone.
"""

from __future__ import annotations

import numpy as np

from ._harness import Ctx, row, time_call, time_jax, torch_device

SR, N_FFT, HOP, N_MELS = 16000, 512, 128, 80


def run(ctx: Ctx) -> list[dict]:
    import jax.numpy as jnp

    import jaxspec as js

    batch, seconds = ctx.size(32, 4), ctx.size(4, 1)
    n = SR * seconds
    x = np.random.default_rng(0).uniform(-1, 1, (batch, n)).astype(np.float32)
    xj = jnp.asarray(x)
    r = ctx.repeats
    name = f"log-mel {batch}x{seconds}s"
    rows = []

    def stft(v):
        return js.stft(v, n_fft=N_FFT, hop_length=HOP)

    rows.append(row("features", name, "jaxspec.log_mel(stft(x))",
                    time_jax(lambda v: js.log_mel(stft(v), sr=SR, n_mels=N_MELS), xj, repeats=r)))
    rows.append(row("features", name, "jaxspec.mel_spectrogram(stft(x))",
                    time_jax(lambda v: js.mel_spectrogram(stft(v), sr=SR, n_mels=N_MELS), xj, repeats=r)))
    rows.append(row("features", name, "jaxspec.stft alone", time_jax(stft, xj, repeats=r)))
    try:
        import torch

        dev = torch_device()
        xt = torch.from_numpy(x).to(dev)
        wt = torch.hann_window(N_FFT, device=dev)
        fb = torch.from_numpy(np.array(js.mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS))).to(dev)

        def torch_log_mel():
            S = torch.stft(xt, N_FFT, HOP, window=wt, center=True, pad_mode="constant", return_complex=True)
            db = 10.0 * torch.log10(torch.clamp(torch.matmul(fb, S.real ** 2 + S.imag ** 2), min=1e-10))
            return torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - 80.0)

        with torch.inference_mode():
            rows.append(row("features", name, "torch.stft + mel matmul + dB", time_call(torch_log_mel, repeats=r)))
            rows.append(row("features", name, "torch.stft alone", time_call(
                lambda: torch.stft(xt, N_FFT, HOP, window=wt, center=True, pad_mode="constant", return_complex=True),
                repeats=r)))
    except ImportError:
        pass
    try:
        import librosax

        def lx(v):
            M = librosax.feature.melspectrogram(y=v, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
            return librosax.power_to_db(M)

        rows.append(row("features", name, "librosax melspectrogram + power_to_db", time_jax(lx, xj, repeats=r)))
    except ImportError:
        pass
    try:
        import librosa
    except ImportError as e:  # e.g. a numba that does not support the installed NumPy
        print(f"  librosa row left out: {e}", flush=True)
        return rows
    rows.append(row("features", name, "librosa melspectrogram + power_to_db", time_call(
        lambda: librosa.power_to_db(librosa.feature.melspectrogram(y=x, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)),
        repeats=max(2, r // 3))))
    return rows


def _get(rows, impl):
    return next((r for r in rows if r["impl"] == impl), None)


def summarize(rows: list[dict]) -> list[str]:
    out = []
    lm, st = _get(rows, "jaxspec.log_mel(stft(x))"), _get(rows, "jaxspec.stft alone")
    tl, tst = _get(rows, "torch.stft + mel matmul + dB"), _get(rows, "torch.stft alone")
    lx, lr = _get(rows, "librosax melspectrogram + power_to_db"), _get(rows, "librosa melspectrogram + power_to_db")

    def check(ok):
        return "met" if ok else "**missed**"

    if lm and tl:
        q = lm["median_ms"] / tl["median_ms"]
        out.append(f"- log-mel / torch (stft + matmul + dB): {q:.2f}x (target <= 1.0x: {check(q <= 1.0)})")
    if lm and st:
        q = lm["median_ms"] / st["median_ms"]
        out.append(f"- log-mel / our STFT alone: {q:.2f}x (target <= 1.15x: {check(q <= 1.15)})")
    if st and tst:
        out.append(f"- context: our STFT / torch.stft: {st['median_ms'] / tst['median_ms']:.2f}x "
                   f"(the mel + dB stage itself: ours {lm['median_ms'] - st['median_ms']:.1f} ms, "
                   f"torch {tl['median_ms'] - tst['median_ms']:.1f} ms)" if lm and tl else "")
    if lm and lx:
        out.append(f"- log-mel speed-up over librosax: {lx['median_ms'] / lm['median_ms']:.2f}x")
    elif lm:
        out.append("- librosax: not installed, row left out (pip install librosax to include it)")
    if lm and lr:
        out.append(f"- log-mel speed-up over librosa: {lr['median_ms'] / lm['median_ms']:.2f}x")
    if lm:
        out.append(f"- jaxspec log-mel compile: {lm['compile_ms']:.0f} ms")
    return [o for o in out if o]
