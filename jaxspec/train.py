"""Training a mask estimator with everything after the raw waveforms on the device.

One ``nnx.jit`` step (:func:`make_train_step`) takes a batch of raw clean speech ``(batch, L_c)``,
a batch of raw noise ``(batch, L_n)`` and a key, and does::

    fit_length (random crops) -> [augment: gain, EQ] -> random_mix (SNR ~ Uniform(snr_low, snr_high) dB) -> prevent_clipping
    -> stft -> log-magnitude -> normalize -> splice -> model -> mask -> loss -> AdamW update

Data parallelism: :func:`run` builds a ``Mesh`` over every device with one ``"batch"`` axis,
replicates the parameters and optimiser state, and shards the batch; XLA inserts the gradient
all-reduce. The same code runs on one CPU, a GPU, a TPU slice, or several hosts (call
``jax.distributed.initialize()`` first; each process then feeds its share of the batch, assembled
with ``jax.make_array_from_process_local_data``).

Checkpoints are msgpack files (``flax.serialization``, no pickle) with the model and optimiser
state, plus ``config.json`` and ``meta.json`` (step); :func:`run` resumes from them. The run is
deterministic for a seed: step ``i`` draws its host batch from ``np.random.default_rng([seed, i])``
and its device key from ``fold_in(key(seed), i)``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, serialization
from jax.sharding import NamedSharding, PartitionSpec as P

import jaxspec as js

from . import noise as _noise
from .config import TrainConfig
from .models import dnn as _dnn
from .models import make_model

DATA_DIR = os.path.join(os.path.dirname(__file__), "data", "speech")
LOG_EPS = 1e-8
SA_POWER = 0.3


class NonFiniteLoss(RuntimeError):
    """Raised when the training loss becomes NaN or inf."""


# ----------------------------------------------------------------------------- data (host side)

def load_corpus(split: str, *, sr: int = 16000, data_dir: str = DATA_DIR) -> list[np.ndarray]:
    """The shipped speech clips of one split (``"train"`` or ``"heldout"``) as float32 arrays."""
    if split not in ("train", "heldout"):
        raise ValueError(f"load_corpus: split must be 'train' or 'heldout', got {split!r}")
    with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    clips = []
    for c in manifest["clips"]:
        if c["split"] == split:
            x, _ = js.load(os.path.join(data_dir, c["file"]), sr=sr)
            clips.append(np.asarray(x, np.float32))
    return clips


def corpus_manifest(data_dir: str = DATA_DIR) -> dict:
    with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def loop_to(x: np.ndarray, n: int) -> np.ndarray:
    """Loop (tile) or crop a 1-D clip to ``n`` samples."""
    reps = -(-n // len(x))
    return np.tile(x, reps)[:n]


def clip_bank(clips: list[np.ndarray]) -> np.ndarray:
    """Rows of equal length (the longest clip), shorter clips looped: ``(n_clips, L)``."""
    n = max(len(c) for c in clips)
    return np.stack([loop_to(c, n) for c in clips]).astype(np.float32)


_noise_bank_jit = jax.jit(_noise.noise_bank, static_argnames=("n", "samples", "sr", "kinds"))


def make_noise_bank(cfg: TrainConfig, speech: list[np.ndarray], *, key: jax.Array, n: int | None = None) -> np.ndarray:
    """The noise rows training crops from: generated (``cfg.noise_kinds``) or read from ``cfg.noise_dir``."""
    n = cfg.noise_clips if n is None else n
    samples = int(round(cfg.noise_seconds * cfg.sr))
    if cfg.noise_dir:
        files = sorted(os.path.join(cfg.noise_dir, f) for f in os.listdir(cfg.noise_dir)
                       if f.lower().endswith((".wav", ".flac", ".ogg")))
        if not files:
            raise FileNotFoundError(f"noise_dir {cfg.noise_dir!r} has no .wav/.flac/.ogg files")
        rows = [loop_to(np.asarray(js.load(f, sr=cfg.sr)[0], np.float32), samples) for f in files]
        rows = [r / max(float(np.sqrt(np.mean(r * r))), 1e-8) for r in rows]
        return np.stack([rows[i % len(rows)] for i in range(max(n, len(rows)))]).astype(np.float32)
    stream = jnp.asarray(np.concatenate(speech))
    bank = _noise_bank_jit(key, stream, n=n, samples=samples, sr=cfg.sr, kinds=cfg.noise_kinds)
    return np.asarray(bank)


def host_batch(cfg: TrainConfig, step: int, clean_bank: np.ndarray, noise_bank: np.ndarray):
    """The raw rows of step ``step``: deterministic for ``(cfg.seed, step)``."""
    rng = np.random.default_rng([cfg.seed, step])
    ci = rng.integers(0, len(clean_bank), cfg.batch_size)
    ni = rng.integers(0, len(noise_bank), cfg.batch_size)
    return clean_bank[ci], noise_bank[ni]


# ----------------------------------------------------------------------------- the model's front end

def features(Y: jax.Array, cfg: TrainConfig) -> jax.Array:
    """Model input from a mixture STFT: log power, normalised per utterance, spliced.

    Args:
      Y: complex STFT ``(..., freq, frames)``.
      cfg: the config (``context``).

    Returns:
      ``(..., (2 * context + 1) * freq, frames)`` float32.
    """
    logpow = jnp.log(js.power(Y) + LOG_EPS)
    axis = (-2, -1) if cfg.feature_norm == "utterance" else -1
    return js.splice(js.normalize(logpow, axis=axis), left=cfg.context, right=cfg.context)


def mask_to_estimate(Y: jax.Array, out: jax.Array, cfg: TrainConfig) -> jax.Array:
    """Apply the model's output to the mixture STFT: real masks multiply, the cIRM is decompressed."""
    if cfg.target == "cirm":
        M = js.masks.cirm_decompress(jax.lax.complex(out[..., 0, :, :], out[..., 1, :, :]), K=_dnn.CIRM_K, C=_dnn.CIRM_C)
        return js.masks.apply_mask(Y, M)
    return js.masks.apply_mask(Y, out)


