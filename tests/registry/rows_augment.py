"""Registry rows for jaxspec.augment: gain, SpecAugment, EQ, reverb, synthetic RIRs, time stretch, chain."""

import functools

import numpy as np

import jaxspec as js

from . import Row, cplx, real

N, L = 400, 64         # waveform samples, RIR taps
FREQ, T = 33, 26       # STFT of n_fft=64, hop 16
SR = 8000


def _wave(r, b, d):
    return (real(r, b + (N,), d),)


def _spec(r, b, d):
    return (cplx(r, b + (FREQ, T), d),)


def _masks(r, b, d):
    ts = r.integers(0, T, b + (2,))
    tw = r.integers(0, 6, b + (2,))
    fs = r.integers(0, FREQ, b + (2,))
    fw = r.integers(0, 6, b + (2,))
    return cplx(r, b + (FREQ, T), d), ts, tw, fs, fw


def _rir(r, b, d):
    h = real(r, b + (L,), d) * np.exp(-np.arange(L) / 10.0).astype(d)
    return (h.astype(d),)


def _reverb_stage(key, x):
    return js.reverb(x, js.synthetic_rir(key, sr=SR, rt60=0.05, length=L, drr_db=3.0), align=True)


ROWS = [
    Row("gain", js.gain, lambda r, b, d: (real(r, b + (N,), d), (3.0 * real(r, b, d)).astype(d)), grad_argnums=(0, 1)),
    Row("random_gain", functools.partial(js.random_gain, min_db=-6.0, max_db=6.0), _wave, random=True),
    Row("gain", js.gain, lambda r, b, d: (cplx(r, b + (FREQ, T), d), (3.0 * real(r, b, d)).astype(d)),
        grad_argnums=(0, 1), id="gain-stft"),
    Row("random_gain", functools.partial(js.random_gain, return_params=True), _spec, random=True, id="random_gain-stft"),
    Row("spec_augment", js.spec_augment, _masks),
    Row("random_spec_augment", functools.partial(js.random_spec_augment, max_time_width=5, max_freq_width=4),
        _spec, random=True),
    Row("eq", js.eq, lambda r, b, d: (cplx(r, b + (FREQ, T), d), (3.0 * real(r, b + (FREQ,), d)).astype(d)),
        grad_argnums=(0, 1)),
    Row("eq_curve", functools.partial(js.eq_curve, n_freq=FREQ), lambda r, b, d: (real(r, b + (6,), d),)),
    Row("random_eq", functools.partial(js.random_eq, n_points=6, max_db=6.0), _spec, random=True),
    Row("random_eq", functools.partial(js.random_eq, return_params=True), _spec, random=True, id="random_eq-params"),
    Row("reverb", js.reverb, lambda r, b, d: (real(r, b + (N,), d),) + _rir(r, b, d), grad_argnums=(0, 1)),
    Row("reverb", functools.partial(js.reverb, align=True), lambda r, b, d: (real(r, b + (N,), d),) + _rir(r, b, d),
        grad_argnums=(0, 1), id="reverb-align"),
    # rt60 must be positive (a concrete 0 raises), so the all-zeros check does not apply
    Row("synthetic_rir", lambda key, rt60: js.synthetic_rir(key, sr=SR, rt60=rt60, length=L),
        lambda r, b, d: ((0.05 + 0.1 * np.abs(real(r, b, d))).astype(d),), random=True, zeros=False),
    Row("synthetic_rir", lambda key, rt60, drr: js.synthetic_rir(key, sr=SR, rt60=rt60, length=L, drr_db=drr),
        lambda r, b, d: ((0.05 + 0.1 * np.abs(real(r, b, d))).astype(d), (5.0 * real(r, b, d)).astype(d)),
        random=True, zero_argnums=(1,), grad_argnums=(0, 1), id="synthetic_rir-drr"),  # drr_db = 0 dB is valid
    Row("early_rir", functools.partial(js.early_rir, sr=SR, early_ms=2.0, fade_ms=1.0), _rir),
    Row("random_time_stretch", functools.partial(js.random_time_stretch, n_fft=64, hop_length=16), _spec,
        random=True, atol=1e-4, rtol=1e-4),
    Row("chain", js.chain(js.random_gain, js.maybe(functools.partial(js.random_gain, min_db=-3.0, max_db=3.0), 0.5),
                          _reverb_stage), _wave, random=True, atol=1e-4, rtol=1e-4),
    Row("maybe", js.maybe(js.random_gain, 0.5), _wave, random=True),
    Row("maybe", js.maybe(functools.partial(js.random_spec_augment, max_time_width=5), 0.7, event_ndim=2), _spec,
        random=True, id="maybe-stft"),
]
