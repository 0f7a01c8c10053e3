"""Datasets of spectrogram pairs on disk, for users who precompute their training data.

A dataset is a directory of shards and one header, ``pairs.json``, written last (so a dataset
whose writing was interrupted has none and is refused)::

    pairs.json            format, STFT parameters (sr, n_fft, hop_length, window, center, length),
                          the number of examples, the shards, and the config that made them
    input-00000.npy       (examples, freq, frames, 2) float16: real and imaginary parts of the
    target-00000.npy      mixture's and the target's STFTs, channels-last (what Flax convs take)

Plain ``.npy`` arrays (no pickle; read with ``allow_pickle=False`` and memory-mapped, so a
training step reads only its examples). float16 keeps 11 bits of mantissa: about -66 dB of
relative rounding error on each bin, far below what a model learns from; values are kept within
float16's range (65504) by construction (waveforms within [-1, 1], ``n_fft <= 8192``).
:func:`write` makes a dataset with the same on-device pipeline as training (sources, reverberation,
mixing), :class:`PairSource` reads one, and ``TrainConfig(pairs=DIR)`` trains from it.
"""

from __future__ import annotations

import json
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .config import TrainConfig

FORMAT = "jaxspec-spectrogram-pairs/1"
HEADER = "pairs.json"


def to_channels_last(S: jax.Array) -> jax.Array:
    """Complex ``(..., freq, frames)`` -> real ``(..., freq, frames, 2)`` (real, imaginary)."""
    return jnp.stack([S.real, S.imag], axis=-1)


def from_channels_last(X) -> jax.Array:
    """Real ``(..., freq, frames, 2)`` -> complex64 ``(..., freq, frames)``."""
    X = jnp.asarray(X, jnp.float32)
    return jax.lax.complex(X[..., 0], X[..., 1])


def write(out_dir: str, cfg: TrainConfig, *, examples: int, shard_size: int = 256,
          log: Callable[[str], None] = print) -> dict:
    """Write ``examples`` training pairs made from ``cfg``'s sources and task to ``out_dir``.

    Example ``i`` is row ``i % batch`` of step ``i // batch`` of the training pipeline for
    ``cfg.seed`` (the same crops, RIRs, SNRs a run with this config would draw).

    Returns:
      The header (also written to ``out_dir/pairs.json``).

    Raises:
      ValueError: bad ``examples``/``shard_size``, or ``out_dir`` already holds a dataset.
    """
    from . import input_pipeline as ip
    from . import train

    if not isinstance(examples, int) or examples < 1:
        raise ValueError(f"pairs.write: examples must be a positive int, got {examples!r}")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"pairs.write: shard_size must be a positive int, got {shard_size!r}")
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(os.path.join(out_dir, HEADER)):
        raise ValueError(f"pairs.write: {out_dir!r} already holds a dataset ({HEADER}); use another directory")
    speech, noise, rirs = train.build_sources(cfg, log=log)
    batches = ip.StepBatches(seed=cfg.seed, segment=cfg.segment, rows=range(cfg.batch_size), speech=speech,
                             noise=None if isinstance(noise, train.FreshNoise) else noise, rirs=rirs,
                             pause_range=cfg.pause_range)
    stft = lambda x: js_stft(x, cfg)  # noqa: E731

    @jax.jit
    def make(key, clean, noise_raw, rir, band, babble):
        target, _, mixture = train.make_mixtures(key, clean, noise_raw, cfg, rir, band=band, babble=babble)
        return (to_channels_last(stft(mixture)).astype(jnp.float16),
                to_channels_last(stft(target)).astype(jnp.float16))

    base = jax.random.key(cfg.seed)
    shards, done, step = [], 0, 0
    inputs, targets = [], []
    while done < examples:
        b = batches(step)
        n, band, babble = train.step_noise(b, noise)
        x, y = make(jax.random.fold_in(base, step), jnp.asarray(b["clean"]), None if n is None else jnp.asarray(n),
                    None if "rir" not in b else jnp.asarray(b["rir"]), None if band is None else jnp.asarray(band),
                    None if babble is None else jnp.asarray(babble))
        take = min(cfg.batch_size, examples - done)
        inputs.append(np.asarray(x[:take]))
        targets.append(np.asarray(y[:take]))
        done += take
        step += 1
        if sum(len(a) for a in inputs) >= shard_size or done == examples:
            k = len(shards)
            X, Y = np.concatenate(inputs), np.concatenate(targets)
            names = {"input": f"input-{k:05d}.npy", "target": f"target-{k:05d}.npy"}
            for key, arr in (("input", X), ("target", Y)):
                tmp = os.path.join(out_dir, names[key] + ".tmp.npy")
                np.save(tmp, arr, allow_pickle=False)
                os.replace(tmp, os.path.join(out_dir, names[key]))
            shards.append({**names, "count": int(len(X))})
            inputs, targets = [], []
            log(f"wrote shard {k}: {len(X)} pairs ({done}/{examples})")
    header = {"format": FORMAT, "sr": cfg.sr, "n_fft": cfg.n_fft, "hop_length": cfg.hop_length, "window": "hann",
              "center": True, "length": cfg.segment, "examples": done, "dtype": "float16",
              "layout": "(examples, freq, frames, 2): real, imaginary", "shards": shards, "config": cfg.to_dict()}
    tmp = os.path.join(out_dir, HEADER + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(header, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, HEADER))
    return header


