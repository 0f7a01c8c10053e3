"""Audio and spectrogram files (host side: these functions do I/O and are never traced).

``load``/``save`` read and write audio through soundfile (libsndfile): integer PCM becomes float in
[-1, 1] on the way in, float is clipped explicitly (with a warning by default) on the way out, and
every write goes to a temporary file in the target directory that is read back (frames, channels,
rate, WAV data size) and renamed over the target only once complete, so a failed save, a full disk
included, never leaves a partial file. Only regular files are read (checked with ``os.stat``
before opening: a FIFO would block). ``save_spectrogram`` /
``load_spectrogram`` keep a complex STFT in an ``.npz`` beside the parameters needed to invert
it (n_fft, hop, window, sr, center, ...), stored as JSON text: no pickle on either side.

Layout: mono audio ``(samples,)``, multichannel ``(channels, samples)`` (librosa's layout; soundfile
itself uses ``(samples, channels)``).
"""

from __future__ import annotations

import functools
import json
import numbers
import math
import os
import stat
import struct
import tempfile
import warnings
import zipfile
from typing import Any, NamedTuple, Optional

import jax
import numpy as np
import soundfile as sf

from . import _checks
from .stft import norm_scale

__all__ = ["load", "save", "save_spectrogram", "load_spectrogram", "SpectrogramFile"]

_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_III", "MPEG_LAYER_II", "MPEG_LAYER_I")
_EXT_ALIASES = {"AIF": "AIFF", "OGA": "OGG", "OPUS": "OGG"}
_MAX_CHANNELS = 64
_RAW_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "ULAW": 1,
              "ALAW": 1}
_SPEC_FORMAT = "jaxspec.spectrogram"


# -- helpers --------------------------------------------------------------------------------------

