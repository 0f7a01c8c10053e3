"""Evaluation of the enhancement example, and enhancing audio files with a trained checkpoint.

:func:`evaluate` scores noisy, spectral-gating baseline, model and oracle-IRM signals on the
shipped corpus's held-out split (unseen sentences and voices, unseen generated noise);
:func:`enhance_file` is what ``jaxspec enhance`` runs: any sample rate, mono or multichannel.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxspec as js

from . import input_pipeline as ip
from .baseline import spectral_gate
from .config import TrainConfig
from .train import enhance_waveform, mask_to_estimate, noise_bank

METHODS = ("noisy", "baseline", "enhanced", "oracle_irm")


def heldout_mixtures(cfg: TrainConfig, snr_db: float, *, seed: int = 2024, n_clips: int | None = None):
    """Held-out clips (unseen sentences and voices) mixed with unseen generated noise at ``snr_db``.

    Noise kinds cycle over the clips; babble is made from the held-out speech itself (other
    sentences), so no training audio leaks into the test. Everything is padded to one length (a
    multiple of the hop) so the whole set is one batch.

    Returns ``(clean, noise, mixture, lengths)``: three ``(n_clips, L)`` float32 arrays (zero past
    each clip's length) and the ``(n_clips,)`` lengths.
    """
    files, _ = ip.scan(ip.shipped_speech("heldout"), what="shipped held-out speech")
    clips = [np.asarray(js.load(f.path, sr=cfg.sr)[0], np.float32) for f in files][:n_clips]
    lengths = np.asarray([len(c) for c in clips])
    L = int(-(-lengths.max() // cfg.hop_length) * cfg.hop_length)
    heldout = ip.Corpus(files, sr=cfg.sr, what="shipped held-out speech")
    bank = noise_bank(cfg, heldout, key=jax.random.key(seed), n=len(clips), seconds=L / cfg.sr)
    clean = np.zeros((len(clips), L), np.float32)
    for i, c in enumerate(clips):
        clean[i, : len(c)] = c
    valid = (np.arange(L)[None, :] < lengths[:, None]).astype(np.float32)
    noise = bank[:, :L] * valid
    # mix over each clip's own samples only (the padding is zero in both)
    mixture, noise = js.mix(jnp.asarray(clean), jnp.asarray(noise), jnp.full((len(clips),), snr_db, jnp.float32))
    return clean, np.asarray(noise), np.asarray(mixture), lengths


def _enhance_all(model, clean, noise, mixture, lengths, cfg):
    stft = lambda x: js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    istft = lambda S: js.istft(S, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=mixture.shape[-1])
    enhanced, out = enhance_waveform(model, mixture, cfg)
    Y, S, N = stft(mixture), stft(clean), stft(noise)
    oracle = istft(js.masks.apply_mask(Y, js.masks.irm(S, N)))
    frames = jnp.arange(Y.shape[-1]) * cfg.hop_length
    gate_mask, gate_S = spectral_gate(Y, valid=frames[None, :] < lengths[:, None])
    mask = out if cfg.target != "cirm" else js.magnitude(mask_to_estimate(jnp.ones_like(Y), out, cfg))
    return {"noisy": mixture, "baseline": istft(gate_S), "enhanced": enhanced, "oracle_irm": oracle}, mask


def evaluate(model, cfg: TrainConfig, *, snrs=(0.0, 5.0), n_clips: int | None = None, with_pesq: bool = True,
             seed: int = 2024) -> dict:
    """SI-SDR, STOI and PESQ (wide band) of noisy, baseline, enhanced and oracle-IRM signals on the
    held-out set at each SNR in ``snrs``: means over the clips, plus SI-SDR improvements.

    Returns ``{"<snr>": {"<method>": {"si_sdr", "si_sdr_i", "stoi", "pesq"}}, "examples": {...}}``
    where ``examples`` holds the arrays of the first SNR (for wavs and the figure).
    """
    if with_pesq:
        try:
            import pesq  # noqa: F401  (optional: the `demo`/`test` extras install it)
        except ImportError:
            print("  (no PESQ: the optional `pesq` package is not installed; pip install 'jaxspec[demo]')")
            with_pesq = False
    fwd = nnx.jit(lambda m, c, n, y, l: _enhance_all(m, c, n, y, l, cfg))
    results: dict = {}
    examples = None
    for snr in snrs:
        clean, noise, mixture, lengths = heldout_mixtures(cfg, snr, seed=seed, n_clips=n_clips)
        outs, mask = fwd(model, jnp.asarray(clean), jnp.asarray(noise), jnp.asarray(mixture), jnp.asarray(lengths))
        valid = jnp.asarray((np.arange(clean.shape[-1])[None, :] < lengths[:, None]).astype(np.float32))
        outs = {k: v * valid for k, v in outs.items()}  # metrics over each clip's own samples
        row = {}
        base = None
        for method in METHODS:
            est = outs[method]
            sdr = np.asarray(js.si_sdr(jnp.asarray(clean), est))
            base = sdr if method == "noisy" else base
            d = {"si_sdr": float(sdr.mean()), "si_sdr_i": float((sdr - base).mean()),
                 "stoi": float(np.mean(np.asarray(js.stoi(jnp.asarray(clean), est, sr=cfg.sr))))}
            if with_pesq:
                est_np = np.asarray(est)
                vals = [float(js.pesq(clean[i, : lengths[i]], est_np[i, : lengths[i]], sr=cfg.sr, mode="wb"))
                        for i in range(len(lengths))]
                d["pesq"] = float(np.nanmean(vals))
            row[method] = d
        results[f"{snr:g}"] = row
        if examples is None:
            examples = {"snr": snr, "clean": clean, "lengths": lengths, "mask": np.asarray(mask),
                        **{k: np.asarray(v) for k, v in outs.items()}}
    results["examples"] = examples
    return results


def enhance_array(model, x: np.ndarray, sr: int, cfg: TrainConfig) -> np.ndarray:
    """Enhance ``(channels, samples)`` audio at any rate ``sr``: each channel is resampled to the
    model's rate, enhanced, and resampled back to ``sr`` and the input length."""
    x = np.asarray(x, np.float32)
    n = x.shape[-1]
    fwd = nnx.jit(lambda m, v: enhance_waveform(m, v, cfg)[0])
    out = np.empty_like(x)
    for c in range(x.shape[0]):  # one channel at a time bounds the memory of long files
        y = np.asarray(js.resample(x[c], orig_sr=sr, target_sr=cfg.sr)) if sr != cfg.sr else x[c]
        e = np.asarray(fwd(model, jnp.asarray(y)))
        e = np.asarray(js.resample(e, orig_sr=cfg.sr, target_sr=sr)) if sr != cfg.sr else e
        out[c] = e[:n] if e.shape[-1] >= n else np.pad(e, (0, n - e.shape[-1]))
    return out


def enhance_file(model, cfg: TrainConfig, src: str, dst: str) -> dict:
    """Read ``src`` (any rate, mono or multichannel), enhance it, write ``dst`` at the same rate,
    length and channel count (scaled down only if it would clip).

    Returns:
      ``{"channels", "seconds", "sr"}``.

    Raises:
      OSError: ``src`` cannot be read or ``dst`` cannot be written (the message names the path).
    """
    try:
        x, sr = js.load(src, mono=False)
    except Exception as e:  # soundfile raises its own error types for unreadable audio
        raise OSError(f"cannot read audio from {src!r}: {e}") from None
    x = np.asarray(x, np.float32)
    x = x[None] if x.ndim == 1 else x
    if x.shape[-1] == 0:
        raise OSError(f"cannot enhance {src!r}: the file holds no samples")
    out = enhance_array(model, x, sr, cfg)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 1.0:
        out = out / peak
    try:
        js.save(dst, out[0] if out.shape[0] == 1 else out, sr)
    except (ValueError, OSError) as e:
        raise OSError(f"cannot write {dst!r}: {e}") from None
    return {"channels": int(x.shape[0]), "seconds": x.shape[-1] / sr, "sr": int(sr)}