def target_mask(S: jax.Array, N: jax.Array, cfg: TrainConfig) -> jax.Array:
    """The training target in the model's output layout, from clean and noise STFTs."""
    if cfg.target == "irm":
        return js.masks.irm(S, N)
    if cfg.target == "psm":
        return js.masks.psm(S, N)
    if cfg.target == "ibm":
        return js.masks.ibm(S, N)
    M = js.masks.cirm(S, N, K=_dnn.CIRM_K, C=_dnn.CIRM_C)
    return jnp.stack([M.real, M.imag], axis=-3)


def enhance_waveform(model, x: jax.Array, cfg: TrainConfig) -> tuple[jax.Array, jax.Array]:
    """Enhance waveforms ``(..., samples)`` at ``cfg.sr``; returns ``(enhanced, model_output)``."""
    Y = js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    out = model(features(Y, cfg))
    S_hat = mask_to_estimate(Y, out, cfg)
    return js.istft(S_hat, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=x.shape[-1]), out


def loss_from_waves(model, clean: jax.Array, noise: jax.Array, mixture: jax.Array, cfg: TrainConfig) -> jax.Array:
    """The scalar training loss for one batch of aligned clean / scaled noise / mixture waveforms."""
    stft = lambda x: js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    Y, S = stft(mixture), stft(clean)
    out = model(features(Y, cfg))
    if cfg.loss == "mask":
        return jnp.mean((out - target_mask(S, stft(noise), cfg)) ** 2)
    S_hat = mask_to_estimate(Y, out, cfg)
    if cfg.loss == "sa":
        if cfg.target == "cirm":  # complex mask: compare compressed complex spectra
            d = js.compress(S_hat, power=SA_POWER) - js.compress(S, power=SA_POWER)
            return jnp.mean(d.real ** 2 + d.imag ** 2)
        # real mask: compare compressed magnitudes (a phase-aware loss would push a real mask down
        # by cos(phase error) ** (1 / SA_POWER) and over-suppress low-SNR speech)
        d = js.compress(js.magnitude(S_hat), power=SA_POWER) - js.compress(js.magnitude(S), power=SA_POWER)
        return jnp.mean(d * d)
    s_hat = js.istft(S_hat, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=clean.shape[-1])
    return -jnp.mean(js.si_sdr(clean, s_hat))