def _path(fn: str, path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _check_readable(fn: str, path: str) -> None:
    """``os.stat`` before anything opens ``path``: only regular files (a FIFO would block the
    reader forever, a device could be endless)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{fn}: no such file: {path!r}") from None
    except OSError as e:
        raise OSError(f"{fn}: cannot access {path!r} ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{fn}: {path!r} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{fn}: {path!r} is not a regular file ({_kind(st.st_mode)}); only regular files are read")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _check_target(fn: str, path: str) -> None:
    """An existing target must be a regular file (it is replaced by a rename)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OSError(f"{fn}: cannot access {path!r} ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{fn}: {path!r} is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{fn}: {path!r} exists and is {_kind(st.st_mode)}; refusing to replace it")


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


def _atomic_write(fn: str, path: str, write, verify=None) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, check it with
    ``verify(tmp_path)`` (which returns a problem description or None), then rename it over ``path``.

    The temporary name is short (``.jaxspec-XXXXXXXX.tmp``), so any valid target name works. On any
    error the temporary file is removed and ``path`` is left as it was (absent or intact); write
    and verification failures raise ``OSError`` naming ``path``, with the cause chained.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{fn}: the directory of {path!r} does not exist")
    _check_target(fn, path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".jaxspec-", suffix=".tmp")
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            problem = verify(tmp) if verify is not None else None
        except (OSError, AssertionError, RuntimeError, EOFError) as e:  # soundfile checks writes with assert
            raise OSError(f"{fn}: could not write {path!r} ({type(e).__name__}: {e}); the previous file, "
                          f"if any, is unchanged") from e
        if problem:
            raise OSError(f"{fn}: the file written for {path!r} is incomplete ({problem}), e.g. the disk is full; "
                          f"the previous file, if any, is unchanged")
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


def _seconds(fn: str, name: str, value, *, allow_none: bool = False):
    """A time in seconds: a finite real number >= 0 (``bool`` and strings are refused)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        allowed = "a number of seconds" + (" or None" if allow_none else "")
        raise TypeError(f"{fn}: {name} must be {allowed}, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        extra = " (use None to read to the end)" if allow_none else ""
        raise ValueError(f"{fn}: {name} must be a finite number of seconds >= 0{extra}, got {value}")
    return value


def _rate(fn: str, name: str, value, *, allow_none: bool = False):
    """A sample rate in Hz: a finite real number > 0, returned as an int when integral."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a sample rate in Hz (a positive number), got {value!r} of type "
                        f"{type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{fn}: {name} must be a finite sample rate > 0 Hz, got {value!r}")
    return int(v) if v.is_integer() else v


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
      sr: target sample rate in Hz (a finite number > 0), or None to keep the file's rate. The
        resampled signal may hold at most 2**28 samples per channel.
      mono: average the channels (``True`` or ``False``).
      dtype: ``"float32"`` or ``"float64"`` (resampling computes in float32 unless x64 is on).
      offset: start reading this many seconds into the file (a finite number >= 0; past the end
        gives an empty signal, as librosa).
      duration: read at most this many seconds (a finite number >= 0), or None: to the end.

    Returns:
      ``(x, sr)``: ``x`` a NumPy array ``(samples,)`` when mono (or the file has one channel),
      ``(channels, samples)`` otherwise; ``sr`` the sample rate of ``x`` (int when integral).

    Raises:
      FileNotFoundError: the file does not exist. IsADirectoryError / OSError: a directory, or not
      a regular file (a FIFO, a device: refused before opening, so a FIFO cannot block). ValueError:
      not a readable audio file, a truncated WAV, or bad argument values. TypeError: arguments of
      the wrong type (``offset='1'``, ``mono='no'``). Messages about the file name the path.
    """
    fn = "load"
    path = _path(fn, path)
    if not isinstance(dtype, (str, type, np.dtype)) or dtype not in ("float32", "float64", np.float32, np.float64):
        raise ValueError(f"load: dtype must be 'float32' or 'float64', got {dtype!r}")
    dtype = np.dtype(dtype).name
    offset = _seconds(fn, "offset", offset)
    duration = _seconds(fn, "duration", duration, allow_none=True)
    if sr is not None:
        sr = _rate(fn, "sr", sr, allow_none=True)
    mono = _checks.static_bool(fn, "mono", mono)
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
    if sr is not None and float(sr) != float(native):  # bound the resampled size before reading
        n = max(0, (info.frames - start) if frames < 0 else min(frames, info.frames - start))
        _checks.output_size(fn, f"{path!r} resampled from {native} Hz to sr={sr:g} Hz ({n} samples)",
                            n * float(sr) / native, hint="; load it in parts with offset/duration")
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
      path: target file; replaced only if the write succeeds and the file read back has every
        frame (never left partial). Any valid file name works (the temporary name is short).
      x: float samples ``(samples,)`` or ``(channels, samples)`` (librosa's layout; soundfile's
        is the transpose); NumPy or JAX array. A 2-D ``x`` with more channels than samples, e.g.
        ``(40, 2)``, is refused as ambiguous (it looks like ``(samples, channels)``: pass ``x.T``).
      sr: sample rate in Hz (positive int).
      subtype: libsndfile subtype, e.g. ``"PCM_16"`` (default), ``"PCM_24"``, ``"FLOAT"``.
      clip: ``"warn"``, ``"clip"`` or ``"raise"`` for samples beyond [-1, 1].

    Returns:
      None.

    Raises:
      TypeError: integer or complex samples. ValueError: NaN/inf samples, a bad shape, an unknown
      extension or subtype, or clipping with ``clip="raise"``. FileNotFoundError: the directory
      does not exist. IsADirectoryError / OSError: ``path`` is a directory or another non-regular
      file. OSError: the write failed, or the file read back is not what was written (frame count,
      channels, rate; for WAV also the data size its header declares): a full disk is caught even
      under ``python -O``, where soundfile's own ``assert`` is skipped. The message names the path
      and the previous file is left intact.
    """
    fn = "save"
    path = _path(fn, path)
    if clip not in ("warn", "clip", "raise"):
        raise ValueError(f"save: clip must be one of 'warn', 'clip', 'raise'; got {clip!r}")
    if isinstance(sr, bool) or not isinstance(sr, (numbers.Integral, np.integer)) or sr <= 0:
        raise ValueError(f"save: sr must be a positive int, got {sr!r}")
    if sr > 2**31 - 1:
        raise ValueError(f"save: sr={sr} is beyond what audio files store (at most 2**31 - 1 Hz)")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (convert integer PCM with x / 32768 for int16)" if np.issubdtype(x.dtype, np.integer) else ""
        raise TypeError(f"save: x must be a floating-point array, got dtype {x.dtype}{hint}")
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"save: x must have shape (samples,) or (channels, samples), got {x.shape}")
    if x.ndim == 2 and x.shape[0] > _MAX_CHANNELS:
        raise ValueError(f"save: x of shape {x.shape} has {x.shape[0]} channels; the layout is (channels, samples) "
                         f"— transpose a (samples, channels) array")
    if x.ndim == 2 and x.shape[0] > x.shape[1]:
        raise ValueError(f"save: x of shape {x.shape} would be {x.shape[0]} channels of {x.shape[1]} samples; the "
                         f"layout is (channels, samples) (librosa's), and more channels than samples looks like "
                         f"a (samples, channels) array: pass x.T")
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
    _atomic_write(fn, path, lambda fh: sf.write(fh, data, int(sr), subtype=subtype, format=fmt),
                  verify=functools.partial(_verify_audio, frames=data.shape[0], channels=1 if data.ndim == 1 else data.shape[1],
                                           sr=int(sr), fmt=fmt, subtype=subtype))


