"""Registry rows for jaxspec.mixing: SNR mixing, SNR distributions, length fitting, clipping."""

import functools

import numpy as np

import jaxspec as js

from . import Row, cplx, real

N = 200          # samples per example
FREQ, T = 17, 9  # STFT-shaped inputs
_STFT = dict(n_fft=32, hop_length=8, length=64)  # istft parameters for the exact-power / peak-bound rows


def _wave2(r, b, d):
    return real(r, b + (N,), d), real(r, b + (N,), d)


def _wave2_snr(r, b, d):
    return real(r, b + (N,), d), real(r, b + (N,), d), (5.0 * real(r, b, d)).astype(d)


def _spec2_snr(r, b, d):
    return cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d), (5.0 * real(r, b, d)).astype(d)


def _param2(r, b, d):  # (location, non-negative width) per example
    return real(r, b, d), np.abs(real(r, b, d)).astype(d)


def _uniform(key, lo, width):
    return js.Uniform(lo, lo + width).sample(key, (4,) + lo.shape)


def _normal(key, mean, std):
    return js.Normal(mean, std).sample(key, (4,) + mean.shape)


def _truncnorm(key, mean, std):
    return js.TruncatedNormal(mean, std, mean - 1.0, mean + 2.0).sample(key, (4,) + mean.shape)




ROWS = [
    Row("signal_power", js.signal_power, lambda r, b, d: (real(r, b + (N,), d),)),
    Row("signal_power", functools.partial(js.signal_power, axis=(-2, -1)),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d),), id="signal_power-stft"),
    Row("snr_gain", js.snr_gain, _wave2_snr, grad_argnums=(0, 1, 2)),
    Row("mix", js.mix, _wave2_snr, grad_argnums=(0, 1, 2)),
    Row("mix", functools.partial(js.mix, axis=(-2, -1)), _spec2_snr, grad_argnums=(0, 1, 2), id="mix-stft"),
    Row("mix", functools.partial(js.mix, axis=(-2, -1), onesided=True), _spec2_snr, grad_argnums=(0, 1, 2),
        id="mix-stft-onesided"),
    Row("mix", lambda s, n, snr: js.mix(s, n, snr, powers=(1.0 + snr * snr, 2.0 + 0 * snr)), _wave2_snr,
        grad_argnums=(0, 1, 2), id="mix-powers"),
    Row("random_mix", lambda k, s, n: js.random_mix(k, s, n, js.Uniform(-5.0, 5.0)), _wave2,
        random=True, grad_argnums=(0, 1)),
    Row("random_mix", lambda k, s, n: js.random_mix(k, s, n, js.Choice([0.0, 5.0, 10.0], p=[0.2, 0.3, 0.5]),
                                                    axis=(-2, -1)),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d)),
        random=True, grad_argnums=(0, 1), id="random_mix-stft-choice"),
    Row("fit_length", lambda k, x: js.fit_length(k, x, 150), lambda r, b, d: (real(r, b + (N,), d),),
        random=True),
    Row("fit_length", lambda k, x: js.fit_length(k, x, 500), lambda r, b, d: (real(r, b + (N,), d),),
        random=True, id="fit_length-loop"),
    Row("prevent_clipping", functools.partial(js.prevent_clipping, peak=0.5), lambda r, b, d: (real(r, b + (N,), d),)),
    Row("prevent_clipping", lambda Y, bound: js.prevent_clipping(Y, bound=bound, axis=(-2, -1)),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), (0.5 + np.abs(real(r, b, d))).astype(d)),
        grad_argnums=(0, 1), id="prevent_clipping-bound-stft"),
    # exact waveform powers and the iSTFT peak bound of (possibly inconsistent) STFTs
    Row("signal_power", functools.partial(js.signal_power, axis=(-2, -1), stft=_STFT),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d),), id="signal_power-istft"),
    Row("mix", functools.partial(js.mix, axis=(-2, -1), stft=_STFT), _spec2_snr, grad_argnums=(0, 1, 2),
        id="mix-stft-exact"),
    Row("snr_gain", functools.partial(js.snr_gain, axis=(-2, -1), stft=_STFT), _spec2_snr, grad_argnums=(0, 1, 2),
        id="snr_gain-stft-exact"),
    Row("random_mix", lambda k, s, n: js.random_mix(k, s, n, js.Uniform(-5.0, 5.0), axis=(-2, -1), stft=_STFT,
                                                    return_params=True),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d)),
        random=True, grad_argnums=(0, 1), id="random_mix-stft-exact"),
    Row("prevent_clipping", lambda Y: js.prevent_clipping(Y, axis=(-2, -1), stft=_STFT, peak=0.5),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d),), id="prevent_clipping-stft"),
    Row("peak_bound", lambda S, N, k: js.peak_bound(S, N, k, axis=(-2, -1), stft=_STFT),
        lambda r, b, d: (cplx(r, b + (FREQ, T), d), cplx(r, b + (FREQ, T), d), np.abs(real(r, b, d)).astype(d)),
        grad_argnums=(0, 1, 2), id="peak_bound-stft"),
    Row("peak_bound", js.peak_bound,
        lambda r, b, d: (real(r, b + (N,), d), real(r, b + (N,), d), np.abs(real(r, b, d)).astype(d)),
        grad_argnums=(0, 1, 2)),
    # SNR distributions: parameters passed as (possibly traced) arrays; sample shape (4, *batch)
    Row("Uniform.sample", _uniform, _param2, random=True, grad_argnums=(0, 1), native_batch=False),
    Row("Normal.sample", _normal, _param2, random=True, grad_argnums=(0, 1), native_batch=False),
    Row("TruncatedNormal.sample", _truncnorm, _param2, random=True, grad_argnums=(0,), native_batch=False),
    Row("Choice.sample", lambda k, v: js.Choice(v).sample(k, (4,)), lambda r, b, d: (real(r, b + (3,), d),),
        random=True, grad_argnums=(0,), native_batch=False),
]
