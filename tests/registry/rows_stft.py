"""Registry rows for jaxspec.stft, jaxspec.windows and jaxspec.spectral."""

import functools

import numpy as np

import jaxspec as js

from . import Row, cplx, real

N_FFT, HOP, N = 64, 16, 400
FREQ, T = N_FFT // 2 + 1, 1 + N // HOP

ROWS = [
    Row("stft", functools.partial(js.stft, n_fft=N_FFT, hop_length=HOP),
        lambda r, b, d: (real(r, b + (N,), d),)),
    Row("stft", functools.partial(js.stft, n_fft=N_FFT, hop_length=20, win_length=50, center=False, window="hamming"),
        lambda r, b, d: (real(r, b + (N,), d),), id="stft-nocenter-hop20"),
    Row("istft", functools.partial(js.istft, n_fft=N_FFT, hop_length=HOP, length=N),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d),)),
    Row("stft", functools.partial(js.stft, n_fft=N_FFT, hop_length=HOP, win_length=48, fft_impl="matmul"),
        lambda r, b, d: (real(r, b + (N,), d),), id="stft-matmul"),
    Row("istft", functools.partial(js.istft, n_fft=N_FFT, hop_length=HOP, length=N, normalized=True, fft_impl="matmul"),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d),), id="istft-matmul"),
    Row("frame", functools.partial(js.frame, frame_length=N_FFT, hop_length=HOP),
        lambda r, b, d: (real(r, b + (N,), d),)),
    Row("overlap_add", functools.partial(js.overlap_add, hop_length=HOP),
        lambda r, b, d: (real(r, b + (T, N_FFT), d),)),
    Row("magnitude", js.magnitude, lambda r, b, d: (cplx(r, b + (FREQ, T), d),)),
    Row("phase", js.phase, lambda r, b, d: (cplx(r, b + (FREQ, T), d),)),
    Row("power", js.power, lambda r, b, d: (cplx(r, b + (FREQ, T), d),)),
    Row("polar", js.polar, lambda r, b, d: (np.abs(real(r, b + (FREQ, T), d)), real(r, b + (FREQ, T), d)),
        grad_argnums=(0, 1)),
    Row("n_frames", lambda: js.n_frames(N, n_fft=N_FFT, hop_length=HOP), kind="static"),
    Row("frequencies", lambda: js.frequencies(sr=16000, n_fft=N_FFT), kind="static"),
    Row("frame_times", lambda: js.frame_times(T, sr=16000, hop_length=HOP), kind="static"),
    Row("get_window", lambda: js.get_window("hann", win_length=N_FFT), kind="static"),
    Row("check_nola", lambda: js.check_nola("hann", n_fft=N_FFT, hop_length=HOP), kind="static"),
    Row("check_cola", lambda: js.check_cola("hann", n_fft=N_FFT, hop_length=HOP), kind="static"),
]