def make_mixtures(key: jax.Array, clean_raw: jax.Array, noise_raw: jax.Array, cfg: TrainConfig):
    """The on-device data pipeline: crops, optional augmentation, mixing at a random SNR, clipping guard.

    Returns ``(clean, scaled_noise, mixture)``, each ``(batch, cfg.segment)``.
    """
    k_c, k_n, k_m = jax.random.split(key, 3)
    clean = js.fit_length(k_c, clean_raw, cfg.segment)
    noise = js.fit_length(k_n, noise_raw, cfg.segment)
    if cfg.augment:
        from . import augment

        k_g, k_e = jax.random.split(jax.random.fold_in(key, 1))
        clean = augment.random_gain(k_g, clean, min_db=-6.0, max_db=6.0)
        N = augment.random_eq(k_e, js.stft(noise, n_fft=cfg.n_fft, hop_length=cfg.hop_length), max_db=6.0)
        noise = js.istft(N, n_fft=cfg.n_fft, hop_length=cfg.hop_length, length=cfg.segment)
    mixture, noise, _ = js.random_mix(k_m, clean, noise, js.Uniform(cfg.snr_low, cfg.snr_high))
    mixture, gain = js.prevent_clipping(mixture)
    gain = jnp.reshape(gain, gain.shape + (1,) * (mixture.ndim - jnp.ndim(gain)))
    return clean * gain, noise * gain, mixture


def make_optimizer(model, cfg: TrainConfig) -> nnx.Optimizer:
    """AdamW with linear warm-up and cosine decay, after global-norm gradient clipping."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=cfg.lr, warmup_steps=min(cfg.warmup_steps, max(cfg.steps - 1, 0)),
        decay_steps=max(cfg.steps, cfg.warmup_steps + 1), end_value=cfg.lr * cfg.final_lr_ratio)
    tx = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), optax.adamw(schedule, weight_decay=cfg.weight_decay))
    return nnx.Optimizer(model, tx, wrt=nnx.Param)


@functools.lru_cache(maxsize=8)
def make_train_step(cfg: TrainConfig) -> Callable:
    """``train_step(model, optimizer, clean_raw, noise_raw, key) -> {"loss", "grad_norm"}``, one ``nnx.jit``.

    ``clean_raw`` ``(batch, L_c)`` and ``noise_raw`` ``(batch, L_n)`` are raw rows at least
    ``cfg.segment`` long (shorter ones are looped by ``fit_length``); the model and optimiser are
    updated in place. Cached per config, so runs with one config compile the step once.
    """

    @nnx.jit
    def train_step(model, optimizer, clean_raw, noise_raw, key):
        clean, noise, mixture = make_mixtures(key, clean_raw, noise_raw, cfg)
        loss, grads = nnx.value_and_grad(loss_from_waves)(model, clean, noise, mixture, cfg)
        optimizer.update(model, grads)
        return {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    return train_step


# ----------------------------------------------------------------------------- sharding

def make_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D ``Mesh`` over ``devices`` (default: all, across hosts) with axis ``"batch"``."""
    devices = jax.devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), ("batch",))


def replicate(tree, mesh: jax.sharding.Mesh):
    """Place every array of an NNX graph (model, optimiser) replicated on ``mesh``, in place."""
    state = nnx.state(tree)
    state = jax.device_put(state, NamedSharding(mesh, P()))
    nnx.update(tree, state)
    return tree


def shard_batch(x: np.ndarray, mesh: jax.sharding.Mesh) -> jax.Array:
    """This process's rows of a batch as one global array sharded over ``"batch"``."""
    return jax.make_array_from_process_local_data(NamedSharding(mesh, P("batch")), np.asarray(x))


# ----------------------------------------------------------------------------- checkpoints

def _ckpt_dir(workdir: str) -> str:
    return os.path.join(workdir, "checkpoint")


def save_checkpoint(workdir: str, model, optimizer, cfg: TrainConfig, step: int) -> str:
    """Write ``workdir/checkpoint/{state.msgpack, config.json, meta.json}`` atomically."""
    d = _ckpt_dir(workdir)
    os.makedirs(d, exist_ok=True)
    state = {"model": nnx.to_pure_dict(nnx.state(model)),
             "optimizer": nnx.to_pure_dict(nnx.state(optimizer)) if optimizer is not None else {}}
    state = jax.tree.map(np.asarray, state)
    blob = serialization.msgpack_serialize(state)
    tmp = os.path.join(d, "state.msgpack.tmp")
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, os.path.join(d, "state.msgpack"))
    cfg.to_json(os.path.join(d, "config.json"))
    with open(os.path.join(d, "meta.json.tmp"), "w") as f:
        json.dump({"step": int(step), "jaxspec": js.__version__}, f)
    os.replace(os.path.join(d, "meta.json.tmp"), os.path.join(d, "meta.json"))
    return d


