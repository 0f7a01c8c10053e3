"""The one configuration object of the training example, saved as JSON beside every checkpoint.

``TrainConfig()`` is the demo's default (sized so that ``jaxspec demo`` trains in a few minutes on
a 2-core CPU); ``TrainConfig.from_json(path)`` / ``cfg.to_json(path)`` round-trip it, and
``cfg.replace(steps=...)`` makes a variant. Unknown keys in a JSON file are an error (a typo
should not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

TARGETS = ("irm", "psm", "ibm", "cirm")
LOSSES = ("mask", "sa", "sisdr")
MODELS = ("dnn",)
FEATURE_NORMS = ("utterance", "frequency")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (and hence a checkpoint).

    Data: ``sr`` Hz, crops of ``segment_seconds`` from the training speech, noise drawn from a bank
    of ``noise_clips`` generated clips of ``noise_seconds`` (kinds ``noise_kinds``) or from the
    files in ``noise_dir``; one SNR per example from Uniform(``snr_low``, ``snr_high``) dB. With
    ``augment``, speech gets a random gain (±6 dB) and noise a random smooth EQ (±6 dB) on the
    device before mixing (``jaxspec.augment``).
    Front end: ``stft(n_fft, hop_length)``; features: log power, normalised per utterance
    (``feature_norm="utterance"``: one mean and variance per utterance, which keeps the spectral
    shape; ``"frequency"``: per-frequency CMVN), spliced with ``context`` frames on each side. Model: ``model`` (``"dnn"``: ``layers`` dense
    layers of ``hidden`` units). Target ``target`` (irm/psm/ibm/cirm) and loss ``loss`` (``"mask"``:
    MSE to the target mask; ``"sa"``: signal approximation, MSE between masked and clean
    compressed magnitudes (complex STFTs for cirm); ``"sisdr"``: negative SI-SDR of the iSTFT).
    Optimiser: AdamW with ``lr`` peak, linear warm-up over ``warmup_steps`` then cosine decay to
    ``lr * final_lr_ratio`` at ``steps``; weight decay ``weight_decay``; global-norm clipping at
    ``clip_norm``.
    """

    seed: int = 0
    steps: int = 1500
    batch_size: int = 16
    sr: int = 16000
    segment_seconds: float = 1.0
    n_fft: int = 512
    hop_length: int = 128
    context: int = 2
    feature_norm: str = "utterance"
    model: str = "dnn"
    hidden: int = 256
    layers: int = 3
    target: str = "irm"
    loss: str = "sa"
    snr_low: float = -5.0
    snr_high: float = 15.0
    lr: float = 2e-3
    warmup_steps: int = 100
    final_lr_ratio: float = 0.02
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    noise_kinds: tuple = ("white", "pink", "brown", "hum", "clatter", "babble")
    noise_clips: int = 96
    noise_seconds: float = 4.0
    noise_dir: str | None = None
    augment: bool = False
    log_every: int = 50
    checkpoint_every: int = 500

    def __post_init__(self):
        def bad(name, what):
            raise ValueError(f"TrainConfig: {name} must be {what}, got {getattr(self, name)!r}")

        for name in ("steps", "batch_size", "sr", "n_fft", "hop_length", "hidden", "layers", "noise_clips",
                     "log_every", "checkpoint_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(name, "a positive int")
        for name in ("context", "warmup_steps", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(name, "an int >= 0")
        for name in ("segment_seconds", "noise_seconds", "lr", "clip_norm"):
            if not getattr(self, name) > 0:
                bad(name, "> 0")
        if not isinstance(self.augment, bool):
            bad("augment", "True or False")
        if self.target not in TARGETS:
            bad("target", f"one of {TARGETS}")
        if self.loss not in LOSSES:
            bad("loss", f"one of {LOSSES}")
        if self.feature_norm not in FEATURE_NORMS:
            bad("feature_norm", f"one of {FEATURE_NORMS}")
        if self.model not in MODELS:
            bad("model", f"one of {MODELS}")
        if not self.snr_low <= self.snr_high:
            bad("snr_high", f">= snr_low ({self.snr_low})")
        if self.hop_length > self.n_fft:
            bad("hop_length", f"<= n_fft ({self.n_fft})")
        object.__setattr__(self, "noise_kinds", tuple(self.noise_kinds))

    @property
    def segment(self) -> int:
        """Samples per training crop, rounded to a whole number of hops."""
        return max(1, round(self.segment_seconds * self.sr / self.hop_length)) * self.hop_length

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["noise_kinds"] = list(self.noise_kinds)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown key(s) {unknown}; known: {sorted(names)}")
        return cls(**d)

    def to_json(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def from_json(cls, path: str) -> "TrainConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
