"""STFT / iSTFT: jaxspec vs librosa, torch, jax.scipy.signal, and the bare-FFT floor.

Batch 32 x 4 s at 16 kHz, n_fft 512, hop 128, periodic Hann. The floor is ``jnp.fft.rfft`` /
``irfft`` of an already framed (and for irfft, already transposed) array of the same size: what
any STFT must at least do. jax.scipy.signal.stft gets the window as an array (its fastest path for
a custom window) and computes the same frames plus its extra padded frame and 1/sum(window) scale.
torch runs on the GPU when JAX does (``_harness.torch_device``); librosa always on the CPU.
"""

from __future__ import annotations

import numpy as np

from ._harness import Ctx, row, time_call, time_jax, torch_device

SR, N_FFT, HOP = 16000, 512, 128


def run(ctx: Ctx) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import jax.scipy.signal as jss

    import jaxspec as js

    batch, seconds = ctx.size(32, 4), ctx.size(4, 1)
    n = SR * seconds
    x = np.random.default_rng(0).uniform(-1, 1, (batch, n)).astype(np.float32)
    xj = jnp.asarray(x)
    rows = []
    name = f"stft {batch}x{seconds}s"
    r = ctx.repeats
    rows.append(row("stft", name, "jaxspec.stft", time_jax(lambda v: js.stft(v, n_fft=N_FFT, hop_length=HOP), xj, repeats=r)))
    win = jnp.asarray(js.get_window("hann", win_length=N_FFT), jnp.float32)
    rows.append(row("stft", name, "jax.scipy.signal.stft(array win)", time_jax(
        lambda v: jss.stft(v, window=win, nperseg=N_FFT, noverlap=N_FFT - HOP)[2], xj, repeats=r)))
    T = js.n_frames(n, n_fft=N_FFT, hop_length=HOP)
    framed = jnp.asarray(np.random.default_rng(1).standard_normal((batch, T, N_FFT)).astype(np.float32))
    rows.append(row("stft", name, "floor: jnp.fft.rfft(framed)", time_jax(lambda f: jnp.fft.rfft(f, axis=-1), framed, repeats=r)))
    try:
        import librosa
    except ImportError as e:  # e.g. a numba that does not support the installed NumPy
        print(f"  librosa rows left out: {e}", flush=True)
        librosa = None
    if librosa is not None:
        rows.append(row("stft", name, "librosa.stft", time_call(lambda: librosa.stft(x, n_fft=N_FFT, hop_length=HOP), repeats=max(3, r // 2))))
    try:
        import torch

        dev = torch_device()
        xt = torch.from_numpy(x).to(dev)
        wt = torch.hann_window(N_FFT, device=dev)
        with torch.inference_mode():
            rows.append(row("stft", name, "torch.stft", time_call(
                lambda: torch.stft(xt, N_FFT, HOP, window=wt, center=True, pad_mode="constant", return_complex=True), repeats=r)))
    except ImportError:
        torch = None

    S = js.stft(xj, n_fft=N_FFT, hop_length=HOP)
    Snp = np.asarray(S)
    name = f"istft {batch}x{seconds}s"
    rows.append(row("istft", name, "jaxspec.istft", time_jax(lambda s: js.istft(s, n_fft=N_FFT, hop_length=HOP, length=n), S, repeats=r)))
    _, _, Zs = jss.stft(xj, window=win, nperseg=N_FFT, noverlap=N_FFT - HOP)
    rows.append(row("istft", name, "jax.scipy.signal.istft(array win)", time_jax(
        lambda z: jss.istft(z, window=win, nperseg=N_FFT, noverlap=N_FFT - HOP)[1], Zs, repeats=r)))
    spec_t = jnp.asarray(np.ascontiguousarray(np.swapaxes(Snp, -1, -2)))
    rows.append(row("istft", name, "floor: jnp.fft.irfft(framed)", time_jax(lambda s: jnp.fft.irfft(s, n=N_FFT, axis=-1), spec_t, repeats=r)))
    if librosa is not None:
        rows.append(row("istft", name, "librosa.istft", time_call(lambda: librosa.istft(Snp, n_fft=N_FFT, hop_length=HOP, length=n), repeats=max(3, r // 2))))
    if torch is not None:
        St = torch.from_numpy(Snp).to(dev)
        with torch.inference_mode():
            rows.append(row("istft", name, "torch.istft", time_call(
                lambda: torch.istft(St, N_FFT, HOP, window=wt, center=True, length=n), repeats=r)))
    return rows


def _get(rows, impl):
    for r in rows:
        if r["impl"] == impl:
            return r
    return None


def summarize(rows: list[dict]) -> list[str]:
    out = []
    st, floor, jss = _get(rows, "jaxspec.stft"), _get(rows, "floor: jnp.fft.rfft(framed)"), _get(rows, "jax.scipy.signal.stft(array win)")
    ist, tist = _get(rows, "jaxspec.istft"), _get(rows, "torch.istft")
    lst, list_ = _get(rows, "librosa.stft"), _get(rows, "librosa.istft")

    def check(ok):
        return "met" if ok else "**missed**"

    if st and floor:
        q = st["median_ms"] / floor["median_ms"]
        out.append(f"- stft / rfft floor: {q:.2f}x (target <= 1.3x: {check(q <= 1.3)})")
    if st and jss:
        q = jss["median_ms"] / st["median_ms"]
        out.append(f"- stft speed-up over jax.scipy.signal.stft: {q:.2f}x (target >= 1.4x: {check(q >= 1.4)})")
    if ist and tist:
        q = tist["median_ms"] / ist["median_ms"]
        out.append(f"- istft speed-up over torch.istft: {q:.2f}x (target >= 1.35x: {check(q >= 1.35)})")
    if st and lst:
        out.append(f"- stft speed-up over librosa.stft: {lst['median_ms'] / st['median_ms']:.2f}x")
    if ist and list_:
        out.append(f"- istft speed-up over librosa.istft: {list_['median_ms'] / ist['median_ms']:.2f}x")
    for r in (st, ist):
        if r:
            out.append(f"- {r['impl']} compile: {r['compile_ms']:.0f} ms (target <= 300 ms: {check(r['compile_ms'] <= 300)})")
    return out
