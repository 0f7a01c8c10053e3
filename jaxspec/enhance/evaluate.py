"""Evaluation of the enhancement example, and enhancing audio files with a trained checkpoint.

:func:`evaluate` scores noisy, spectral-gating baseline, model and oracle-IRM signals on two
held-out sets of the shipped corpus: in distribution (unseen sentences of training voices, new
draws of the training noise families) and mismatched (voices, synthesis methods and noise families
never used in training), enhancing every clip with :func:`enhance_array`, the code ``jaxspec
enhance`` runs through :func:`enhance_file`: any sample rate, mono or multichannel.
:func:`evaluate_dereverb` does the same for dereverberation, with RIRs of an unseen family.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf
from flax import nnx

import jaxspec as js

from . import input_pipeline as ip
from .baseline import spectral_gate
from .config import TrainConfig
from . import noise as _noise
from .train import _speech_stream, features, mask_to_estimate, noise_bank

METHODS = ("noisy", "baseline", "enhanced", "oracle_irm")
SETS = ("heldout", "mismatched")
REAL_SET = "real"  # recorded human speakers never in training (:func:`real_set`)
ALL_SETS = SETS + (REAL_SET,)
#: the real set's noise families; babble is made of the real corpus's disjoint babble speakers,
#: music is the corpus's real music excerpts, the others are generated
REAL_KINDS = ("babble", "pink", "brown", "hum", "machine", "music", "traffic")
#: families shown but left out of headline averages (their oracle gains dwarf the rest)
NOT_HEADLINE = ("traffic", "brown")
REAL_CLIP_SECONDS = (4.0, 6.0)  # a real-set clip: one speaker's recordings, this long in all
REAL_PAUSE_SECONDS = (0.3, 0.8)  # silence before each recording of a clip


def set_kinds(split: str, cfg: TrainConfig) -> tuple[str, ...]:
    """Noise families of an evaluation set: the training families (``cfg.noise_kinds``) for the
    in-distribution ``"heldout"`` set; for ``"mismatched"`` the families training never uses
    (``noise.HELDOUT_KINDS``) and babble of the set's own unseen voices."""
    if split == "heldout":
        return tuple(cfg.noise_kinds)
    return tuple(k for k in _noise.HELDOUT_KINDS if k not in cfg.noise_kinds) + ("babble",)


