"""Reference implementations with their conventions pinned in one place.

librosa: ``librosa.stft(y, n_fft, hop_length, win_length, window, center, pad_mode)`` returns
``(..., 1 + n_fft // 2, frames)``, unscaled, periodic window; ``librosa.istft`` divides by the
window-sum-square wherever it exceeds ``tiny``. torch: ``torch.stft(..., return_complex=True)``
with ``center``/``pad_mode`` and a periodic ``torch.hann_window``; unscaled unless normalized.
"""

from __future__ import annotations

import numpy as np


def librosa_stft(x, *, n_fft, hop_length, win_length=None, window="hann", center=True, pad_mode="constant"):
    import librosa

    return librosa.stft(np.asarray(x), n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                        window=window, center=center, pad_mode=pad_mode)


def librosa_istft(S, *, n_fft, hop_length, win_length=None, window="hann", center=True, length=None):
    import librosa

    return librosa.istft(np.asarray(S), n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                         window=window, center=center, length=length)


def envelope_mask(*, n_fft, hop_length, win_length, window, n_frames, center, length, rel=1e-3):
    """Samples where the window-sum-square envelope is >= ``rel`` of its max (well conditioned).

    Where the envelope is tiny (``center=False`` edges, near-NOLA hops) every implementation
    divides rounding noise by it; parity and round-trip errors are only meaningful elsewhere.
    """
    from jaxspec.windows import frame_window, window_sumsquare

    w = frame_window(window, n_fft=n_fft, win_length=win_length or n_fft, fn="test")
    env = window_sumsquare(w, n_frames, hop_length)
    start = n_fft // 2 if center else 0
    env = env[start:start + length]
    env = np.pad(env, (0, length - env.shape[0]))
    return env >= rel * env.max()


def definition_stft(x, *, n_fft, hop_length, win_length=None, window="hann", center=True, pad_mode="constant"):
    """The STFT by its definition in NumPy: pad the whole signal, frame, window, rfft.

    Used where librosa departs from its own definition: librosa >= 0.10 computes the frames that
    touch the padding separately, and for ``pad_mode="reflect"`` with a window that does not
    vanish at its ends (e.g. hamming) its *last* frame differs from padding-then-framing
    (seen with librosa 0.11: n_fft=256, hop=160, hamming, 2400 samples; torch.stft agrees with the
    definition).
    """
    from jaxspec.windows import frame_window

    x = np.asarray(x)
    w = frame_window(window, n_fft=n_fft, win_length=win_length or n_fft, fn="test")
    if center:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode=pad_mode)
    n = 1 + (x.shape[-1] - n_fft) // hop_length
    frames = np.stack([x[..., t * hop_length: t * hop_length + n_fft] for t in range(n)], axis=-2)
    return np.swapaxes(np.fft.rfft(frames * w, axis=-1), -1, -2)
