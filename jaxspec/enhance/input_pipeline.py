"""The host side of training: audio file sources, lazy random crops, and a grain pipeline of batches.

A *source* is a directory (searched recursively for ``.wav``/``.flac``/``.ogg``) or a text file
listing one audio path per line (relative paths are relative to the list file; blank lines and
lines starting with ``#`` are ignored). :func:`scan` indexes it from the file headers only
(frames, rate, channels), so a corpus of thousands of long files costs nothing to open. Each
training example then reads just its crop (``soundfile.read(start=, frames=)``), down-mixes it to
mono, resamples it to the training rate with :func:`scipy.signal.resample_poly` when the file's
rate differs, and checks that it is finite.

:func:`make_dataset` is a ``grain`` pipeline over *steps*: element ``i`` is the batch of step
``i`` for this process, whose rows are ``rows_for_process`` of the global batch, and row ``r`` of
step ``i`` is drawn by ``numpy.random.default_rng([seed, i, r])`` alone. So the data order is the
same for any number of worker processes or hosts, a resumed run sees exactly the batches an
uninterrupted one would, and the iterator's state (saved in each checkpoint) is just the next step:
resuming builds the dataset from that step.

Bad files: one that cannot be read, is empty, is a truncated WAV, or holds NaN/inf raises
:class:`BadAudioFile` naming it; with ``skip_bad=True`` it is left out (at scan time) or replaced
by another file of the source (at read time), and counted in ``Corpus.skipped``.

Nothing here touches JAX: mixing, augmentation and features happen on the device.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import warnings
from typing import Callable, Sequence

import numpy as np
import soundfile as sf

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
DATA_DIR = os.path.join(os.path.dirname(__file__), "data", "speech")
REAL_DIR = os.path.join(os.path.dirname(__file__), "data", "real")
REAL_SPLITS = ("train", "unseen", "babble")


class BadAudioFile(OSError):
    """An audio file that cannot be used for training (unreadable, empty, truncated or non-finite)."""


@dataclasses.dataclass(frozen=True)
class AudioFile:
    """One indexed file: its path and what its header says."""

    path: str
    frames: int
    sr: int
    channels: int


def list_audio(source: str, *, what: str = "source") -> list[str]:
    """The audio paths of a source: a directory (recursive, sorted) or a text file of paths.

    Raises:
      FileNotFoundError: ``source`` does not exist.
      ValueError: it holds no audio file.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{what}: expected a directory or a list file, got {source!r}")
    source = os.fspath(source)
    if os.path.isdir(source):
        paths = []
        for root, dirs, files in os.walk(source):
            dirs.sort()
            paths += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(AUDIO_EXTENSIONS)]
    elif os.path.isfile(source):
        base = os.path.dirname(os.path.abspath(source))
        paths = []
        try:
            with open(source, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise OSError(f"{what} {source!r}: cannot read the list file ({e})") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                paths.append(line if os.path.isabs(line) else os.path.join(base, line))
    else:
        raise FileNotFoundError(f"{what} {source!r}: no such directory or list file")
    if not paths:
        raise ValueError(f"{what} {source!r} has no audio files ({'/'.join(AUDIO_EXTENSIONS)})")
    return paths


def _check_header(path: str) -> AudioFile:
    from ..io import _wav_truncation

    if not os.path.isfile(path):
        raise BadAudioFile(f"{path}: no such file (or not a regular file)")
    try:
        info = sf.info(path)
    except Exception as e:  # soundfile raises its own LibsndfileError / RuntimeError types
        raise BadAudioFile(f"{path}: not readable audio ({e})") from None
    if info.frames < 1:
        raise BadAudioFile(f"{path}: the file holds no samples")
    msg = _wav_truncation(path)
    if msg:
        raise BadAudioFile(f"{path}: {msg}")
    return AudioFile(path, int(info.frames), int(info.samplerate), int(info.channels))


def scan(paths: Sequence[str], *, skip_bad: bool = False, what: str = "source",
         log: Callable[[str], None] = print) -> tuple[list[AudioFile], list[tuple[str, str]]]:
    """Index files from their headers.

    Returns:
      ``(files, skipped)``: the usable files and ``(path, reason)`` of those left out.

    Raises:
      BadAudioFile: a bad file and not ``skip_bad``.
      ValueError: nothing usable is left.
    """
    files, skipped = [], []
    for p in paths:
        try:
            files.append(_check_header(p))
        except BadAudioFile as e:
            if not skip_bad:
                raise BadAudioFile(f"{what}: {e}; fix or remove it, or skip bad files (--skip-bad-files)") from None
            skipped.append((p, str(e)))
    if skipped:
        log(f"{what}: skipped {len(skipped)} bad file(s) of {len(paths)}, e.g. {skipped[0][1]}")
    if not files:
        raise ValueError(f"{what}: none of its {len(paths)} file(s) is usable audio")
    return files, skipped


@functools.lru_cache(maxsize=32)
def _resampling_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing filter ``scipy.signal.resample_poly`` designs by default (Kaiser window,
    beta 5, 10 zero crossings per side), made once per rate pair instead of on every crop."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    return firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(sr_in, sr_out)
    up, down = sr_out // g, sr_in // g
    return resample_poly(x, up, down, window=_resampling_filter(up, down)).astype(np.float32)


def _downmix(x: np.ndarray) -> np.ndarray:
    """``(frames, channels)`` -> ``(frames,)`` channel average (a matrix-vector product: a mean over
    a 2-wide axis is several times slower)."""
    if x.shape[1] == 1:
        return x[:, 0]
    return x @ np.full(x.shape[1], 1.0 / x.shape[1], x.dtype)


def _loop(x: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    reps = -(-(n + offset) // len(x))
    return np.tile(x, reps)[offset:offset + n]


BAND_EDGE_HZ = 400.0  # width of band_limit's raised-cosine edge (the trainer's on-device copy uses it too)


def band_limit(x: np.ndarray, sr: int, band_hz: float, *, transition_hz: float = BAND_EDGE_HZ) -> np.ndarray:
    """``x`` low-passed to ``band_hz`` (a raised-cosine edge ``transition_hz`` wide above it), by
    one real FFT; unchanged when the band reaches Nyquist."""
    if band_hz + transition_hz >= sr / 2:
        return x
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    t = np.clip((f - band_hz) / transition_hz, 0.0, 1.0)
    return np.fft.irfft(np.fft.rfft(x) * (0.5 + 0.5 * np.cos(np.pi * t)), n=len(x)).astype(np.float32)


class Corpus:
    """A source's files, read lazily: random crops of a fixed length at a fixed rate.

    Files are drawn with probability proportional to their duration (every second of audio is
    equally likely); a file shorter than the crop is looped from a random offset.
    :meth:`utterances` instead lays whole files end to end with pauses between them.
    ``bands``: each file's audio bandwidth in Hz (None: the full band), reported by :meth:`draw`.
    """

    def __init__(self, files: Sequence[AudioFile], *, sr: int, skip_bad: bool = False, what: str = "source",
                 bands: Sequence[float] | None = None):
        if not files:
            raise ValueError(f"{what}: no files")
        if bands is not None and len(bands) != len(files):
            raise ValueError(f"{what}: bands has {len(bands)} entries for {len(files)} files")
        self.files, self.sr, self.skip_bad, self.what = list(files), int(sr), skip_bad, what
        self.bands = np.full(len(self.files), sr / 2.0) if bands is None else np.minimum(
            np.asarray(bands, np.float64), sr / 2.0)
        seconds = np.asarray([f.frames / f.sr for f in self.files])
        self._seconds = seconds.copy()
        self._cdf = np.cumsum(seconds) / seconds.sum()
        self.skipped: dict[str, str] = {}
        self.seconds = float(seconds.sum())

    @classmethod
    def from_source(cls, source: str, *, sr: int, skip_bad: bool = False, what: str = "source",
                    log: Callable[[str], None] = print) -> "Corpus":
        files, _ = scan(list_audio(source, what=what), skip_bad=skip_bad, what=what, log=log)
        return cls(files, sr=sr, skip_bad=skip_bad, what=what)

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, f: AudioFile, rng: np.random.Generator, n: int) -> np.ndarray:
        # samples needed at the file's rate, with a margin for the resampling filter's edges
        margin = 0 if f.sr == self.sr else 64
        need = int(math.ceil(n * f.sr / self.sr)) + 2 * margin
        if f.frames <= need:
            x = self._load(f)
            x = _loop(x, need, int(rng.integers(0, max(len(x), 1))))
        else:
            x = self._load(f, int(rng.integers(0, f.frames - need + 1)), need)
        x = _resample(x, f.sr, self.sr)
        m = int(round(margin * self.sr / f.sr))
        return np.ascontiguousarray(x[m:m + n], np.float32) if len(x) >= m + n else _loop(x, n)

    def _load(self, f: AudioFile, start: int = 0, frames: int = -1) -> np.ndarray:
        """``frames`` samples of ``f`` from ``start`` (-1: to the end), mono, at the file's rate;
        an unreadable, empty or non-finite read is a :class:`BadAudioFile`."""
        try:
            x = sf.read(f.path, start=start, frames=frames, dtype="float32", always_2d=True)[0]
        except Exception as e:
            raise BadAudioFile(f"{self.what}: {f.path}: cannot read ({e})") from None
        if x.shape[0] == 0:
            raise BadAudioFile(f"{self.what}: {f.path}: the file holds no samples")
        x = _downmix(x)
        if not np.isfinite(x.sum()):  # NaN and inf survive a sum (an overflow to inf is flagged too)
            raise BadAudioFile(f"{self.what}: {f.path}: holds NaN or infinite samples")
        return x

    def _whole(self, f: AudioFile) -> np.ndarray:
        return np.ascontiguousarray(_resample(self._load(f), f.sr, self.sr), np.float32)

    def crop(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """A random ``(n,)`` float32 crop at ``self.sr``."""
        return self.draw(rng, n)[0]

    def draw(self, rng: np.random.Generator, n: int, *, pause_range: tuple[float, float] | None = None
             ) -> tuple[np.ndarray, float]:
        """``(audio, band_hz)``: a crop (:meth:`crop`), or with ``pause_range`` a sequence of
        utterances (:meth:`utterances`), and the narrowest bandwidth of the files it holds."""
        if pause_range is None:
            x, i = self._try(rng, lambda f: self._read(f, rng, n))
            return x, float(self.bands[i])
        return self.utterances(rng, n, pause_range)

    def utterances(self, rng: np.random.Generator, n: int, pause_range: tuple[float, float]
                   ) -> tuple[np.ndarray, float]:
        """``(audio, band_hz)``: ``n`` samples holding whole files one after another, each
        preceded by silence of Uniform(``pause_range``) seconds (the first by Uniform(0, high), so
        a segment may open on a long pause); a file longer than the room left is cropped at
        random. Where the speech is silent the mixture is noise alone."""
        lo, hi = pause_range
        out = np.zeros(n, np.float32)
        band = self.sr / 2.0
        pos = int(rng.uniform(0.0, hi) * self.sr)
        while pos < n:
            room = n - pos
            x, i = self._try(rng, lambda f: self._whole(f) if f.frames * self.sr < room * f.sr else self._read(f, rng, room))
            x = x[:room]
            out[pos:pos + len(x)] = x
            band = min(band, float(self.bands[i]))
            pos += len(x) + int(rng.uniform(lo, hi) * self.sr)
        return out, band

    def _try(self, rng: np.random.Generator, read: Callable[[AudioFile], np.ndarray]) -> tuple[np.ndarray, int]:
        """``(read(file), index)`` of a file drawn by duration; a bad file is an error, or with
        ``skip_bad`` never drawn again and replaced by another draw."""
        while True:
            i = min(int(np.searchsorted(self._cdf, rng.random(), side="right")), len(self.files) - 1)
            f = self.files[i]
            try:
                return read(f), i
            except BadAudioFile as e:
                if not self.skip_bad:
                    raise BadAudioFile(f"{e}; fix or remove it, or skip bad files (--skip-bad-files)") from None
                self.skipped[f.path] = str(e)
                warnings.warn(f"skipping {e}", stacklevel=2)
                self._seconds[i] = 0.0  # never drawn again
                if not self._seconds.any():
                    raise BadAudioFile(f"{self.what}: every file turned out unusable") from None
                self._cdf = np.cumsum(self._seconds) / self._seconds.sum()


class ArrayCorpus:
    """In-memory rows (e.g. the generated noise bank) with the same ``crop`` interface."""

    def __init__(self, rows: np.ndarray, *, sr: int, what: str = "noise bank"):
        rows = np.asarray(rows, np.float32)
        if rows.ndim != 2 or rows.shape[0] < 1 or rows.shape[1] < 1:
            raise ValueError(f"{what}: expected (clips, samples) rows, got shape {rows.shape}")
        self.rows, self.sr, self.what, self.skipped = rows, int(sr), what, {}
        self.seconds = rows.size / sr

    def __len__(self) -> int:
        return len(self.rows)

    def crop(self, rng: np.random.Generator, n: int) -> np.ndarray:
        row = self.rows[int(rng.integers(0, len(self.rows)))]
        return _loop(row, n, int(rng.integers(0, len(row))))


class RirSet:
    """Room impulse responses from files: each resampled, cut to ``length`` samples from its start
    and scaled to a unit direct path (peak magnitude 1). Small, so they are read once, up front."""

    def __init__(self, source: str, *, sr: int, length: int, skip_bad: bool = False,
                 log: Callable[[str], None] = print):
        corpus = Corpus.from_source(source, sr=sr, skip_bad=skip_bad, what="rir", log=log)
        rirs = []
        for f in corpus.files:
            try:
                x = sf.read(f.path, dtype="float32", always_2d=True)[0]
            except Exception as e:
                raise BadAudioFile(f"rir: {f.path}: cannot read ({e})") from None
            x = _resample(_downmix(x), f.sr, sr)[:length]
            peak = float(np.max(np.abs(x))) if x.size else 0.0
            if not np.isfinite(peak) or peak == 0.0:
                if not skip_bad:
                    raise BadAudioFile(f"rir: {f.path}: silent or non-finite impulse response; fix or remove it, "
                                       "or skip bad files (--skip-bad-files)")
                continue
            rirs.append(np.pad(x / peak, (0, length - len(x))))
        if not rirs:
            raise ValueError(f"rir {source!r}: no usable impulse response")
        self.rirs = np.stack(rirs).astype(np.float32)
        self.seconds = float(corpus.seconds)

    def __len__(self) -> int:
        return len(self.rirs)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return self.rirs[int(rng.integers(0, len(self.rirs)))]


def shipped_speech(split: str = "train", data_dir: str = DATA_DIR) -> list[str]:
    """Paths of the shipped corpus's clips of one split, as listed in its ``manifest.json``.

    ``split``: ``"train"``; ``"heldout"`` (sentences never in train, spoken by voices that train:
    in-distribution); or ``"mismatched"`` (sentences, voices and synthesis methods never in train).
    ``scripts/make_corpus.py`` documents how the corpus is made.
    """
    if split not in ("train", "heldout", "mismatched"):
        raise ValueError(f"shipped_speech: split must be 'train', 'heldout' or 'mismatched', got {split!r}")
    with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    return [os.path.join(data_dir, c["file"]) for c in manifest["clips"] if c["split"] == split]


def real_speech(split: str = "train", data_dir: str = REAL_DIR) -> list[dict]:
    """The shipped real-speech recordings of one split: their ``manifest.json`` entries, each with
    ``"path"`` (absolute) added.

    ``split``: ``"train"``; ``"unseen"`` (speakers never in train: evaluation only); or
    ``"babble"`` (a third, disjoint pool of speakers, only for babble noise). Every entry names its
    ``speaker``, ``language``, ``package``, ``license`` and ``bandwidth_hz`` (the band the
    recording has: 4000 for telephone-band sources). ``scripts/make_real_corpus.py`` documents
    the sources and how the corpus is made.
    """
    if split not in REAL_SPLITS:
        raise ValueError(f"real_speech: split must be one of {REAL_SPLITS}, got {split!r}")
    manifest = _real_manifest(os.path.abspath(data_dir))
    return [dict(c, path=os.path.join(data_dir, c["file"])) for c in manifest["clips"] if c["split"] == split]


def real_music(data_dir: str = REAL_DIR) -> list[str]:
    """Paths of the shipped real music excerpts (an evaluation noise family; never trained on)."""
    manifest = _real_manifest(os.path.abspath(data_dir))
    return [os.path.join(data_dir, n["file"]) for n in manifest["noise"] if n["family"] == "music"]


@functools.lru_cache(maxsize=4)
def _real_manifest(data_dir: str) -> dict:
    path = os.path.join(data_dir, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise OSError(f"cannot read the real-speech manifest {path!r}: {e.strerror or e}") from None


def rows_for_process(batch_size: int, process_index: int, process_count: int) -> range:
    """The global batch rows one process reads (contiguous, equal shares)."""
    if batch_size % process_count:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of the process count ({process_count})")
    per = batch_size // process_count
    return range(process_index * per, (process_index + 1) * per)


class StepBatches:
    """``step -> {"clean", "noise"[, "rir"]}``: this process's rows of one step's batch.

    Row ``r`` of step ``i`` depends only on ``(seed, i, r)``; crops are ``segment`` samples. With
    ``pause_range`` the speech rows are utterances with pauses (:meth:`Corpus.utterances`). A row
    whose speech files are band-limited (``Corpus(bands=)``: telephone recordings) gets its noise
    limited to the same band (:func:`band_limit`), so the target never lacks what the mixture has
    above the band. With ``noise=None`` (noise made on the device) there are no noise rows:
    ``"band"`` holds each row's band in Hz instead, for the device to limit its noise to.
    """

    def __init__(self, *, seed: int, segment: int, rows: range, speech, noise, rirs: RirSet | None = None,
                 pause_range: tuple[float, float] | None = None):
        self.seed, self.segment, self.rows = int(seed), int(segment), rows
        self.speech, self.noise, self.rirs = speech, noise, rirs
        self.pause_range = pause_range
        if pause_range is not None and not hasattr(speech, "utterances"):
            raise TypeError(f"StepBatches: pause_range needs a file corpus for the speech, got {type(speech).__name__}")

    def __call__(self, step: int) -> dict:
        clean = np.empty((len(self.rows), self.segment), np.float32)
        noise = None if self.noise is None else np.empty_like(clean)
        bands = np.empty(len(self.rows), np.float32)
        rir = None if self.rirs is None else np.empty((len(self.rows), self.rirs.rirs.shape[1]), np.float32)
        for j, r in enumerate(self.rows):
            rng = np.random.default_rng([self.seed, int(step), r])
            if hasattr(self.speech, "draw"):
                clean[j], band = self.speech.draw(rng, self.segment, pause_range=self.pause_range)
            else:
                clean[j], band = self.speech.crop(rng, self.segment), math.inf
            bands[j] = min(band, self.speech.sr / 2)
            if noise is not None:
                noise[j] = self.noise.crop(rng, self.segment)
                if band < self.speech.sr / 2:
                    noise[j] = band_limit(noise[j], self.speech.sr, band)
            if rir is not None:
                rir[j] = self.rirs.draw(rng)
        out = {"clean": clean, "noise": noise} if noise is not None else {"clean": clean, "band": bands}
        if rir is not None:
            out["rir"] = rir
        return out


def make_dataset(batches: StepBatches, *, steps: int, start: int = 0, workers: int = 0, threads: int = 2):
    """A grain ``IterDataset`` of ``batches(i)`` for ``i`` in ``[start, steps)``, read by ``threads``
    threads (libsndfile and scipy release the GIL) with at most ``2 * threads`` batches read ahead,
    in ``workers`` processes (0: in this process).

    Every batch is a function of its step alone, so the iterator's whole state is the next step:
    a checkpoint stores it, and resuming builds the dataset from that step (for any ``workers``).
    """
    import grain

    threads = max(1, int(threads))
    read = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=2 * threads)
    ds = grain.MapDataset.range(start, steps).map(batches).to_iter_dataset(read)
    if workers > 0:
        from absl import flags

        if not flags.FLAGS.is_parsed():  # grain's workers read absl flags; a library caller has parsed none
            flags.FLAGS.mark_as_parsed()
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=2))
    return ds
