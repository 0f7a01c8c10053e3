"""Analysis/synthesis windows and the overlap-add envelope, computed with NumPy at trace time.

A window is given by name (``"hann"``), by a name with a parameter (``("kaiser", 8.0)``), or as an
array. Named windows are *periodic* (``fftbins=True``), as in librosa and torch, which is what
makes a Hann window with hop ``n_fft // 4`` sum to a constant.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, Union

import jax
import numpy as np
import scipy.signal

from . import _checks

WindowSpec = Union[str, tuple, np.ndarray, jax.Array, Callable[[int], np.ndarray]]

# name -> builder(length) for windows without parameters; aliases map to the same builder.
_NAMED = {
    "hann": lambda n: scipy.signal.get_window("hann", n, fftbins=True),
    "hanning": lambda n: scipy.signal.get_window("hann", n, fftbins=True),
    "sqrt_hann": lambda n: np.sqrt(scipy.signal.get_window("hann", n, fftbins=True)),
    "sqrt-hann": lambda n: np.sqrt(scipy.signal.get_window("hann", n, fftbins=True)),
    "hamming": lambda n: scipy.signal.get_window("hamming", n, fftbins=True),
    "blackman": lambda n: scipy.signal.get_window("blackman", n, fftbins=True),
    "bartlett": lambda n: scipy.signal.get_window("bartlett", n, fftbins=True),
    "triang": lambda n: scipy.signal.get_window("triang", n, fftbins=True),
    "boxcar": lambda n: np.ones(n),
    "rectangular": lambda n: np.ones(n),
    "ones": lambda n: np.ones(n),
    "cosine": lambda n: scipy.signal.get_window("cosine", n, fftbins=True),
    "blackmanharris": lambda n: scipy.signal.get_window("blackmanharris", n, fftbins=True),
    "vorbis": lambda n: _vorbis(n),
}


def _vorbis(n: int) -> np.ndarray:
    """The Vorbis power-complementary window ``sin(pi/2 * sin^2(pi * (i + 1/2) / n))``.

    ``w[i]^2 + w[i + n/2]^2 = 1`` for even ``n``, so it reconstructs perfectly at hop ``n / 2``
    with the same window for analysis and synthesis. This is DeepFilterNet's analysis window
    (``libdf.DF(...).fft_window()``; it writes the argument as ``(i + 1/2) / (n/2) * pi/2``).
    """
    i = np.arange(n, dtype=np.float64)
    return np.sin(0.5 * np.pi * np.sin(np.pi * (i + 0.5) / n) ** 2)
# windows that take parameters, given as (name, *params)
_PARAMETRIC = ("kaiser", "gaussian", "tukey", "general_gaussian", "exponential", "chebwin", "dpss")

WINDOW_NAMES = tuple(_NAMED)


@functools.lru_cache(maxsize=256)
def _cached(spec: Any, win_length: int) -> np.ndarray:
    if isinstance(spec, str):
        w = _NAMED[spec](win_length)
    else:
        w = scipy.signal.get_window(spec, win_length, fftbins=True)
    w = np.asarray(w, dtype=np.float64)
    w.setflags(write=False)
    return w


def get_window(window: WindowSpec, *, win_length: int) -> np.ndarray:
    """The window as a float64 NumPy array of length ``win_length``.

    Args:
      window: a name from ``jaxspec.windows.WINDOW_NAMES`` (``"hann"``, ``"hamming"``,
        ``"blackman"``, ``"bartlett"``, ``"boxcar"``/``"rectangular"``, ``"sqrt_hann"``, ``"vorbis"``
        (DeepFilterNet's window), ...),
        a tuple ``(name, *params)`` for a parametric scipy window such as ``("kaiser", 8.0)``,
        a concrete 1-D array of length ``win_length``, or a callable ``f(win_length) -> array``.
      win_length: the window length (a static positive int).

    Returns:
      ``np.ndarray`` of shape ``(win_length,)``, float64, periodic for named windows (matches
      ``librosa.filters.get_window(window, win_length, fftbins=True)``). A NumPy constant, so it
      can be passed back as ``window=`` and costs nothing inside ``jit``.
    """
    return _window(window, win_length, fn="get_window")


def _window(window: WindowSpec, win_length: int, *, fn: str) -> np.ndarray:
    """:func:`get_window`, with errors naming the calling public function ``fn``."""
    win_length = _checks.static_int(fn, "win_length", win_length, minimum=1)
    if isinstance(window, str):
        key = window.lower()
        if key not in _NAMED:
            if key in _PARAMETRIC:
                raise ValueError(f"{fn}: window {window!r} needs a parameter; pass a tuple such as ({window!r}, 8.0)")
            raise ValueError(
                f"{fn}: unknown window {window!r}; allowed names are {', '.join(WINDOW_NAMES)}, "
                f"a tuple such as ('kaiser', 8.0), or an array of length win_length"
            )
        return _cached(key, win_length)
    if isinstance(window, tuple):
        if not window or not isinstance(window[0], str) or window[0].lower() not in _PARAMETRIC + tuple(_NAMED):
            raise ValueError(f"{fn}: unknown window {window!r}; a tuple must start with one of {', '.join(_PARAMETRIC)}")
        if not all(isinstance(p, numbers.Real) for p in window[1:]):
            raise TypeError(f"{fn}: window parameters must be static numbers, got {window!r}")
        try:
            return _cached((window[0].lower(),) + tuple(float(p) for p in window[1:]), win_length)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{fn}: invalid window {window!r}: {err}") from None
    if _checks.is_traced(window):
        raise TypeError(f"{fn}: window must be concrete (a NumPy array or a name), got a traced array; "
                        "close over it or pass it as a NumPy constant")
    if callable(window):
        w = np.asarray(window(win_length), dtype=np.float64)
    elif isinstance(window, (np.ndarray, jax.Array, list)):
        w = np.asarray(window, dtype=np.float64)
    else:
        raise TypeError(f"{fn}: window must be a name, a (name, param) tuple, an array or a callable, got {type(window).__name__}")
    if w.ndim != 1 or w.shape[0] != win_length:
        raise ValueError(f"{fn}: window array must have shape ({win_length},) to match win_length, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{fn}: window array must be finite")
    return w


def pad_center(w: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 1-D window symmetrically to ``size`` (extra sample on the right), like librosa."""
    lpad = (size - w.shape[0]) // 2
    return np.pad(w, (lpad, size - w.shape[0] - lpad))


def frame_window(window: WindowSpec, *, n_fft: int, win_length: int, fn: str) -> np.ndarray:
    """The analysis window of length ``win_length`` centred in an ``n_fft`` frame (NumPy float64)."""
    return pad_center(_window(window, win_length, fn=fn), n_fft)


def window_sumsquare(w: np.ndarray, n_frames: int, hop_length: int) -> np.ndarray:
    """Sum of squared, shifted windows: the envelope that ``istft`` divides by (NumPy float64).

    ``w`` is the window already centred in its ``n_fft`` frame; the result has length
    ``n_fft + hop_length * (n_frames - 1)``.
    """
    L = w.shape[0]
    n = n_frames
    q = -(-L // hop_length)
    w2 = np.zeros(q * hop_length)
    w2[:L] = w * w
    blocks = w2.reshape(q, hop_length)
    out = np.zeros((n + q - 1, hop_length))
    for k in range(q):
        out[k:k + n] += blocks[k]
    return out.reshape(-1)[: L + hop_length * (n - 1)]


def nola_min(w: np.ndarray, hop_length: int) -> float:
    """Minimum over one hop period of the steady-state window-sum-square (0 means NOLA fails)."""
    L = w.shape[0]
    q = -(-L // hop_length)
    w2 = np.zeros(q * hop_length)
    w2[:L] = w * w
    return float(w2.reshape(q, hop_length).sum(axis=0).min())


def frame_lengths(fn: str, n_fft, win_length) -> tuple[int, int]:
    """Validate ``n_fft`` then ``win_length`` (default ``n_fft``, at most ``n_fft``)."""
    n_fft = _checks.static_int(fn, "n_fft", n_fft, minimum=1)
    win_length = _checks.static_int(fn, "win_length", win_length, minimum=1, allow_none=True)
    if win_length is None:
        win_length = n_fft
    if win_length > n_fft:
        raise ValueError(f"{fn}: win_length must be <= n_fft ({n_fft}), got {win_length}")
    return n_fft, win_length


def _stft_params(fn: str, n_fft, hop_length, win_length, tol) -> tuple[int, int, int, float]:
    """Validate ``check_nola``/``check_cola``'s arguments, ``n_fft`` first (``win_length`` defaults to it)."""
    n_fft, win_length = frame_lengths(fn, n_fft, win_length)
    hop_length = _checks.static_int(fn, "hop_length", hop_length, minimum=1)
    tol = _checks.static_float(fn, "tol", tol, minimum=0.0)
    return n_fft, hop_length, win_length, tol


def check_nola(window: WindowSpec, *, n_fft: int, hop_length: int, win_length: int | None = None, tol: float = 1e-10) -> bool:
    """True when the window and hop satisfy the nonzero-overlap-add (NOLA) condition.

    NOLA is what ``istft`` needs to invert ``stft``: the sum of squared, shifted windows must be
    nonzero everywhere (scipy.signal.check_NOLA's criterion on the squared window).

    Args:
      window: window spec, as in :func:`get_window`.
      n_fft: frame size (static int >= 1).
      hop_length: hop in samples (static int >= 1).
      win_length: window length (static, ``<= n_fft``), default ``n_fft``.
      tol: relative tolerance on the smallest envelope value (>= 0).

    Returns:
      ``bool``.
    """
    n_fft, hop_length, win_length, tol = _stft_params("check_nola", n_fft, hop_length, win_length, tol)
    w = frame_window(window, n_fft=n_fft, win_length=win_length, fn="check_nola")
    return nola_min(w, hop_length) > tol * float(np.max(w * w, initial=0.0))


def check_cola(window: WindowSpec, *, n_fft: int, hop_length: int, win_length: int | None = None, tol: float = 1e-10) -> bool:
    """True when the window overlap-adds to a constant (COLA) at this hop.

    Args:
      window: window spec, as in :func:`get_window`.
      n_fft: frame size (static int >= 1).
      hop_length: hop in samples (static int >= 1).
      win_length: window length (static, ``<= n_fft``), default ``n_fft``.
      tol: relative tolerance on the deviation from a constant (>= 0).

    Returns:
      ``bool``.
    """
    n_fft, hop_length, win_length, tol = _stft_params("check_cola", n_fft, hop_length, win_length, tol)
    w = frame_window(window, n_fft=n_fft, win_length=win_length, fn="check_cola")
    q = -(-n_fft // hop_length)
    buf = np.zeros(q * hop_length)
    buf[:n_fft] = w
    s = buf.reshape(q, hop_length).sum(axis=0)
    return float(np.max(np.abs(s - s.mean()))) <= tol * max(1.0, abs(float(s.mean())))