def _resolve_ckpt(path: str) -> str:
    for d in (path, _ckpt_dir(path)):
        if os.path.isfile(os.path.join(d, "state.msgpack")) and os.path.isfile(os.path.join(d, "config.json")):
            return d
    raise FileNotFoundError(
        f"no checkpoint at {path!r} (expected state.msgpack and config.json there or in {path!r}/checkpoint); "
        "train one first with `jaxspec demo` or `jaxspec train --workdir DIR`")


def load_checkpoint(path: str, *, with_optimizer: bool = False):
    """Load a checkpoint directory (or a workdir containing ``checkpoint/``).

    Returns ``(model, cfg, step)``, or ``(model, optimizer, cfg, step)`` with ``with_optimizer``.
    """
    d = _resolve_ckpt(path)
    cfg = TrainConfig.from_json(os.path.join(d, "config.json"))
    with open(os.path.join(d, "meta.json")) as f:
        step = int(json.load(f)["step"])
    with open(os.path.join(d, "state.msgpack"), "rb") as f:
        blob = serialization.msgpack_restore(f.read())
    model = make_model(cfg, rngs=nnx.Rngs(0))
    _restore(model, blob["model"])
    if not with_optimizer:
        return model, cfg, step
    optimizer = make_optimizer(model, cfg)
    _restore(optimizer, blob["optimizer"])
    return model, optimizer, cfg, step


def _restore(tree, pure: dict) -> None:
    state = nnx.state(tree)
    template = nnx.to_pure_dict(state)

    def fix_keys(tmpl, src):  # msgpack turns int keys (list indices) into strings
        if isinstance(tmpl, dict):
            return {k: fix_keys(v, src[str(k)] if str(k) in src else src[k]) for k, v in tmpl.items()}
        return jnp.asarray(src, dtype=jnp.asarray(tmpl).dtype) if hasattr(tmpl, "dtype") else src

    nnx.replace_by_pure_dict(state, fix_keys(template, pure))
    nnx.update(tree, state)


# ----------------------------------------------------------------------------- the loop

class _Progress:
    def __init__(self, total: int, start: int, every: int, stream=None):
        self.total, self.every, self.stream = total, every, stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0, self.s0 = time.perf_counter(), start

    def __call__(self, step: int, loss: float, final: bool = False) -> str:
        done = step - self.s0
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        width = 24
        fill = int(width * step / self.total)
        line = (f"[{'#' * fill}{'.' * (width - fill)}] step {step}/{self.total}  loss {loss:.4f}  "
                f"{rate:.2f} steps/s  eta {eta:4.0f} s")
        if self.tty:
            print("\r" + line, end="\n" if final else "", file=self.stream, flush=True)
        elif final or step % self.every == 0:
            print(line, file=self.stream, flush=True)
        return line


