"""DeepFilterNet's building blocks: jaxspec.bands vs libdf (``deepfilterlib``) and a torch deep filter.

Batch 32 x 4 s at 48 kHz, DeepFilterNet's defaults: n_fft 960, hop 480, Vorbis window, 32 ERB
bands (min 2 bins), the unit-norm features over the lowest 96 bins, a deep filter of order 5 with
lookahead 2 on those bins. Every row starts from the complex STFT (computed once) except the
analysis rows. libdf runs on one thread (it has no threading); the torch deep filter is
DeepFilterNet's own formula (pad, unfold, einsum) on ``[B, 1, T, F]``. Targets: ERB + unit-norm
features and the deep filter no slower than the references (ratio <= 1).
"""

from __future__ import annotations

import numpy as np

from ._harness import Ctx, row, time_call, time_jax

SR, N_FFT, HOP, N_BANDS, MIN_BINS, NB_DF, ORDER, LOOKAHEAD = 48000, 960, 480, 32, 2, 96, 5, 2


def run(ctx: Ctx) -> list[dict]:
    import jax.numpy as jnp

    import jaxspec as js
    from jaxspec import bands

    batch, seconds = ctx.size(32, 4), ctx.size(4, 1)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((batch, SR * seconds))).astype(np.float32)
    widths = tuple(int(w) for w in bands.erb_widths(sr=SR, n_fft=N_FFT, n_bands=N_BANDS, min_bins=MIN_BINS))
    alpha = bands.norm_alpha(sr=SR, hop_length=HOP)
    S = js.stft(x, n_fft=N_FFT, hop_length=HOP, window="vorbis", normalized="forward")[..., :-1]
    T = S.shape[-1]
    coefs = (rng.standard_normal((batch, ORDER, NB_DF, T)) + 1j * rng.standard_normal((batch, ORDER, NB_DF, T)))
    coefs = jnp.asarray(coefs.astype(np.complex64))
    r = ctx.repeats
    name = f"DeepFilterNet features + deep filter {batch}x{seconds}s 48 kHz"
    rows = []

    def features(s):
        e, _ = bands.erb_features(s, widths=widths, alpha=alpha)
        u, _ = bands.unit_norm(s[..., :NB_DF, :], alpha=alpha)
        return e, u

    rows.append(row("bands", name, "jaxspec.bands erb_features + unit_norm", time_jax(features, S, repeats=r)))
    rows.append(row("bands", name, "jaxspec.bands.deep_filter", time_jax(
        lambda s, c: bands.deep_filter(s, c, lookahead=LOOKAHEAD), S, coefs, repeats=r)))
    rows.append(row("bands", name, "jaxspec.stft (vorbis, forward)", time_jax(
        lambda v: js.stft(v, n_fft=N_FFT, hop_length=HOP, window="vorbis", normalized="forward"), jnp.asarray(x),
        repeats=r)))
    try:
        import libdf
    except ImportError as e:
        print(f"  libdf rows left out: {e}", flush=True)
        libdf = None
    if libdf is not None:
        S_df = np.ascontiguousarray(np.swapaxes(np.asarray(S), -1, -2))  # libdf's [C, T, F]
        fb = np.asarray(widths, np.uint64)

        def df_features():
            e = libdf.erb_norm(libdf.erb(S_df, fb, db=True), alpha)
            u = libdf.unit_norm(np.ascontiguousarray(S_df[..., :NB_DF]), alpha)
            return e, u

        rows.append(row("bands", name, "libdf erb + erb_norm + unit_norm", time_call(df_features, repeats=r)))
        state = libdf.DF(SR, N_FFT, HOP, N_BANDS, MIN_BINS)

        def df_analysis():
            state.reset()
            return state.analysis(x)

        rows.append(row("bands", name, "libdf DF.analysis", time_call(df_analysis, repeats=max(2, r // 2))))
    try:
        import torch
    except ImportError:
        return rows
    spec_t = torch.from_numpy(np.ascontiguousarray(np.swapaxes(np.asarray(S), -1, -2))[:, None])  # [B, 1, T, F]
    coefs_t = torch.from_numpy(np.ascontiguousarray(np.swapaxes(np.asarray(coefs), -1, -2)))      # [B, O, T, F]
    pad = torch.nn.ConstantPad2d((0, 0, ORDER - 1 - LOOKAHEAD, LOOKAHEAD), 0.0)

    def torch_df():
        spec_u = pad(spec_t).unfold(2, ORDER, 1).narrow(-2, 0, NB_DF)
        low = torch.einsum("...tfn,...ntf->...tf", spec_u, coefs_t.view(batch, -1, ORDER, T, NB_DF))
        out = spec_t.clone()
        out[..., :NB_DF] = low
        return out

    with torch.inference_mode():
        rows.append(row("bands", name, "torch deep filter (DeepFilterNet's formula)", time_call(torch_df, repeats=r)))
    return rows


def _get(rows, impl):
    return next((r for r in rows if r["impl"] == impl), None)


def summarize(rows: list[dict]) -> list[str]:
    out = []
    feats, ref = _get(rows, "jaxspec.bands erb_features + unit_norm"), _get(rows, "libdf erb + erb_norm + unit_norm")
    df, tdf = _get(rows, "jaxspec.bands.deep_filter"), _get(rows, "torch deep filter (DeepFilterNet's formula)")
    st, an = _get(rows, "jaxspec.stft (vorbis, forward)"), _get(rows, "libdf DF.analysis")
    if feats and ref:
        q = feats["median_ms"] / ref["median_ms"]
        out.append(f"- ERB + unit-norm features / libdf: {q:.2f}x (target <= 1.0x: {'met' if q <= 1.0 else '**missed**'})")
    if df and tdf:
        q = df["median_ms"] / tdf["median_ms"]
        out.append(f"- deep filter / torch (DeepFilterNet's formula): {q:.2f}x "
                   f"(target <= 1.0x: {'met' if q <= 1.0 else '**missed**'})")
    if st and an:
        out.append(f"- analysis STFT / libdf DF.analysis: {st['median_ms'] / an['median_ms']:.2f}x")
    for r in (feats, df):
        if r:
            out.append(f"- compile {r['impl']}: {r['compile_ms']:.0f} ms")
    return out