def js_stft(x, cfg: TrainConfig):
    import jaxspec as js

    return js.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length)


class PairSource:
    """A pair dataset on disk, memory-mapped: ``len(src)``, ``src[i] -> (input, target)``.

    Raises (at construction):
      FileNotFoundError / ValueError naming the path: no header, a bad header, or shards whose
      shape or dtype disagree with it.
    """

    def __init__(self, path: str):
        hp = os.path.join(path, HEADER)
        try:
            with open(hp, encoding="utf-8") as f:
                h = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"pairs {path!r}: no {HEADER} (not a pair dataset, or its writing did not "
                                    "finish)") from None
        except (OSError, ValueError) as e:
            raise ValueError(f"pairs {hp!r}: unreadable header ({e})") from None
        if not isinstance(h, dict) or h.get("format") != FORMAT:
            raise ValueError(f"pairs {hp!r}: format must be {FORMAT!r}, got {h.get('format') if isinstance(h, dict) else h!r}")
        for k in ("sr", "n_fft", "hop_length", "length", "examples"):
            if not isinstance(h.get(k), int) or isinstance(h.get(k), bool) or h[k] < 1:
                raise ValueError(f"pairs {hp!r}: {k} must be a positive int, got {h.get(k)!r}")
        freq = h["n_fft"] // 2 + 1
        frames = 1 + h["length"] // h["hop_length"]
        self.header, self.path = h, path
        self.inputs, self.targets, total = [], [], 0
        for s in h.get("shards") or []:
            pair = []
            for key in ("input", "target"):
                name = s.get(key)
                if not isinstance(name, str) or os.path.basename(name) != name:
                    raise ValueError(f"pairs {hp!r}: bad shard name {name!r}")
                try:
                    a = np.load(os.path.join(path, name), mmap_mode="r", allow_pickle=False)
                except (OSError, ValueError) as e:
                    raise ValueError(f"pairs {os.path.join(path, name)!r}: unreadable shard ({e})") from None
                if a.dtype != np.float16 or a.shape != (s.get("count"), freq, frames, 2):
                    raise ValueError(f"pairs {os.path.join(path, name)!r}: shape {a.shape} {a.dtype}, the header "
                                     f"says ({s.get('count')}, {freq}, {frames}, 2) float16")
                pair.append(a)
            self.inputs.append(pair[0])
            self.targets.append(pair[1])
            total += pair[0].shape[0]
        if total != h["examples"] or total == 0:
            raise ValueError(f"pairs {hp!r}: the shards hold {total} examples, the header says {h['examples']}")
        self._starts = np.cumsum([0] + [a.shape[0] for a in self.inputs])

    def check(self, cfg: TrainConfig) -> None:
        """Raise ValueError unless the dataset's STFT parameters are the config's."""
        h = self.header
        want = {"sr": cfg.sr, "n_fft": cfg.n_fft, "hop_length": cfg.hop_length, "length": cfg.segment}
        bad = {k: (h[k], v) for k, v in want.items() if h[k] != v}
        if bad:
            raise ValueError(f"pairs {self.path!r} was made with " + ", ".join(f"{k}={a}" for k, (a, _) in bad.items())
                             + "; the config has " + ", ".join(f"{k}={b}" for k, (_, b) in bad.items()))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s = int(np.searchsorted(self._starts, i, side="right")) - 1
        j = i - int(self._starts[s])
        return np.asarray(self.inputs[s][j]), np.asarray(self.targets[s][j])


class PairBatches:
    """``step -> {"input", "target"}``: this process's rows of one step, from a shuffled epoch order
    (a permutation per epoch drawn from ``(seed, epoch)``)."""

    def __init__(self, source: PairSource, *, seed: int, batch_size: int, rows: range):
        self.source, self.seed, self.batch_size, self.rows = source, int(seed), int(batch_size), rows

    def __call__(self, step: int) -> dict:
        n = len(self.source)
        xs, ys = [], []
        for r in self.rows:
            g = int(step) * self.batch_size + r
            perm = np.random.default_rng([self.seed, g // n]).permutation(n)
            x, y = self.source[int(perm[g % n])]
            xs.append(x)
            ys.append(y)
        return {"input": np.stack(xs), "target": np.stack(ys)}