def run(cfg: TrainConfig, workdir: str, *, resume: bool = True, until: int | None = None,
        log: Callable[[str], None] = print, progress_stream=None) -> dict:
    """Train ``cfg`` in ``workdir`` (created if needed), resuming from its checkpoint when present.

    Args:
      cfg: the run's configuration.
      workdir: directory for ``checkpoint/`` and ``train_log.json``.
      resume: continue from ``workdir/checkpoint`` if it exists (its config must match ``cfg``).
      until: stop (with a checkpoint) after this step instead of ``cfg.steps``; the schedule is
        still that of ``cfg.steps``, so a run resumed later continues exactly where it stopped.
      log: where status lines go.
      progress_stream: where the progress bar goes (default stdout).

    Returns:
      ``{"model", "cfg", "step", "losses", "steps_per_s", "seconds"}``.

    Raises:
      NonFiniteLoss: the loss became NaN/inf; the last good checkpoint is kept.
    """
    os.makedirs(workdir, exist_ok=True)
    mesh = make_mesh()
    n_dev = mesh.devices.size
    if cfg.batch_size % n_dev:
        raise ValueError(f"run: batch_size ({cfg.batch_size}) must be a multiple of the device count ({n_dev})")
    start = 0
    if resume and os.path.isfile(os.path.join(_ckpt_dir(workdir), "state.msgpack")):
        model, optimizer, saved_cfg, start = load_checkpoint(workdir, with_optimizer=True)
        if saved_cfg != cfg:
            raise ValueError(f"run: {workdir!r} holds a checkpoint of a different config; "
                             "use another --workdir or pass resume=False")
        log(f"resuming from step {start} in {workdir}")
    else:
        model = make_model(cfg, rngs=nnx.Rngs(cfg.seed))
        optimizer = make_optimizer(model, cfg)
    replicate(model, mesh)
    replicate(optimizer, mesh)

    speech = load_corpus("train", sr=cfg.sr)
    clean_bank = clip_bank(speech)
    base_key = jax.random.key(cfg.seed)
    noise_bank = make_noise_bank(cfg, speech, key=jax.random.fold_in(base_key, 1 << 20))
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    log(f"training {cfg.model} ({n_params / 1e6:.2f} M params, target {cfg.target}, loss {cfg.loss}) on "
        f"{len(speech)} clips, {len(noise_bank)} noises ({'/'.join(cfg.noise_kinds) if not cfg.noise_dir else cfg.noise_dir}), "
        f"batch {cfg.batch_size} x {cfg.segment / cfg.sr:.2f} s on {n_dev} {jax.devices()[0].platform} device(s)")

    step_fn = make_train_step(cfg)
    stop = cfg.steps if until is None else min(int(until), cfg.steps)
    progress = _Progress(cfg.steps, start, cfg.log_every, progress_stream)
    losses: list[tuple[int, float]] = []
    t_start = time.perf_counter()
    t_after_first = None
    pending = []
    step = start
    with jax.sharding.use_mesh(mesh) if hasattr(jax.sharding, "use_mesh") else _null():
        while step < stop:
            c, n = host_batch(cfg, step, clean_bank, noise_bank)
            metrics = step_fn(model, optimizer, shard_batch(c, mesh), shard_batch(n, mesh),
                              jax.random.fold_in(base_key, step))
            step += 1
            pending.append((step, metrics["loss"]))
            if step == start + 1:
                float(metrics["loss"])
                t_after_first = time.perf_counter()
            last = step == stop
            if step % cfg.log_every == 0 or last or step % cfg.checkpoint_every == 0:
                vals = [(s, float(l)) for s, l in pending]
                pending = []
                bad = [s for s, v in vals if not math.isfinite(v)]
                if bad:
                    raise NonFiniteLoss(
                        f"training stopped: loss became {vals[-1][1] if not math.isfinite(vals[-1][1]) else 'non-finite'} "
                        f"at step {bad[0]}; the last good checkpoint is kept in {_ckpt_dir(workdir)} "
                        "(try a lower lr or clip_norm)")
                losses.extend(vals)
                progress(step, vals[-1][1], final=last)
                if step % cfg.checkpoint_every == 0 or last:
                    save_checkpoint(workdir, model, optimizer, cfg, step)
    seconds = time.perf_counter() - t_start
    timed = step - start - 1
    sps = timed / (time.perf_counter() - t_after_first) if t_after_first and timed > 0 else float("nan")
    with open(os.path.join(workdir, "train_log.json"), "w") as f:
        json.dump({"losses": losses, "steps_per_s": sps, "seconds": seconds, "devices": n_dev}, f)
    return {"model": model, "cfg": cfg, "step": step, "losses": losses, "steps_per_s": sps, "seconds": seconds}


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# ----------------------------------------------------------------------------- evaluation

METHODS = ("noisy", "baseline", "enhanced", "oracle_irm")


def heldout_mixtures(cfg: TrainConfig, snr_db: float, *, seed: int = 2024, n_clips: int | None = None):
    """Held-out clips (unseen sentences and voices) mixed with unseen generated noise at ``snr_db``.

    Noise kinds cycle over the clips; babble is made from the held-out speech itself (other
    sentences), so no training audio leaks into the test. Everything is padded to one length (a
    multiple of the hop) so the whole set is one batch.

    Returns ``(clean, noise, mixture, lengths)``: three ``(n_clips, L)`` float32 arrays (zero past
    each clip's length) and the ``(n_clips,)`` lengths.
    """
    clips = load_corpus("heldout", sr=cfg.sr)[:n_clips]
    lengths = np.asarray([len(c) for c in clips])
    L = int(-(-lengths.max() // cfg.hop_length) * cfg.hop_length)
    noise_cfg = cfg.replace(noise_seconds=L / cfg.sr)
    bank = make_noise_bank(noise_cfg, load_corpus("heldout", sr=cfg.sr), key=jax.random.key(seed), n=len(clips))
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
    from .models.classical import spectral_gate
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
