"""Evaluation of the enhancement example, and enhancing audio files with a trained checkpoint.

:func:`evaluate` scores noisy, spectral-gating baseline, model and oracle-IRM signals on the
shipped corpus's held-out split (unseen sentences and voices, unseen generated noise);
:func:`enhance_file` is what ``jaxspec enhance`` runs: any sample rate, mono or multichannel.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxspec as js

from . import input_pipeline as ip
from .baseline import spectral_gate
from .config import TrainConfig
from .train import enhance_waveform, features, mask_to_estimate, noise_bank

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


def enhance_array(model, x: np.ndarray, sr: int, cfg: TrainConfig, *, griffin_lim: int = 0) -> np.ndarray:
    """Enhance ``(channels, samples)`` audio at any rate ``sr``: each channel is resampled to the
    model's rate, enhanced, and resampled back to ``sr`` and the input length.

    Phase: the input's (the mixture's, or for dereverberation the reverberant) phase with the
    model's mask; with ``griffin_lim=N`` the phase is instead estimated from the masked magnitude
    by ``N`` Griffin-Lim iterations (random initial phase, fixed key).
    """
    x = np.asarray(x, np.float32)
    n = x.shape[-1]
    if griffin_lim:
        def fwd(m, v):
            Y = js.stft(v, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
            mag = js.magnitude(mask_to_estimate(Y, m(features(Y, cfg)), cfg))
            return js.griffin_lim(mag, n_iter=griffin_lim, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                  length=v.shape[-1], key=jax.random.key(0))
        fwd = nnx.jit(fwd)
    else:
        fwd = nnx.jit(lambda m, v: enhance_waveform(m, v, cfg)[0])
    out = np.empty_like(x)
    for c in range(x.shape[0]):  # one channel at a time bounds the memory of long files
        y = np.asarray(js.resample(x[c], orig_sr=sr, target_sr=cfg.sr)) if sr != cfg.sr else x[c]
        e = np.asarray(fwd(model, jnp.asarray(y)))
        e = np.asarray(js.resample(e, orig_sr=cfg.sr, target_sr=sr)) if sr != cfg.sr else e
        out[c] = e[:n] if e.shape[-1] >= n else np.pad(e, (0, n - e.shape[-1]))
    return out


def enhance_file(model, cfg: TrainConfig, src: str, dst: str, *, griffin_lim: int = 0) -> dict:
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
    out = enhance_array(model, x, sr, cfg, griffin_lim=griffin_lim)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 1.0:
        out = out / peak
    try:
        js.save(dst, out[0] if out.shape[0] == 1 else out, sr)
    except (ValueError, OSError) as e:
        raise OSError(f"cannot write {dst!r}: {e}") from None
    return {"channels": int(x.shape[0]), "seconds": x.shape[-1] / sr, "sr": int(sr)}


# ----------------------------------------------------------------------------- dereverberation

DEREVERB_METHODS = ("reverberant", "model", "model_griffin_lim", "model_griffin_lim_init", "oracle_irm")


def heldout_rirs(n: int, *, sr: int, rt60=(0.3, 0.9), length: float = 1.0, seed: int = 7) -> np.ndarray:
    """``(n, length * sr)`` room impulse responses of a family training never sees (NumPy).

    Training draws ``jaxspec.synthetic_rir`` (a direct path and one exponentially decaying noise
    tail). These add what real rooms have and that model lacks: a propagation delay, 6-14 discrete
    early reflections (3-40 ms, random signs, weaker than the direct path) and a frequency-dependent
    decay (the tail above ~2 kHz decays 1.8x faster than below), at a direct-to-reverberant ratio
    of -12 to -4 dB (a distant talker). RT60 evenly spaced over ``rt60`` seconds; peak 1.
    """
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    L = int(round(length * sr))
    t = np.arange(L) / sr
    lo, hi = butter(4, 2000, "low", fs=sr, output="sos"), butter(4, 2000, "high", fs=sr, output="sos")
    out = np.zeros((n, L), np.float32)
    for i, T in enumerate(np.linspace(rt60[0], rt60[1], n)):
        d = int(rng.integers(int(0.001 * sr), int(0.004 * sr)))
        h = np.zeros(L)
        h[d] = 1.0
        for _ in range(int(rng.integers(6, 15))):
            k = d + int(rng.uniform(0.003, 0.040) * sr)
            h[k] += rng.choice((-1.0, 1.0)) * rng.uniform(0.3, 0.8) * np.sqrt((d + 1) / (k + 1))  # < the direct path
        start = d + int(0.005 * sr)
        noise = rng.standard_normal(L)
        tail = (sosfilt(lo, noise) * np.exp(-6.9 * t / T) + sosfilt(hi, noise) * np.exp(-6.9 * 1.8 * t / T))
        tail[:start] = 0.0
        tail *= 10 ** (-rng.uniform(-12.0, -4.0) / 20) / np.sqrt(np.sum(tail ** 2) + 1e-12)  # DRR -12..-4 dB
        h += tail
        out[i] = h / np.max(np.abs(h))
    return out


def evaluate_dereverb(model, cfg: TrainConfig, *, n_clips: int | None = None, griffin_lim_iters: int = 32,
                      seed: int = 7) -> dict:
    """SI-SDR and STOI against the early-reflection target (``reverb(x, early_rir(rir), align=True)``)
    on the held-out speech reverberated by :func:`heldout_rirs` (RT60 0.3-0.9 s), for the
    reverberant input, the model with the reverberant phase, the model's magnitude through
    Griffin-Lim (``griffin_lim_iters``) from a random initial phase and from the reverberant
    phase, and the oracle IRM (early target vs
    the rest). For ``task="denoise+dereverb"`` held-out generated noise is added at 5 dB.

    Returns ``{"<method>": {"si_sdr", "si_sdr_i", "stoi"}, "rt60": [...], "examples": {...}}``.
    """
    files, _ = ip.scan(ip.shipped_speech("heldout"), what="shipped held-out speech")
    clips = [np.asarray(js.load(f.path, sr=cfg.sr)[0], np.float32) for f in files][:n_clips]
    lengths = np.asarray([len(c) for c in clips])
    L = int(-(-lengths.max() // cfg.hop_length) * cfg.hop_length)
    dry = np.zeros((len(clips), L), np.float32)
    for i, c in enumerate(clips):
        dry[i, : len(c)] = c
    rirs = heldout_rirs(len(clips), sr=cfg.sr, seed=seed)
    dry, rirs_j = jnp.asarray(dry), jnp.asarray(rirs)
    valid = jnp.asarray((np.arange(L)[None, :] < lengths[:, None]).astype(np.float32))
    reverberant = js.reverb(dry, rirs_j, align=True) * valid
    target = js.reverb(dry, js.early_rir(rirs_j, sr=cfg.sr), align=True) * valid
    if cfg.task == "denoise+dereverb":
        heldout = ip.Corpus(files, sr=cfg.sr, what="shipped held-out speech")
        noise = jnp.asarray(noise_bank(cfg, heldout, key=jax.random.key(seed), n=len(clips), seconds=L / cfg.sr)) * valid
        reverberant, _ = js.mix(reverberant, noise, jnp.full((len(clips),), 5.0))
    stft = lambda x: js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    istft = lambda S: js.istft(S, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=L)
    Y, S = stft(reverberant), stft(target)
    est, out = nnx.jit(lambda m, y: enhance_waveform(m, y, cfg))(model, reverberant)
    mag = js.magnitude(mask_to_estimate(Y, out, cfg))
    gl = jax.jit(lambda m: js.griffin_lim(m, n_iter=griffin_lim_iters, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                          length=L, key=jax.random.key(seed)))(mag)
    gl_init = jax.jit(lambda m, p: js.griffin_lim(m, n_iter=griffin_lim_iters, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                                  length=L, init_phase=p))(mag, js.phase(Y))
    oracle = istft(js.masks.apply_mask(Y, js.masks.irm(S, Y - S)))
    outs = {"reverberant": reverberant, "model": est * valid, "model_griffin_lim": gl * valid,
            "model_griffin_lim_init": gl_init * valid, "oracle_irm": oracle * valid}
    res: dict = {}
    base = np.asarray(js.si_sdr(target, reverberant))
    for name, x in outs.items():
        sdr = np.asarray(js.si_sdr(target, x))
        res[name] = {"si_sdr": float(sdr.mean()), "si_sdr_i": float((sdr - base).mean()),
                     "stoi": float(np.mean(np.asarray(js.stoi(target, x, sr=cfg.sr))))}
    res["rt60"] = [float(v) for v in np.linspace(0.3, 0.9, len(clips))]
    res["examples"] = {"lengths": lengths, "target": np.asarray(target), **{k: np.asarray(v) for k, v in outs.items()}}
    return res