def _verify_audio(tmp: str, *, frames: int, channels: int, sr: int, fmt: str, subtype: str) -> Optional[str]:
    """Read back the header of a freshly written audio file: a problem description, or None.

    Headerless RAW files cannot be read back; their size is checked for fixed-size samples."""
    if fmt == "RAW":
        width = _RAW_BYTES.get(subtype)
        size = os.path.getsize(tmp)
        if width is not None and size != frames * channels * width:
            return f"{size} bytes, expected {frames * channels * width}"
        return None
    try:
        info = sf.info(tmp)
    except (sf.LibsndfileError, RuntimeError) as e:
        return f"it cannot be read back: {e}"
    if info.frames != frames or info.channels != channels or info.samplerate != sr:
        return (f"read back {info.frames} frames x {info.channels} channels at {info.samplerate} Hz, "
                f"wrote {frames} x {channels} at {sr} Hz")
    if info.format == "WAV":
        return _wav_truncation(tmp)
    return None


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


def _check_stft_params(fn: str, freq: int, *, sr, length, n_fft, hop_length, win_length, window, center, normalized):
    """The parameters stored beside a spectrogram, checked as :func:`jaxspec.stft` checks them.

    Returns ``(stft_kwargs, sr, length)`` with defaults resolved and ``window`` as a string, a tuple
    or a float64 array. Raises ``ValueError``/``TypeError`` naming ``fn`` and the argument.
    """
    from .windows import _window

    if isinstance(n_fft, (bool, np.bool_)) or not isinstance(n_fft, (numbers.Integral, np.integer)) or n_fft < 1 \
            or n_fft // 2 + 1 != freq:
        raise ValueError(f"{fn}: n_fft={n_fft!r} does not match S.shape[-2]={freq} (need n_fft // 2 + 1 == freq)")
    n_fft = int(n_fft)
    win_length = _checks.static_int(fn, "win_length", win_length, minimum=1, allow_none=True)
    win_length = n_fft if win_length is None else win_length
    if win_length > n_fft:
        raise ValueError(f"{fn}: win_length must be <= n_fft ({n_fft}), got {win_length}")
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1, allow_none=True)
    hop_length = max(1, win_length // 4) if hop_length is None else hop_length
    center = _checks.static_bool(fn, "center", center)
    norm_scale(fn, normalized, n_fft)  # checks the value
    normalized = bool(normalized) if isinstance(normalized, (bool, np.bool_)) else normalized
    sr = _rate(fn, "sr", sr, allow_none=True)
    length = _checks.static_int(fn, "length", length, minimum=0, allow_none=True)
    if isinstance(window, list):
        window = tuple(window)
    if isinstance(window, (str, tuple)):
        _window(window, win_length, fn=fn)  # a known name / parametric window
    else:
        window = np.array(_window(window, win_length, fn=fn), np.float64)
    return (dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
                 normalized=normalized), sr, length)