def _load_split(cfg: TrainConfig, split: str, n_clips: int | None):
    """``(files, clips, lengths)``: every file of a split of the shipped corpus, and its first
    ``n_clips`` clips at ``cfg.sr``, zero-padded to one length (a multiple of the hop) in
    ``(n_clips, L)`` float32."""
    files, _ = ip.scan(ip.shipped_speech(split), what=f"shipped {split} speech")
    loaded = [np.asarray(js.load(f.path, sr=cfg.sr)[0], np.float32) for f in files[:n_clips]]
    lengths = np.asarray([len(c) for c in loaded])
    L = int(-(-lengths.max() // cfg.hop_length) * cfg.hop_length)
    clips = np.zeros((len(loaded), L), np.float32)
    for i, c in enumerate(loaded):
        clips[i, : len(c)] = c
    return files, clips, lengths


def _real_clips(cfg: TrainConfig, seed: int) -> list[np.ndarray]:
    """The real set's clean clips: each unseen speaker's recordings (in manifest order) laid end
    to end, each after a pause of ``REAL_PAUSE_SECONDS``, until a clip holds at least
    ``REAL_CLIP_SECONDS[0]`` (and at most ``[1]``: a longer recording is cut); the speakers take
    turns, so the first clips span every speaker."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[str]] = {}
    for e in ip.real_speech("unseen"):
        by_speaker.setdefault(e["speaker"], []).append(e["path"])
    per_speaker = []
    lo, hi = (int(t * cfg.sr) for t in REAL_CLIP_SECONDS)
    for speaker in sorted(by_speaker):
        clips, parts, n = [], [], 0
        for path in by_speaker[speaker]:
            pause = np.zeros(int(rng.uniform(*REAL_PAUSE_SECONDS) * cfg.sr), np.float32)
            parts += [pause, np.asarray(js.load(path, sr=cfg.sr)[0], np.float32)]
            n += len(parts[-2]) + len(parts[-1])
            if n >= lo:
                clips.append(np.concatenate(parts)[:hi])
                parts, n = [], 0
        per_speaker.append(clips)
    out = []
    for i in range(max(len(c) for c in per_speaker)):
        out += [c[i] for c in per_speaker if i < len(c)]
    return out


def real_set(cfg: TrainConfig, *, seed: int = 2024, n_clips: int | None = None):
    """The real-speech evaluation set: clips of the recorded speakers of the real corpus's
    ``"unseen"`` split (never in training; :func:`_real_clips`), each with noise of one of
    ``REAL_KINDS`` (cycling over the clips): babble of the disjoint ``"babble"`` speaker pool,
    the corpus's real music excerpts (a random stretch), and generated pink, brown, hum, machine
    and traffic noise. Same return value as :func:`heldout_set`."""
    loaded = _real_clips(cfg, seed)[:n_clips]
    lengths = np.asarray([len(c) for c in loaded])
    L = int(-(-lengths.max() // cfg.hop_length) * cfg.hop_length)
    clean = np.zeros((len(loaded), L), np.float32)
    for i, c in enumerate(loaded):
        clean[i, : len(c)] = c
    babble_files, _ = ip.scan([e["path"] for e in ip.real_speech("babble")], what="real babble speech")
    stream = jnp.asarray(_speech_stream(ip.Corpus(babble_files, sr=cfg.sr, what="real babble speech"), cfg.sr))
    families = [REAL_KINDS[i % len(REAL_KINDS)] for i in range(len(clean))]
    # without music the families still cycle in order, so the k-th other clip takes row k of a
    # bank cycling through them
    generated = tuple(k for k in REAL_KINDS if k != "music")
    rows = [i for i, f in enumerate(families) if f != "music"]
    noise = np.zeros_like(clean)
    if rows:
        noise[rows] = np.asarray(jax.jit(_noise.noise_bank, static_argnames=("n", "samples", "sr", "kinds"))(
            jax.random.key(seed), stream, n=len(rows), samples=L, sr=cfg.sr, kinds=generated))
    music_files, _ = ip.scan(ip.real_music(), what="real music")
    music = ip.Corpus(music_files, sr=cfg.sr, what="real music")
    rng = np.random.default_rng(seed + 1)
    for i, f in enumerate(families):
        if f == "music":
            noise[i] = music.crop(rng, L)
    valid = (np.arange(L)[None, :] < lengths[:, None]).astype(np.float32)
    return clean, noise * valid, lengths, families


def heldout_set(cfg: TrainConfig, *, split: str = "heldout", seed: int = 2024, n_clips: int | None = None):
    """Clips of a held-out split of the shipped corpus and generated noise for each.

    ``split="heldout"``: unseen sentences of the training voices and engines, with noise of the
    training families (new draws); ``"mismatched"``: unseen sentences of voices and engines never
    used in training, with noise families never used in training (:func:`set_kinds`). Babble is
    made from the split's own speech, so no training audio leaks into a test. Families cycle over
    the clips. Everything is padded to one length (a multiple of the hop).

    Returns ``(clean, noise, lengths, families)``: two ``(n_clips, L)`` float32 arrays (zero past
    each clip's length), the lengths, and each clip's noise family.
    """
    if split not in ALL_SETS:
        raise ValueError(f"heldout_set: split must be one of {ALL_SETS}, got {split!r}")
    if split == REAL_SET:
        return real_set(cfg, seed=seed, n_clips=n_clips)
    files, clean, lengths = _load_split(cfg, split, n_clips)
    kinds = set_kinds(split, cfg)
    speech = ip.Corpus(files, sr=cfg.sr, what=f"shipped {split} speech")
    stream = jnp.asarray(_speech_stream(speech, cfg.sr))
    bank = np.asarray(jax.jit(_noise.noise_bank, static_argnames=("n", "samples", "sr", "kinds"))(
        jax.random.key(seed), stream, n=len(clean), samples=clean.shape[-1], sr=cfg.sr, kinds=kinds))
    valid = (np.arange(clean.shape[-1])[None, :] < lengths[:, None]).astype(np.float32)
    families = [kinds[i % len(kinds)] for i in range(len(clean))]
    return clean, bank * valid, lengths, families


def _mix(clean: np.ndarray, noise: np.ndarray, snr_db: float):
    """``(mixture, scaled noise)`` at ``snr_db`` per clip, as ``jaxspec.mix`` returns them, over
    each clip's own samples (the padding is zero in both)."""
    mixture, noise = js.mix(jnp.asarray(clean), jnp.asarray(noise), jnp.full((len(clean),), snr_db, jnp.float32))
    return np.asarray(mixture), np.asarray(noise)


def heldout_mixtures(cfg: TrainConfig, snr_db: float, *, split: str = "heldout", seed: int = 2024,
                     n_clips: int | None = None):
    """:func:`heldout_set` mixed at ``snr_db``: ``(clean, noise, mixture, lengths, families)``."""
    clean, noise, lengths, families = heldout_set(cfg, split=split, seed=seed, n_clips=n_clips)
    mixture, noise = _mix(clean, noise, snr_db)
    return clean, noise, mixture, lengths, families


@functools.lru_cache(maxsize=8)
def _references(cfg: TrainConfig):
    """``refs(mixture, clean, noise, lengths) -> (baseline, oracle_irm)``, batched and jitted."""

    def refs(mixture, clean, noise, lengths):
        stft = lambda x: js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)  # noqa: E731
        istft = lambda S: js.istft(S, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=mixture.shape[-1])  # noqa: E731
        Y, S, N = stft(mixture), stft(clean), stft(noise)
        frames = jnp.arange(Y.shape[-1]) * cfg.hop_length
        _, gate_S = spectral_gate(Y, valid=frames[None, :] < lengths[:, None])
        return istft(gate_S), istft(js.masks.apply_mask(Y, js.masks.irm(S, N)))

    return jax.jit(refs)


@functools.partial(jax.jit, static_argnames=("sr",))
def _sdr_stoi(clean, estimates, sr: int):
    """SI-SDR and STOI of every method's estimates ``(methods, n, L)`` against ``clean`` ``(n, L)``:
    one compiled program per set (op-by-op STOI compiles each of its many operations)."""
    c = jnp.broadcast_to(clean, estimates.shape)
    return js.si_sdr(c, estimates), js.stoi(c, estimates, sr=sr)


def _scores(clean, outs: dict, lengths, sr: int, with_pesq: bool) -> dict:
    """Per-clip SI-SDR, SI-SDR improvement, STOI (and PESQ) of each method: ``{method: {metric: (n,)}}``."""
    methods = list(outs)
    sdrs, stois = (np.asarray(a) for a in _sdr_stoi(jnp.asarray(clean), jnp.asarray(np.stack([outs[m] for m in methods])), sr))
    per = {}
    base = sdrs[methods.index("noisy")]
    for k, (method, est) in enumerate(outs.items()):
        d = {"si_sdr": sdrs[k], "si_sdr_i": sdrs[k] - base, "stoi": stois[k]}
        if with_pesq:
            d["pesq"] = np.asarray([float(js.pesq(clean[i, : lengths[i]], est[i, : lengths[i]], sr=sr, mode="wb"))
                                    for i in range(len(lengths))])
        per[method] = d
    return per


def _means(per: dict, which=None) -> dict:
    pick = (lambda v: v) if which is None else (lambda v: v[which])  # noqa: E731
    return {m: {k: float(np.nanmean(pick(v))) for k, v in d.items()} for m, d in per.items()}


def _quartiles(per: dict, which) -> dict:
    """``{method: {metric: [25th percentile, median, 75th percentile]}}`` over the clips ``which``."""
    return {m: {k: [float(q) for q in np.nanpercentile(v[which], (25, 50, 75))] for k, v in d.items()}
            for m, d in per.items()}


def headline(row: dict) -> dict:
    """``{method: {metric: mean over families of the median}}`` of one set and SNR of
    :func:`evaluate`, leaving out ``NOT_HEADLINE`` families (no single family's outsized gain
    carries the average)."""
    fams = [f for f in row["family_stats"] if f not in NOT_HEADLINE]
    methods = row["family_stats"][fams[0]]
    return {m: {k: float(np.mean([row["family_stats"][f][m][k][1] for f in fams])) for k in methods[m]}
            for m in methods}


def evaluate(model, cfg: TrainConfig, *, sets=SETS, snrs=(0.0, 5.0), n_clips: int | None = None,
             with_pesq: bool = True, seed: int = 2024) -> dict:
    """Score noisy, spectral-gating baseline, enhanced and oracle-IRM signals on held-out sets.

    The enhanced signal of every clip is made by :func:`enhance_array`, the code ``jaxspec
    enhance`` runs, one clip at a time at its own length. Sets (:func:`heldout_set`):
    ``"heldout"`` (in distribution: unseen sentences, training voices and noise families) and
    ``"mismatched"`` (voices, engines and noise families never used in training); and
    ``"real"`` (:func:`real_set`: recorded speakers never in training).

    Returns ``{set: {"<snr>": {method: {"si_sdr", "si_sdr_i", "stoi"[, "pesq"]}, "families":
    {family: {method: {...}}}, "family_stats": {family: {method: {metric: [q25, median, q75]}}}}},
    "examples": {...}}``: means over the clips (and over each noise family's clips) and each
    family's quartiles (:func:`headline` averages the medians); ``examples`` holds the arrays of the first set and SNR (for wavs and the figure).
    """
    if with_pesq:
        try:
            import pesq  # noqa: F401  (optional: the `demo`/`test` extras install it)
        except ImportError:
            print("  (no PESQ: the optional `pesq` package is not installed; pip install 'jaxspec[demo]')")
            with_pesq = False
    results: dict = {}
    examples = None
    for split in sets:
        results[split] = {}
        clean, unscaled, lengths, families = heldout_set(cfg, split=split, seed=seed, n_clips=n_clips)
        for snr in snrs:
            mixture, noise = _mix(clean, unscaled, snr)
            enhanced = np.zeros_like(mixture)
            for i, n in enumerate(lengths):
                enhanced[i, :n] = enhance_array(model, mixture[None, i, :n], cfg.sr, cfg)[0]
            baseline, oracle = _references(cfg)(jnp.asarray(mixture), jnp.asarray(clean), jnp.asarray(noise),
                                                jnp.asarray(lengths))
            valid = (np.arange(clean.shape[-1])[None, :] < lengths[:, None]).astype(np.float32)
            outs = {"noisy": mixture, "baseline": np.asarray(baseline) * valid, "enhanced": enhanced,
                    "oracle_irm": np.asarray(oracle) * valid}  # metrics over each clip's own samples
            per = _scores(clean, outs, lengths, cfg.sr, with_pesq)
            row = _means(per)
            fam = np.asarray(families)
            row["families"] = {f: _means(per, fam == f) for f in dict.fromkeys(families)}
            row["family_stats"] = {f: _quartiles(per, fam == f) for f in dict.fromkeys(families)}
            results[split][f"{snr:g}"] = row
            if examples is None:
                Y = js.stft(jnp.asarray(mixture[:1]), n_fft=cfg.n_fft, hop_length=cfg.hop_length)
                mask = np.asarray(_mask_magnitude(nnx.jit(lambda m, y: m(features(y, cfg)))(model, Y), cfg, Y))
                examples = {"set": split, "snr": snr, "clean": clean, "lengths": lengths, "families": families,
                            "mask": mask, **outs}
    results["examples"] = examples
    return results


BUCKET_SECONDS = 4.0  # enhance pads a file to a multiple of this (x a power of two), so few shapes compile
HIGH_BAND_FROM = 0.5  # the high band's gain is the mean mask over [HIGH_BAND_FROM * Nyquist, Nyquist] of the model


def streamable(cfg: TrainConfig) -> bool:
    """True when a frame's output does not depend on later audio beyond the STFT window (the
    causal GRU with fixed feature statistics; the band model, whose running normalisation looks
    at the past only): then trailing zeros cannot change the result, :func:`enhance_array` may
    pad inputs to a few bucketed lengths, and a stream gives the whole file's numbers."""
    return (cfg.feature_norm == "fixed" and cfg.model == "gru") or cfg.model == "band"


def _bucket(n: int, cfg: TrainConfig) -> int:
    step = int(round(BUCKET_SECONDS * cfg.sr / cfg.hop_length)) * cfg.hop_length
    k = -(-n // step)
    return step * (1 << max(0, (k - 1).bit_length()))  # step x the next power of two >= k


def _mask_magnitude(out: jax.Array, cfg: TrainConfig, Y: jax.Array | None = None) -> jax.Array:
    """The model output as a real gain per bin ``(..., freq, frames)`` (``|M|`` for the cIRM; for
    the band model, which returns the estimate, ``|out| / |Y|`` clipped to [0, 1])."""
    if cfg.model == "band":
        mag = js.magnitude(Y)
        return jnp.clip(jnp.where(mag > 0, js.magnitude(out) / jnp.where(mag > 0, mag, 1.0), 0.0), 0.0, 1.0)
    if cfg.target != "cirm":
        return out
    return js.magnitude(mask_to_estimate(jnp.ones(out.shape[:-3] + out.shape[-2:], jnp.complex64), out, cfg))


def enhance_array(model, x: np.ndarray, sr: int, cfg: TrainConfig, *, griffin_lim: int = 0) -> np.ndarray:
    """Enhance ``(channels, samples)`` audio at any rate ``sr``; returns the same shape at ``sr``.

    Each channel is enhanced on its own (stereo in, stereo out). The model runs at its own rate
    ``cfg.sr``: the channel is resampled to it (``jaxspec.resample``), enhanced and resampled back.
    Band policy for ``sr > cfg.sr``: what the model cannot see (the input minus its band-limited
    copy, i.e. everything above ``cfg.sr / 2``) is passed through, attenuated frame by frame by
    the model's mean mask over the top half of its band (``HIGH_BAND_FROM``); so a wide-band
    recording keeps its air and sibilance where the model keeps speech, and loses it where the
    model removes noise. For ``sr < cfg.sr`` nothing is added.

    Phase: the input's (the mixture's, or for dereverberation the reverberant) phase with the
    model's mask; with ``griffin_lim=N`` the phase is instead estimated from the masked magnitude
    by ``N`` Griffin-Lim iterations (random initial phase, fixed key).

    For a :func:`streamable` model the model's input is zero-padded to a bucketed length
    (``BUCKET_SECONDS`` times a power of two) and the output cut back, so files of any length
    share a few compiled shapes; the padding cannot change the result (not done with Griffin-Lim,
    whose phase estimate spans the whole signal).
    """
    x = np.asarray(x, np.float32)
    n = x.shape[-1]
    fwd = _enhance_fn(cfg, griffin_lim)
    out = np.empty_like(x)
    for c in range(x.shape[0]):  # one channel at a time bounds the memory of long files
        y = np.asarray(js.resample(x[c], orig_sr=sr, target_sr=cfg.sr)) if sr != cfg.sr else x[c]
        m = y.shape[-1]
        padded = np.pad(y, (0, _bucket(m, cfg) - m)) if streamable(cfg) and not griffin_lim else y
        e, gain = fwd(model, jnp.asarray(padded))
        e = np.asarray(e)[:m]
        if sr != cfg.sr:
            e = np.asarray(js.resample(e, orig_sr=cfg.sr, target_sr=sr))
            e = e[:n] if e.shape[-1] >= n else np.pad(e, (0, n - e.shape[-1]))
        if sr > cfg.sr:  # pass the band above the model's Nyquist through, at the mask's gain
            seen = np.asarray(js.resample(y, orig_sr=cfg.sr, target_sr=sr))
            seen = seen[:n] if seen.shape[-1] >= n else np.pad(seen, (0, n - seen.shape[-1]))
            g = np.asarray(gain)
            t_frames = np.arange(g.shape[-1]) * cfg.hop_length / cfg.sr
            e = e + np.interp(np.arange(n) / sr, t_frames, g).astype(np.float32) * (x[c] - seen)
        out[c] = e
    return out


@functools.lru_cache(maxsize=16)
def _enhance_fn(cfg: TrainConfig, griffin_lim: int):
    """``fwd(model, wave) -> (enhanced, high-band gain per frame)``, one ``nnx.jit`` per config."""
    lo = int(HIGH_BAND_FROM * (cfg.n_fft // 2))

    def fwd(m, v):
        Y = js.stft(v, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
        out = m(features(Y, cfg))
        gain = jnp.mean(_mask_magnitude(out, cfg, Y)[..., lo:, :], axis=-2)
        if griffin_lim:
            mag = js.magnitude(mask_to_estimate(Y, out, cfg))
            e = js.griffin_lim(mag, n_iter=griffin_lim, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                               length=v.shape[-1], key=jax.random.key(0))
        else:
            e = js.istft(mask_to_estimate(Y, out, cfg), n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                         length=v.shape[-1])
        return e, gain

    return nnx.jit(fwd)


def enhance_file(model, cfg: TrainConfig, src: str, dst: str, *, griffin_lim: int = 0, chunked: bool | None = None,
                 progress: bool | None = None) -> dict:
    """Read ``src`` (any rate, mono or multichannel), enhance it, write ``dst`` at the same rate,
    length and channel count (scaled down only if it would clip).

    Files longer than ``chunked.CHUNK_SECONDS`` (``chunked=None``, the default) or any file with
    ``chunked=True`` are read, enhanced and written block by block
    (:func:`jaxspec.enhance.chunked.enhance_file_blocked`): memory does not grow with the file. A
    causal model gives the same numbers either way; other models run on cross-faded chunks.
    Griffin-Lim (``griffin_lim > 0``) estimates a phase over the whole signal and always takes
    the whole file.

    Returns:
      ``{"channels", "seconds", "sr"}`` (and ``"elapsed"``, ``"peak"`` when chunked).

    Raises:
      OSError: ``src`` cannot be read or ``dst`` cannot be written (the message names the path).
    """
    from . import chunked as _chunked

    if chunked is None and not griffin_lim:
        try:
            info = sf.info(src)
        except Exception as e:  # soundfile raises its own error types for unreadable audio
            raise OSError(f"cannot read audio from {src!r}: {e}") from None
        chunked = info.frames > _chunked.CHUNK_SECONDS * info.samplerate
    if chunked and not griffin_lim:
        return _chunked.enhance_file_blocked(model, cfg, src, dst, progress=progress)
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

    Every clip is enhanced on its own, at its own length, by :func:`enhance_array` (the code
    ``jaxspec enhance`` runs, with and without ``--griffin-lim``): a model that normalises over the
    utterance would otherwise see the zero padding of a batch of clips of different lengths.

    Returns ``{"<method>": {"si_sdr", "si_sdr_i", "stoi"}, "rt60": [...], "examples": {...}}``.
    """
    files, dry, lengths = _load_split(cfg, "heldout", n_clips)
    L = dry.shape[-1]
    rirs = heldout_rirs(len(dry), sr=cfg.sr, seed=seed)
    dry, rirs_j = jnp.asarray(dry), jnp.asarray(rirs)
    valid = jnp.asarray((np.arange(L)[None, :] < lengths[:, None]).astype(np.float32))
    reverberant = js.reverb(dry, rirs_j, align=True) * valid
    target = js.reverb(dry, js.early_rir(rirs_j, sr=cfg.sr), align=True) * valid
    if cfg.task == "denoise+dereverb":
        heldout = ip.Corpus(files, sr=cfg.sr, what="shipped held-out speech")
        noise = jnp.asarray(noise_bank(cfg, heldout, key=jax.random.key(seed), n=len(dry), seconds=L / cfg.sr)) * valid
        reverberant, _ = js.mix(reverberant, noise, jnp.full((len(dry),), 5.0))
    stft = lambda x: js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    istft = lambda S: js.istft(S, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=L)
    Y, S = stft(reverberant), stft(target)
    oracle = istft(js.masks.apply_mask(Y, js.masks.irm(S, Y - S)))
    rev = np.asarray(reverberant)
    est, gl, gl_init = (np.zeros_like(rev) for _ in range(3))
    gl_from_input = _griffin_lim_from_input_fn(cfg, griffin_lim_iters)
    for i, n in enumerate(lengths):
        x = rev[None, i, :n]
        est[i, :n] = enhance_array(model, x, cfg.sr, cfg)[0]
        gl[i, :n] = enhance_array(model, x, cfg.sr, cfg, griffin_lim=griffin_lim_iters)[0]
        gl_init[i, :n] = np.asarray(gl_from_input(model, jnp.asarray(x[0])))
    outs = {"reverberant": reverberant, "model": est, "model_griffin_lim": gl,
            "model_griffin_lim_init": gl_init, "oracle_irm": oracle * valid}
    res: dict = {}
    names = list(outs)
    sdrs, stois = (np.asarray(a) for a in _sdr_stoi(jnp.asarray(target), jnp.stack([jnp.asarray(outs[k]) for k in names]),
                                                     cfg.sr))
    base = sdrs[names.index("reverberant")]
    for k, name in enumerate(names):
        res[name] = {"si_sdr": float(sdrs[k].mean()), "si_sdr_i": float((sdrs[k] - base).mean()),
                     "stoi": float(np.mean(stois[k]))}
    res["rt60"] = [float(v) for v in np.linspace(0.3, 0.9, len(dry))]
    res["examples"] = {"lengths": lengths, "target": np.asarray(target), **{k: np.asarray(v) for k, v in outs.items()}}
    return res


@functools.lru_cache(maxsize=4)
def _griffin_lim_from_input_fn(cfg: TrainConfig, n_iter: int):
    """``fwd(model, wave) -> wave``: the model's masked magnitude through ``n_iter`` Griffin-Lim
    iterations started from the input's own phase."""

    def fwd(m, v):
        Y = js.stft(v, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
        mag = js.magnitude(mask_to_estimate(Y, m(features(Y, cfg)), cfg))
        return js.griffin_lim(mag, n_iter=n_iter, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=v.shape[-1],
                              init_phase=js.phase(Y))

    return nnx.jit(fwd)
