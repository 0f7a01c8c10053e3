"""Audio and spectrogram files (host side: these functions do I/O and are never traced).

``load``/``save`` read and write audio through soundfile (libsndfile): integer PCM becomes float in
[-1, 1] on the way in, float is clipped explicitly (with a warning by default) on the way out, and
every write goes to a temporary file in the target directory that is renamed over the target only
once complete, so a failed save never leaves a partial file. ``save_spectrogram`` /
``load_spectrogram`` keep a complex STFT in an ``.npz`` beside the parameters needed to invert
it (n_fft, hop, window, sr, center, ...), stored as JSON text: no pickle on either side.

Layout: mono audio ``(samples,)``, multichannel ``(channels, samples)`` (librosa's layout; soundfile
itself uses ``(samples, channels)``).
"""

from __future__ import annotations

import functools
import json
import numbers
import os
import struct
import tempfile
import warnings
import zipfile
from typing import Any, NamedTuple, Optional

import jax
import numpy as np
import soundfile as sf

__all__ = ["load", "save", "save_spectrogram", "load_spectrogram", "SpectrogramFile"]

_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_III", "MPEG_LAYER_II", "MPEG_LAYER_I")
_EXT_ALIASES = {"AIF": "AIFF", "OGA": "OGG", "OPUS": "OGG"}
_MAX_CHANNELS = 64
_SPEC_FORMAT = "jaxspec.spectrogram"


# -- helpers --------------------------------------------------------------------------------------

