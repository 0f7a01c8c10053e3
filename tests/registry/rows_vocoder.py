"""Registry rows for jaxspec.vocoder and jaxspec.griffin_lim."""

import functools

import numpy as np

import jaxspec as js

from . import Row, cplx, real

N_FFT, HOP, N = 64, 16, 320
FREQ, T = N_FFT // 2 + 1, 1 + N // HOP


def _rate(r, b, d):
    """Per-example rates in [0.7, 1.6) with batch shape ``b``."""
    return (0.7 + 0.9 * r.random(b)).astype(d)


def _mag(r, b, d):
    return np.abs(real(r, b + (FREQ, T), d))


ROWS = [
    Row("phase_vocoder", functools.partial(js.phase_vocoder, rate=1.3, hop_length=HOP),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d),), id="phase_vocoder-static"),
    Row("phase_vocoder", lambda S, rate: js.phase_vocoder(S, rate, n_frames=T),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), _rate(r, b, d)),
        grad_argnums=(0, 1), zero_argnums=(0,), id="phase_vocoder-traced"),
    Row("phase_vocoder", lambda S, rate: js.phase_vocoder(S, rate, n_frames=T, phase_locking="identity"),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), _rate(r, b, d)),
        grad_argnums=(0, 1), zero_argnums=(0,), id="phase_vocoder-locked"),
    Row("resample", functools.partial(js.resample, orig_sr=16000, target_sr=12000),
        lambda r, b, d: (real(r, b + (N,), d),)),
    Row("resample_fixed", lambda x, ratio: js.resample_fixed(x, ratio, length=N),
        lambda r, b, d: (real(r, b + (N,), d), _rate(r, b, d)),
        grad_argnums=(0, 1), zero_argnums=(0,)),
    Row("time_stretch", functools.partial(js.time_stretch, rate=0.8, n_fft=N_FFT),
        lambda r, b, d: (real(r, b + (N,), d),), id="time_stretch-static"),
    Row("time_stretch", lambda x, rate: js.time_stretch(x, rate, n_fft=N_FFT, length=N),
        lambda r, b, d: (real(r, b + (N,), d), _rate(r, b, d)),
        grad_argnums=(0, 1), zero_argnums=(0,), id="time_stretch-traced"),
    Row("pitch_shift", functools.partial(js.pitch_shift, n_steps=2.0, n_fft=N_FFT),
        lambda r, b, d: (real(r, b + (N,), d),), id="pitch_shift-static"),
    Row("pitch_shift", lambda x, s: js.pitch_shift(x, s, n_fft=N_FFT),
        lambda r, b, d: (real(r, b + (N,), d), (4 * r.random(b) - 2).astype(d)),
        grad_argnums=(0, 1), id="pitch_shift-traced"),
]

ROWS += [
    Row("griffin_lim", lambda key, m: js.griffin_lim(m, n_iter=3, hop_length=HOP, key=key),
        lambda r, b, d: (_mag(r, b, d),), random=True, id="griffin_lim-random"),
    Row("griffin_lim", lambda m, ph: js.griffin_lim(m, n_iter=3, hop_length=HOP, init_phase=ph, momentum=0.5),
        lambda r, b, d: (_mag(r, b, d), real(r, b + (FREQ, T), d)), grad_argnums=(0,), id="griffin_lim-init_phase"),
]
