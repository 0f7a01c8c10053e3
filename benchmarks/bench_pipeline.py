"""The training-target pipeline: random_mix -> stft -> (mask target, log-mel features), one jit.

Batch 32 x 4 s at 16 kHz, n_fft 512, hop 128, 80 log-mel bands. The per-example function is
``jax.vmap``-ed over split keys and the whole batch is one compiled program. Two variants:

- time-domain mix: ``random_mix`` on the waveforms, then three STFTs (mixture, clean, scaled noise);
- STFT-domain mix: two STFTs (clean, noise), then ``random_mix`` on the STFTs with the waveforms'
  powers (exactly the same mixture by linearity), saving one STFT;
- STFT-domain mix with exact powers (``stft=``): the powers measured on the iSTFTs of the two
  STFTs, what an augmented (phase-vocoded, equalised) STFT needs; one iSTFT per input more;
- the same plus the clipping guard from the STFT (``prevent_clipping(..., stft=)``: the rigorous
  peak bound, no inverse FFT), and the guard alone on a ready mixture STFT.

Both are reported against ``jaxspec.stft`` of the same batch alone (one STFT), with compile time
apart. The log-mel comes from ``jaxspec.log_mel`` when importable, else from a private
filterbank in this file (the ``mel`` field of each row says which).
"""

from __future__ import annotations

import numpy as np

from ._harness import Ctx, row, time_jax

SR, N_FFT, HOP, N_MELS = 16000, 512, 128, 80


def _private_mel_fb(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular HTK-mel filterbank (n_mels, freq); only a fallback when jaxspec.mel is absent."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(0.0), mel(sr / 2), n_mels + 2))
    f = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, c, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((f - lo) / (c - lo), (hi - f) / (hi - c))).astype(np.float32)


def _log_mel_fn():
    import jax.numpy as jnp

    import jaxspec as js

    if hasattr(js, "log_mel"):
        return (lambda S: js.log_mel(S, sr=SR, n_mels=N_MELS, n_fft=N_FFT, top_db=None)), "jaxspec.log_mel"
    fb = _private_mel_fb(SR, N_FFT, N_MELS)
    return (lambda S: jnp.log(jnp.einsum("mf,...ft->...mt", jnp.asarray(fb), js.power(S)) + 1e-10)), "private filterbank"


def run(ctx: Ctx) -> list[dict]:
    import functools

    import jax

    import jaxspec as js
    from jaxspec import masks

    batch, seconds = ctx.size(32, 4), ctx.size(4, 1)
    n = SR * seconds
    rng = np.random.default_rng(0)
    clean = jax.numpy.asarray(rng.uniform(-0.5, 0.5, (batch, n)).astype(np.float32))
    noise = jax.numpy.asarray(rng.standard_normal((batch, n)).astype(np.float32))
    key = jax.random.key(0)
    stft = functools.partial(js.stft, n_fft=N_FFT, hop_length=HOP)
    log_mel, mel_impl = _log_mel_fn()
    snr = js.Uniform(-5.0, 20.0)

    def time_domain(k, s, x):
        y, kn, _ = js.random_mix(k, s, x, snr)
        Y, S, N = stft(y), stft(s), stft(kn)
        return masks.irm(S, N), log_mel(Y)

    def stft_domain(k, s, x):
        S, N = stft(s), stft(x)
        powers = (js.signal_power(s), js.signal_power(x))
        Y, kN, _ = js.random_mix(k, S, N, snr, axis=(-2, -1), powers=powers)
        return masks.irm(S, kN), log_mel(Y)

    P = dict(n_fft=N_FFT, hop_length=HOP, length=n)

    def stft_domain_exact(k, s, x):
        S, N = stft(s), stft(x)
        Y, kN, _ = js.random_mix(k, S, N, snr, axis=(-2, -1), stft=P)
        return masks.irm(S, kN), log_mel(Y)

    def stft_domain_exact_guarded(k, s, x):
        S, N = stft(s), stft(x)
        Y, kN, _ = js.random_mix(k, S, N, snr, axis=(-2, -1), stft=P)
        Y, g = js.prevent_clipping(Y, axis=(-2, -1), stft=P)
        return masks.irm(S * g, kN * g), log_mel(Y)

    Y0 = stft(clean + noise)

    def batched(per_example):
        return lambda k, s, x: jax.vmap(per_example)(jax.random.split(k, s.shape[0]), s, x)

    r = ctx.repeats
    name = f"mix->stft->(irm, log-mel) {batch}x{seconds}s"
    rows = [
        row("pipeline", name, "jaxspec.stft alone (1 STFT)", time_jax(stft, clean, repeats=r)),
        row("pipeline", name, "time-domain mix, 3 STFTs", time_jax(batched(time_domain), key, clean, noise, repeats=r),
            mel=mel_impl),
        row("pipeline", name, "STFT-domain mix, 2 STFTs", time_jax(batched(stft_domain), key, clean, noise, repeats=r),
            mel=mel_impl),
        row("pipeline", name, "STFT-domain mix, exact iSTFT powers (stft=)",
            time_jax(batched(stft_domain_exact), key, clean, noise, repeats=r), mel=mel_impl),
        row("pipeline", name, "STFT-domain mix, exact powers + STFT peak bound",
            time_jax(batched(stft_domain_exact_guarded), key, clean, noise, repeats=r), mel=mel_impl),
        row("pipeline", name, "prevent_clipping(stft=) alone (peak bound)",
            time_jax(lambda Y: js.prevent_clipping(Y, axis=(-2, -1), stft=P), Y0, repeats=r)),
        row("pipeline", name, "signal_power(stft=) alone (exact power, 1 iSTFT)",
            time_jax(lambda Y: js.signal_power(Y, axis=(-2, -1), stft=P), Y0, repeats=r)),
    ]
    return rows


def _get(rows, impl):
    for r in rows:
        if r["impl"] == impl:
            return r
    return None


def summarize(rows: list[dict]) -> list[str]:
    base = _get(rows, "jaxspec.stft alone (1 STFT)")
    out = []
    for impl in ("time-domain mix, 3 STFTs", "STFT-domain mix, 2 STFTs", "STFT-domain mix, exact iSTFT powers (stft=)",
                 "STFT-domain mix, exact powers + STFT peak bound", "prevent_clipping(stft=) alone (peak bound)",
                 "signal_power(stft=) alone (exact power, 1 iSTFT)"):
        r = _get(rows, impl)
        if r and base:
            mel = f"; log-mel: {r['mel']}" if "mel" in r else ""
            out.append(f"- {impl}: {r['median_ms']:.1f} ms per batch = {r['median_ms'] / base['median_ms']:.2f}x the STFT "
                       f"alone ({base['median_ms']:.1f} ms); compile {r['compile_ms']:.0f} ms{mel}")
    return out