def _path(fn: str, path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _check_readable(fn: str, path: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{fn}: no such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{fn}: {path!r} is a directory, not a file")


def _wav_truncation(path: str) -> Optional[str]:
    """For RIFF/RIFX WAV files, a message if the data chunk is shorter than its header declares."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
            return None
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack(endian + "4sI", f.read(8))
            if cid == b"data":
                if csize in (0, 0xFFFFFFFF):  # streaming writers leave the size unset
                    return None
                have = size - (pos + 8)
                if have < csize:
                    return (f"its header declares {csize} bytes of audio data but only {have} are present "
                            f"(the file is truncated)")
                return None
            pos += 8 + csize + (csize & 1)
    return None


def _atomic_write(fn: str, path: str, write) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was (absent or intact).
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{fn}: the directory of {path!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# -- audio ----------------------------------------------------------------------------------------

def load(path, *, sr: Optional[float] = None, mono: bool = True, dtype: str = "float32", offset: float = 0.0,
         duration: Optional[float] = None):
    """Read an audio file as float samples in [-1, 1] (host side, NumPy out).

    Integer PCM is scaled to float (``int16 / 32768``, as libsndfile does); multichannel audio is
    averaged to mono when ``mono`` (librosa's ``to_mono``); if ``sr`` differs from the file's rate
    the signal is resampled with :func:`jaxspec.resample`. Like ``librosa.load`` but ``sr=None``
    is the default (keep the native rate).

    Args:
      path: file path (WAV, FLAC, OGG, AIFF, ... anything libsndfile reads).
      sr: target sample rate in Hz, or None to keep the file's rate.
      mono: average the channels.
      dtype: ``"float32"`` or ``"float64"`` (resampling computes in float32 unless x64 is on).
      offset: start reading this many seconds into the file.
      duration: read at most this many seconds (None: to the end).

    Returns:
      ``(x, sr)``: ``x`` a NumPy array ``(samples,)`` when mono (or the file has one channel),
      ``(channels, samples)`` otherwise; ``sr`` the sample rate of ``x`` (int when integral).

    Raises:
      FileNotFoundError: the file does not exist. ValueError: not a readable audio file, a
      truncated WAV, or bad arguments. All messages name the path.
    """
    fn = "load"
    path = _path(fn, path)
    if dtype not in ("float32", "float64", np.float32, np.float64):
        raise ValueError(f"load: dtype must be 'float32' or 'float64', got {dtype!r}")
    dtype = np.dtype(dtype).name
    if offset < 0 or (duration is not None and duration < 0):
        raise ValueError(f"load: offset and duration must be >= 0, got offset={offset}, duration={duration}")
    if sr is not None and (not isinstance(sr, numbers.Real) or isinstance(sr, bool) or not sr > 0):
        raise ValueError(f"load: sr must be a positive number or None, got {sr!r}")
    _check_readable(fn, path)
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"load: could not read {path!r} as audio ({e})") from None
    if info.format == "WAV":
        problem = _wav_truncation(path)
        if problem:
            raise ValueError(f"load: {path!r} is not a complete WAV file: {problem}")
    native = info.samplerate
    start = int(round(offset * native))
    frames = -1 if duration is None else int(round(duration * native))
    try:
        data, native = sf.read(path, dtype=dtype, always_2d=True, start=start, frames=frames)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"load: could not decode {path!r} ({e})") from None
    x = data.T  # (channels, samples)
    if mono or x.shape[0] == 1:
        x = x.mean(axis=0, dtype=dtype) if x.shape[0] > 1 else x[0]
    if sr is not None:
        if float(sr) != float(native):
            from . import vocoder

            resample = getattr(vocoder, "resample", None)
            if resample is None:
                raise NotImplementedError(
                    f"load: {path!r} has sr={native} Hz and sr={sr} was requested, but jaxspec has no resampler "
                    f"yet; load with sr=None and resample yourself")
            # one compiled call instead of many eager ops (the rates are static arguments)
            fn_rs = jax.jit(functools.partial(resample, orig_sr=float(native), target_sr=float(sr)))
            x = np.asarray(fn_rs(x)).astype(dtype)
            native = sr
    sr_out = int(native) if float(native).is_integer() else float(native)
    return np.ascontiguousarray(x), sr_out


def save(path, x, sr: int, *, subtype: str = "PCM_16", clip: str = "warn") -> None:
    """Write audio atomically (temporary file + rename), clipping explicitly for integer formats.

    The container follows the file extension (``.wav``, ``.flac``, ``.ogg``, ``.aiff``, ...). For
    integer subtypes (``PCM_16``, ``PCM_24``, ...) samples outside [-1, 1] cannot be represented:
    ``clip="warn"`` clips them and warns with the count and the peak, ``"clip"`` clips silently,
    ``"raise"`` raises ``ValueError``. Float subtypes (``FLOAT``, ``DOUBLE``) store any finite value.

    Args:
      path: target file; replaced only if the write succeeds (never left partial).
      x: float samples ``(samples,)`` or ``(channels, samples)``; NumPy or JAX array.
      sr: sample rate in Hz (positive int).
      subtype: libsndfile subtype, e.g. ``"PCM_16"`` (default), ``"PCM_24"``, ``"FLOAT"``.
      clip: ``"warn"``, ``"clip"`` or ``"raise"`` for samples beyond [-1, 1].

    Returns:
      None.

    Raises:
      TypeError: integer or complex samples. ValueError: NaN/inf samples, a bad shape, an unknown
      extension or subtype, or clipping with ``clip="raise"``. FileNotFoundError: the directory
      does not exist.
    """
    fn = "save"
    path = _path(fn, path)
    if clip not in ("warn", "clip", "raise"):
        raise ValueError(f"save: clip must be one of 'warn', 'clip', 'raise'; got {clip!r}")
    if isinstance(sr, bool) or not isinstance(sr, (numbers.Integral, np.integer)) or sr <= 0:
        raise ValueError(f"save: sr must be a positive int, got {sr!r}")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (convert integer PCM with x / 32768 for int16)" if np.issubdtype(x.dtype, np.integer) else ""
        raise TypeError(f"save: x must be a floating-point array, got dtype {x.dtype}{hint}")
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"save: x must have shape (samples,) or (channels, samples), got {x.shape}")
    if x.ndim == 2 and x.shape[0] > _MAX_CHANNELS:
        raise ValueError(f"save: x of shape {x.shape} has {x.shape[0]} channels; the layout is (channels, samples) "
                         f"— transpose a (samples, channels) array")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"save: x has NaN or inf samples; not writing {path!r}")
    ext = os.path.splitext(path)[1][1:].upper()
    fmt = _EXT_ALIASES.get(ext, ext)
    if fmt not in sf.available_formats():
        raise ValueError(f"save: cannot tell the audio format from the extension of {path!r}; use one of "
                         f"{', '.join('.' + e.lower() for e in sorted(sf.available_formats()))}")
    if not isinstance(subtype, str) or not sf.check_format(fmt, subtype.upper()):
        raise ValueError(f"save: subtype {subtype!r} is not valid for {fmt} files ({path!r}); valid: "
                         f"{', '.join(sorted(sf.available_subtypes(fmt)))}")
    subtype = subtype.upper()
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if subtype not in _FLOAT_SUBTYPES:
        over = np.abs(x) > 1.0
        if over.any():
            n, peak = int(over.sum()), float(np.abs(x).max())
            if clip == "raise":
                raise ValueError(f"save: {n} samples exceed [-1, 1] (peak {peak:.4g}) and {subtype} cannot store "
                                 f"them; scale x (e.g. jaxspec.prevent_clipping) or pass clip='clip'")
            if clip == "warn":
                warnings.warn(f"save: clipping {n} samples beyond [-1, 1] (peak {peak:.4g}) to write {path!r} "
                              f"as {subtype}; pass clip='clip' to silence or scale the signal", stacklevel=2)
            x = np.clip(x, -1.0, 1.0)
    data = np.ascontiguousarray(x.T)
    _atomic_write(fn, path, lambda fh: sf.write(fh, data, int(sr), subtype=subtype, format=fmt))


# -- spectrograms ---------------------------------------------------------------------------------

class SpectrogramFile(NamedTuple):
    """What :func:`load_spectrogram` returns.

    Attributes:
      S: the complex STFT ``(..., freq, frames)`` (NumPy).
      sr: sample rate in Hz, or None if it was not given.
      length: original signal length in samples, or None.
      stft: the STFT parameters as keyword arguments for :func:`jaxspec.istft`: ``n_fft``,
        ``hop_length``, ``win_length``, ``window``, ``center``, ``normalized``.
      meta: any further metadata given to :func:`save_spectrogram`.
    """

    S: np.ndarray
    sr: Optional[float]
    length: Optional[int]
    stft: dict
    meta: dict


def _jsonable(fn: str, key: str, value: Any):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(fn, key, v) for v in value]
    raise TypeError(f"{fn}: metadata {key!r} must be a number, str, bool, None, a list of those or an array, "
                    f"got {type(value).__name__}")


def save_spectrogram(path, S, *, sr: Optional[float] = None, n_fft: Optional[int] = None,
                     hop_length: Optional[int] = None, win_length: Optional[int] = None, window="hann",
                     center: bool = True, normalized: bool = False, length: Optional[int] = None, **meta) -> None:
    """Save a complex STFT with the parameters that invert it, as an ``.npz`` (no pickle), atomically.

    The STFT parameters are resolved (defaults as in :func:`jaxspec.stft`: ``n_fft = 2 * (freq -
    1)``, ``win_length = n_fft``, ``hop_length = win_length // 4``) and stored as JSON text next
    to the array, so :func:`load_spectrogram` gives back exactly what :func:`jaxspec.istft` needs.
    The file is written to exactly ``path`` (no ``.npz`` is appended).

    Args:
      path: target file (``.npz`` by convention).
      S: complex STFT ``(..., freq, frames)`` (NumPy or JAX); real arrays (e.g. magnitudes) are
        stored as they are.
      sr: sample rate in Hz (recommended).
      n_fft: FFT size; default ``2 * (freq - 1)``.
      hop_length: hop in samples; default ``win_length // 4``.
      win_length: window length; default ``n_fft``.
      window: name, ``(name, param)`` tuple, or array (stored as an array); callables cannot be saved.
      center: whether the STFT was centred.
      normalized: whether the STFT was computed with ``normalized=True``.
      length: original signal length in samples, so the inverse has the right length.
      **meta: extra metadata: numbers, strings, bools, None, lists of those, or arrays.

    Returns:
      None.
    """
    fn = "save_spectrogram"
    path = _path(fn, path)
    S = np.asarray(S)
    if S.ndim < 2 or not np.issubdtype(S.dtype, np.inexact):
        raise ValueError(f"{fn}: S must be a complex (or float) array (..., freq, frames), got {S.dtype} {S.shape}")
    freq = S.shape[-2]
    if n_fft is None:
        n_fft = 2 * (freq - 1)
    if not isinstance(n_fft, (numbers.Integral, np.integer)) or n_fft < 1 or n_fft // 2 + 1 != freq:
        raise ValueError(f"{fn}: n_fft={n_fft!r} does not match S.shape[-2]={freq} (need n_fft // 2 + 1 == freq)")
    win_length = int(n_fft if win_length is None else win_length)
    hop_length = int(max(1, win_length // 4) if hop_length is None else hop_length)
    arrays = {"S": S}
    if isinstance(window, str) or isinstance(window, tuple):
        win = _jsonable(fn, "window", window)
    elif isinstance(window, (np.ndarray,)) or hasattr(window, "__array__") and not callable(window):
        arrays["array.window"] = np.asarray(window, np.float64)
        win = None
    else:
        raise TypeError(f"{fn}: window must be a name, a (name, param) tuple or an array to be saved, got "
                        f"{type(window).__name__}; pass jaxspec.get_window(window, win_length=...) instead")
    header = {
        "format": _SPEC_FORMAT, "version": 1,
        "sr": _jsonable(fn, "sr", sr), "length": _jsonable(fn, "length", length),
        "stft": {"n_fft": int(n_fft), "hop_length": hop_length, "win_length": win_length, "window": win,
                 "center": bool(center), "normalized": bool(normalized)},
        "meta": {},
    }
    for k, v in meta.items():
        if isinstance(v, np.ndarray) or hasattr(v, "__array__") and not np.isscalar(v) and not isinstance(v, (list, tuple)):
            a = np.asarray(v)
            if a.dtype == object:
                raise TypeError(f"{fn}: metadata {k!r} is an object array; it cannot be stored without pickle")
            arrays[f"array.meta.{k}"] = a
        else:
            header["meta"][k] = _jsonable(fn, k, v)
    arrays["header"] = np.asarray(json.dumps(header))
    _atomic_write(fn, path, lambda fh: np.savez(fh, **arrays))


def load_spectrogram(path) -> SpectrogramFile:
    """Load a spectrogram written by :func:`save_spectrogram` (``allow_pickle=False``).

    Usage: ``spec = load_spectrogram(p); x = jaxspec.istft(spec.S, **spec.stft, length=spec.length)``.

    Args:
      path: an ``.npz`` written by :func:`save_spectrogram`.

    Returns:
      :class:`SpectrogramFile` ``(S, sr, length, stft, meta)``; ``S`` complex ``(..., freq, frames)``.

    Raises:
      FileNotFoundError: missing file. ValueError: not an ``.npz`` written by
      :func:`save_spectrogram` (the message names the path).
    """
    fn = "load_spectrogram"
    path = _path(fn, path)
    _check_readable(fn, path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files") or "header" not in f.files or "S" not in f.files:
                raise ValueError(f"{fn}: {path!r} is not a spectrogram written by jaxspec.save_spectrogram "
                                 f"(no 'S'/'header' entries)")
            header = json.loads(str(f["header"]))
            S = f["S"]
            extra = {k: f[k] for k in f.files if k.startswith("array.")}
    except ValueError as e:
        if str(e).startswith(fn):
            raise
        raise ValueError(f"{fn}: could not read {path!r} as an .npz spectrogram ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, json.JSONDecodeError) as e:
        raise ValueError(f"{fn}: could not read {path!r} as an .npz spectrogram ({e})") from None
    if not isinstance(header, dict) or header.get("format") != _SPEC_FORMAT:
        raise ValueError(f"{fn}: {path!r} is not a spectrogram written by jaxspec.save_spectrogram")
    stft = dict(header["stft"])
    if "array.window" in extra:
        stft["window"] = extra["array.window"]
    elif isinstance(stft["window"], list):
        stft["window"] = tuple(stft["window"])
    meta = dict(header.get("meta", {}))
    meta.update({k[len("array.meta."):]: v for k, v in extra.items() if k.startswith("array.meta.")})
    return SpectrogramFile(S, header.get("sr"), header.get("length"), stft, meta)