def save_spectrogram(path, S, *, sr: Optional[float] = None, n_fft: Optional[int] = None,
                     hop_length: Optional[int] = None, win_length: Optional[int] = None, window="hann",
                     center: bool = True, normalized: bool | str = False, length: Optional[int] = None, **meta) -> None:
    """Save a complex STFT with the parameters that invert it, as an ``.npz`` (no pickle), atomically.

    The STFT parameters are resolved (defaults as in :func:`jaxspec.stft`: ``n_fft = 2 * (freq -
    1)``, ``win_length = n_fft``, ``hop_length = win_length // 4``) and stored as JSON text next
    to the array, so :func:`load_spectrogram` gives back exactly what :func:`jaxspec.istft` needs.
    The file is written to exactly ``path`` (no ``.npz`` is appended).

    Args:
      path: target file (``.npz`` by convention).
      S: complex STFT ``(..., freq, frames)`` (NumPy or JAX); real arrays (e.g. magnitudes) are
        stored as they are.
      sr: sample rate in Hz (recommended; a finite number > 0, or None).
      n_fft: FFT size; default ``2 * (freq - 1)``; must satisfy ``n_fft // 2 + 1 == freq``.
      hop_length: hop in samples (int >= 1); default ``win_length // 4``.
      win_length: window length (int, ``1 <= win_length <= n_fft``); default ``n_fft``.
      window: name, ``(name, param)`` tuple, or array of length ``win_length`` (stored as an
        array); checked as :func:`jaxspec.get_window` does. Callables cannot be saved.
      center: whether the STFT was centred (``True``/``False``).
      normalized: the STFT's ``normalized`` (``True``/``False``/``"ortho"``/``"forward"``/``"backward"``).
      length: original signal length in samples (int >= 0, or None), so the inverse has the
        right length.
      **meta: extra metadata: numbers, strings, bools, None, lists of those, or arrays.

    Returns:
      None.

    Raises:
      ValueError / TypeError: a bad ``S`` or parameter (the same checks as :func:`jaxspec.stft`,
      e.g. ``hop_length=0``, ``win_length > n_fft``, ``sr='abc'``, ``center='no'``), before
      anything is written. OSError: the write failed (the message names the path).
    """
    fn = "save_spectrogram"
    path = _path(fn, path)
    S = np.asarray(S)
    if S.ndim < 2 or not np.issubdtype(S.dtype, np.inexact):
        raise ValueError(f"{fn}: S must be a complex (or float) array (..., freq, frames), got {S.dtype} {S.shape}")
    freq = S.shape[-2]
    if n_fft is None:
        n_fft = 2 * (freq - 1)
    if callable(window) and not isinstance(window, (str, tuple, np.ndarray)) and not hasattr(window, "__array__"):
        raise TypeError(f"{fn}: window must be a name, a (name, param) tuple or an array to be saved, got "
                        f"{type(window).__name__}; pass jaxspec.get_window(window, win_length=...) instead")
    stft_kw, sr, length = _check_stft_params(fn, freq, sr=sr, length=length, n_fft=n_fft, hop_length=hop_length,
                                             win_length=win_length, window=window, center=center,
                                             normalized=normalized)
    arrays = {"S": S}
    window = stft_kw["window"]
    if isinstance(window, np.ndarray):
        arrays["array.window"] = window
        stft_kw["window"] = None
    else:
        stft_kw["window"] = _jsonable(fn, "window", window)
    header = {
        "format": _SPEC_FORMAT, "version": 1,
        "sr": _jsonable(fn, "sr", sr), "length": _jsonable(fn, "length", length),
        "stft": stft_kw,
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
      FileNotFoundError: missing file. IsADirectoryError / OSError: not a regular file.
      ValueError: not an ``.npz`` written by :func:`save_spectrogram`, a damaged header (no
      ``stft`` entry), or values :func:`save_spectrogram` would refuse (``hop_length=0``,
      ``win_length > n_fft``, ``n_fft`` not matching ``S``, a non-numeric ``sr``, a non-bool
      ``center``, an ``S`` that is not a complex or float ``(..., freq, frames)`` array). Every
      message names the path.
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
    if S.ndim < 2 or not np.issubdtype(S.dtype, np.inexact):
        raise ValueError(f"{fn}: {path!r} holds S of dtype {S.dtype} and shape {S.shape}; a spectrogram is a "
                         f"complex (or float) array (..., freq, frames)")
    stft = header.get("stft")
    keys = ("n_fft", "hop_length", "win_length", "window", "center", "normalized")
    if not isinstance(stft, dict) or any(k not in stft for k in keys):
        raise ValueError(f"{fn}: the header of {path!r} lacks the STFT parameters ('stft' with "
                         f"{', '.join(keys)}); the file is damaged or was not written by save_spectrogram")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"{fn}: the header of {path!r} has a 'meta' entry that is not a mapping")
    window = extra["array.window"] if "array.window" in extra else stft["window"]
    if window is None:
        raise ValueError(f"{fn}: the header of {path!r} names no window and the file holds no window array")
    try:
        stft, sr, length = _check_stft_params(
            fn, S.shape[-2], sr=header.get("sr"), length=header.get("length"), n_fft=stft["n_fft"],
            hop_length=stft["hop_length"], win_length=stft["win_length"], window=window, center=stft["center"],
            normalized=stft["normalized"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{fn}: {path!r} has an invalid header: {e}") from None
    meta = dict(meta)
    meta.update({k[len("array.meta."):]: v for k, v in extra.items() if k.startswith("array.meta.")})
    return SpectrogramFile(S, sr, length, stft, meta)
