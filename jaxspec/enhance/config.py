"""The one configuration object of the enhancement example, saved as JSON inside every checkpoint.

``TrainConfig()`` is the demo's default (sized so that ``jaxspec demo`` trains in a few minutes on
a 2-core CPU); ``TrainConfig.from_json(path)`` / ``cfg.to_json(path)`` round-trip it, and
``cfg.replace(steps=...)`` makes a variant. Every value is checked when the object is made: a
typo, a string where a number goes, an infinite learning rate or an STFT that ``enhance`` could
not invert is a ``ValueError``/``TypeError`` naming the field, never a run that trains garbage.
Unknown keys in a JSON file are an error (a typo should not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from typing import Any

from .noise import KINDS as NOISE_KINDS  # every kind the generated noise bank knows
from .noise import TRAIN_KINDS  # the default training families (the others are held out for evaluation)

TARGETS = ("irm", "psm", "ibm", "cirm")
LOSSES = ("mask", "sa", "sisdr")
MODELS = ("dnn", "gru", "unet", "band")
TASKS = ("denoise", "dereverb", "denoise+dereverb")
FEATURE_NORMS = ("utterance", "frequency", "fixed", "running")
CORPORA = ("synthetic", "real")
SNR_RANGE = (-50.0, 60.0)  # dB: beyond this a mixture is all noise or all speech in float32
MAX_LR = 1.0
# fields that change how a run is carried out but not what it computes: a resumed run may change them
RUN_ONLY = ("workers", "threads", "log_every", "checkpoint_every", "keep_checkpoints", "max_bad_steps")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (and hence a checkpoint).

    Data: speech from ``speech`` and noise from ``noise`` (each a directory searched recursively
    for .wav/.flac/.ogg, or a text file listing paths; ``None``: the training split of the shipped
    corpus ``corpus`` (``"synthetic"``: the espeak-ng/flite/festival corpus, whose babble is made
    of the training voices; ``"real"``: the recorded human speakers of ``data/real``, whose babble
    comes from its disjoint babble pool, and whose telephone-band recordings get noise limited to
    the same band), and noise generated from a key with the kinds ``noise_kinds``: a bank of
    ``noise_clips`` clips of ``noise_seconds`` made once and cropped, or with ``fresh_noise`` new
    noise drawn inside every training step, each row of a kind at random), optionally room
    impulse responses from ``rir`` (files, at most ``rir_seconds`` of each is used). Every example is a random crop of ``segment_seconds`` at
    ``sr`` Hz, or, with ``pause_range`` ``[low, high]`` seconds, whole utterances one after another
    with pauses uniform in that range between them, after a leading noise-only stretch (what a
    model must see to track the noise floor), read lazily from its file (see :mod:`jaxspec.enhance.input_pipeline`) by ``threads``
    threads in ``workers`` worker processes (0: in the training process). ``skip_bad_files`` skips
    unreadable, empty or non-finite files (counted in the log) instead of stopping with an error.
    On the device: one SNR per example from Uniform(``snr_low``, ``snr_high``) dB; with ``rir``
    the speech is reverberated and the target is its early part (``jaxspec.early_rir``); with
    ``augment`` speech gets a random gain that drifts within ±6 dB over the segment and noise a
    random smooth EQ (±6 dB); ``clean_share`` of the examples get no noise at all; with
    ``speaker_augment`` the clean speech gets speed perturbation, pitch shifts and a random EQ
    (:func:`~jaxspec.enhance.train.augment_speaker`); with ``reverb_prob`` > 0 that share of the
    examples is reverberated by a synthetic room (the target is then the reverberant speech:
    the model learns to keep rooms, not to remove them); with ``level_range`` ``[low, high]`` the
    mixture (and target) is scaled to an RMS level uniform in that range, in dBFS.
    Task ``task``: ``"denoise"``; ``"dereverb"``: the speech is reverberated by a synthetic RIR
    drawn on the device per example (RT60 Uniform(``rt60_low``, ``rt60_high``) s, direct-to-
    reverberant ratio Uniform(``drr_low``, ``drr_high``) dB; or an RIR from ``rir``) and the target
    is its direct path plus early reflections, with no noise; ``"denoise+dereverb"``: both, noise
    added to the reverberant speech. ``pairs``: train from a directory of precomputed spectrogram
    pairs (:mod:`jaxspec.enhance.pairs`) instead of audio sources.
    Validation (``valid_speech`` and ``valid_noise``, both or neither): ``valid_clips`` fixed
    mixtures, SI-SDR logged every ``log_every`` steps.
    Front end: ``stft(n_fft, hop_length)`` with a Hann window; features: log power normalised per
    utterance (``feature_norm="utterance"``), per frequency over the utterance (``"frequency"``),
    or with fixed statistics measured on training mixtures before the first step and stored with
    the model (``"fixed"``: a frame's features then depend on that frame alone, not on the file's
    length or silence), or, for the band model only and required by it, the model's own causal
    running normalisation (``"running"``: a frame's features depend on the past only and not on
    the input's level); spliced with ``context`` frames on each side for the DNN, ``context`` past
    frames for the GRU (the U-Net takes no splicing). Model ``model`` (``"dnn"``: ``layers`` dense
    layers of ``hidden`` units; ``"gru"``: a causal GRU of ``layers`` layers of ``hidden`` units;
    ``"unet"``: a 2-D U-Net with ``unet_channels``; ``"band"``: the causal ERB-band / deep-filter
    model :class:`~jaxspec.enhance.models.BandDeepFilter` with ``layers`` grouped GRU layers of
    ``hidden`` units, which takes the STFT itself and returns the enhanced STFT: it needs
    ``feature_norm="running"`` and a loss on the estimate, ``"sa"`` (compressed magnitude and
    compressed complex terms, ``over_suppression`` times a penalty on the compressed magnitude
    the estimate lacks (speech removed), plus ``stoi_weight`` times ``1 - STOI`` of the waveforms) or
    ``"sisdr"``; its ``target`` is not used). Target ``target`` (irm/psm/ibm/cirm), loss ``loss`` (``"mask"``: MSE to the
    target mask; ``"sa"``: signal approximation on compressed magnitudes; ``"sisdr"``: negative
    SI-SDR of the iSTFT).
    Optimiser: AdamW, peak ``lr`` after a linear warm-up of ``warmup_steps``, cosine decay to
    ``lr * final_lr_ratio`` at ``steps``, weight decay ``weight_decay``, global-norm clipping at
    ``clip_norm``. A step whose loss, gradient or updated parameters are not finite is skipped
    (parameters and optimiser state unchanged) and logged; more than ``max_bad_steps`` skipped
    steps in a row stop the run with an error, keeping the last finite checkpoint.
    Checkpoints every ``checkpoint_every`` steps and at the end, the last ``keep_checkpoints`` kept.
    """

    seed: int = 0
    task: str = "denoise"
    steps: int = 1500
    batch_size: int = 32
    sr: int = 16000
    segment_seconds: float = 1.0
    n_fft: int = 512
    hop_length: int = 256
    context: int = 0
    feature_norm: str = "fixed"
    model: str = "gru"
    hidden: int = 256
    layers: int = 2
    unet_channels: tuple = (16, 32, 64)
    target: str = "irm"
    loss: str = "sa"
    stoi_weight: float = 0.0
    over_suppression: float = 1.0
    floor_gate: bool = False
    snr_low: float = -5.0
    snr_high: float = 15.0
    lr: float = 2e-3
    warmup_steps: int = 100
    final_lr_ratio: float = 0.02
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    speech: str | None = None
    corpus: str = "synthetic"
    pause_range: tuple | None = None
    clean_share: float = 0.0
    noise: str | None = None
    rir: str | None = None
    rir_seconds: float = 1.0
    rt60_low: float = 0.2
    rt60_high: float = 1.0
    drr_low: float = -15.0
    drr_high: float = 3.0
    pairs: str | None = None
    valid_speech: str | None = None
    valid_noise: str | None = None
    valid_clips: int = 16
    noise_kinds: tuple = TRAIN_KINDS
    noise_clips: int = 192
    noise_seconds: float = 4.0
    fresh_noise: bool = False
    augment: bool = True
    speaker_augment: bool = True
    reverb_prob: float = 0.2
    level_range: tuple | None = (-45.0, -10.0)
    workers: int = 0
    threads: int = 2
    skip_bad_files: bool = False
    max_bad_steps: int = 20
    log_every: int = 50
    checkpoint_every: int = 500
    keep_checkpoints: int = 3

    def __post_init__(self):
        def bad(name, what, exc=ValueError):
            raise exc(f"TrainConfig: {name} must be {what}, got {getattr(self, name)!r}")

        def integer(name, minimum):
            v = getattr(self, name)
            what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
            if not isinstance(v, numbers.Integral) or isinstance(v, bool):
                bad(name, what, TypeError)
            if v < minimum:
                bad(name, what)
            object.__setattr__(self, name, int(v))

        def real(name, lo=None, hi=None, *, lo_open=False):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or isinstance(v, bool):
                bad(name, "a real number", TypeError)
            v = float(v)
            if not math.isfinite(v):
                bad(name, "finite")
            if lo is not None and (v <= lo if lo_open else v < lo):
                bad(name, f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else ""))
            if hi is not None and v > hi:
                bad(name, f"<= {hi:g}")
            object.__setattr__(self, name, v)

        for name in ("steps", "batch_size", "sr", "n_fft", "hop_length", "hidden", "layers", "noise_clips", "threads",
                     "log_every", "checkpoint_every", "keep_checkpoints", "valid_clips", "max_bad_steps"):
            integer(name, 1)
        for name in ("context", "warmup_steps", "seed", "workers"):
            integer(name, 0)
        real("segment_seconds", 0.0, 60.0, lo_open=True)
        real("noise_seconds", 0.0, 600.0, lo_open=True)
        real("rir_seconds", 0.0, 10.0, lo_open=True)
        real("lr", 0.0, MAX_LR, lo_open=True)
        real("clip_norm", 0.0, lo_open=True)
        real("weight_decay", 0.0, 1.0)
        real("final_lr_ratio", 0.0, 1.0)
        real("rt60_low", 0.05, 3.0)
        real("rt60_high", 0.05, 3.0)
        real("drr_low", -20.0, 40.0)
        real("drr_high", -20.0, 40.0)
        for lo, hi in (("rt60_low", "rt60_high"), ("drr_low", "drr_high")):
            if getattr(self, lo) > getattr(self, hi):
                bad(hi, f">= {lo} ({getattr(self, lo)})")
        real("reverb_prob", 0.0, 1.0)
        real("clean_share", 0.0, 1.0)
        real("stoi_weight", 0.0)
        real("over_suppression", 0.0)
        if self.clean_share >= 1.0:
            bad("clean_share", ">= 0 and < 1 (the share of examples mixed with no noise)")
        pr = self.pause_range
        if pr is not None:
            if isinstance(pr, str) or not isinstance(pr, (list, tuple)):
                bad("pause_range", "null or [low, high] in seconds", TypeError)
            if len(pr) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                                       for v in pr) or not 0.0 <= pr[0] <= pr[1] <= self.segment_seconds:
                bad("pause_range", f"null or [low, high] in seconds with 0 <= low <= high <= segment_seconds "
                                   f"({self.segment_seconds:g})")
            object.__setattr__(self, "pause_range", (float(pr[0]), float(pr[1])))
        lr_ = self.level_range
        if lr_ is not None:
            if isinstance(lr_, str) or not isinstance(lr_, (list, tuple)) or len(lr_) != 2 or not all(
                    isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and -80.0 <= v <= 0.0
                    for v in lr_) or lr_[0] > lr_[1]:
                bad("level_range", "null or [low, high] in dBFS with -80 <= low <= high <= 0", TypeError
                    if isinstance(lr_, str) or not isinstance(lr_, (list, tuple)) else ValueError)
            object.__setattr__(self, "level_range", (float(lr_[0]), float(lr_[1])))
        real("snr_low", *SNR_RANGE)
        real("snr_high", *SNR_RANGE)
        for name in ("augment", "speaker_augment", "skip_bad_files", "fresh_noise", "floor_gate"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "true or false", TypeError)
        for name, allowed in (("target", TARGETS), ("loss", LOSSES), ("feature_norm", FEATURE_NORMS),
                              ("model", MODELS), ("task", TASKS), ("corpus", CORPORA)):
            if getattr(self, name) not in allowed:
                bad(name, f"one of {allowed}")
        if (self.model == "band") != (self.feature_norm == "running"):
            raise ValueError("TrainConfig: model='band' goes with feature_norm='running' (its own causal running "
                             f"normalisation) and only with it, got model={self.model!r}, "
                             f"feature_norm={self.feature_norm!r}")
        if self.model == "band" and self.loss == "mask":
            bad("loss", "'sa' or 'sisdr' for model='band' (it returns the enhanced STFT, not a mask)")
        if self.stoi_weight and not (self.model == "band" and self.loss == "sa"):
            bad("stoi_weight", "0 unless model='band' with loss='sa' (the only loss with a STOI term)")
        if self.floor_gate and self.model != "band":
            bad("floor_gate", "false unless model='band' (the band model's per-bin noise-floor gate)")
        if self.over_suppression != 1.0 and not (self.model == "band" and self.loss == "sa"):
            bad("over_suppression", "1 unless model='band' with loss='sa' (the only loss with that penalty)")
        ch = self.unet_channels
        if isinstance(ch, str) or not isinstance(ch, (list, tuple)) or len(ch) < 2 or not all(
                isinstance(c, numbers.Integral) and not isinstance(c, bool) and 1 <= c <= 1024 for c in ch):
            bad("unet_channels", "a list of >= 2 channel counts in [1, 1024]", TypeError)
        object.__setattr__(self, "unet_channels", tuple(int(c) for c in ch))
        for name in ("speech", "noise", "rir", "valid_speech", "valid_noise", "pairs"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                bad(name, "a path (directory or list file) or null", TypeError)
        if (self.valid_speech is None) != (self.valid_noise is None):
            raise ValueError("TrainConfig: valid_speech and valid_noise go together (give both or neither), got "
                             f"valid_speech={self.valid_speech!r}, valid_noise={self.valid_noise!r}")
        kinds = self.noise_kinds
        if isinstance(kinds, str) or not isinstance(kinds, (list, tuple)) or not kinds:
            bad("noise_kinds", f"a non-empty list of names from {NOISE_KINDS}", TypeError)
        for k in kinds:
            if k not in NOISE_KINDS:
                raise ValueError(f"TrainConfig: noise_kinds has {k!r}; allowed: {NOISE_KINDS}")
        object.__setattr__(self, "noise_kinds", tuple(kinds))
        if self.fresh_noise and (self.noise is not None or self.pairs is not None or self.task == "dereverb"):
            bad("fresh_noise", "false with noise files (noise), precomputed pairs (pairs) or task='dereverb': it "
                "draws generated noise inside every training step")
        if not self.snr_low <= self.snr_high:
            bad("snr_high", f">= snr_low ({self.snr_low})")
        if self.hop_length > self.n_fft:
            bad("hop_length", f"<= n_fft ({self.n_fft})")
        if self.n_fft > 8192:
            bad("n_fft", "<= 8192")
        from .. import windows

        if not windows.check_nola("hann", n_fft=self.n_fft, hop_length=self.hop_length):
            bad("hop_length", f"a hop at which a Hann window of {self.n_fft} samples can be inverted (NOLA)")

    @property
    def segment(self) -> int:
        """Samples per training crop, rounded to a whole number of hops."""
        return max(1, round(self.segment_seconds * self.sr / self.hop_length)) * self.hop_length

    def same_run(self, other: "TrainConfig") -> bool:
        """True when ``other`` trains the same parameters: equal except for :data:`RUN_ONLY` fields
        (workers, logging and checkpoint cadence), which a resumed run may change."""
        keep = {k: getattr(self, k) for k in RUN_ONLY}
        return other.replace(**keep) == self

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["noise_kinds"] = list(self.noise_kinds)
        d["unet_channels"] = list(self.unet_channels)
        d["level_range"] = None if self.level_range is None else list(self.level_range)
        d["pause_range"] = None if self.pause_range is None else list(self.pause_range)
        return d

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "TrainConfig") -> "TrainConfig":
        if not isinstance(d, dict):
            raise TypeError(f"{where}: a config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
        return cls(**d)

    def to_json(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def from_json(cls, path: str) -> "TrainConfig":
        """Read a config file; errors name the file (``OSError`` if unreadable, ``ValueError`` if invalid)."""
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"config {path!r} is not valid JSON: {e}") from None
        except OSError as e:
            raise OSError(f"cannot read config {path!r}: {e.strerror or e}") from None
        try:
            return cls.from_dict(d, where=f"config {path!r}")
        except (TypeError, ValueError) as e:
            msg = str(e)
            if not msg.startswith("config "):
                msg = f"config {path!r}: {msg.removeprefix('TrainConfig: ')}"
            raise type(e)(msg) from None
