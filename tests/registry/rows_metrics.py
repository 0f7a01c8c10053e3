"""Registry rows for jaxspec.metrics: SNR family, losses, STOI. (pesq is host-side: EXEMPT in test_api.)"""

import functools

import jaxspec as js

from . import Row, cplx, real

N = 400
FREQ, T = 33, 26
N_STOI = 4600  # at 10 kHz: 34 frames, enough for 4 segments of 30


def _pair(r, b, d):
    s = real(r, b + (N,), d)
    return s, (s + 0.5 * real(r, b + (N,), d)).astype(d)


def _spec_pair(r, b, d):
    S = cplx(r, b + (FREQ, T), d)
    return S, (S + 0.5 * cplx(r, b + (FREQ, T), d)).astype(S.dtype)


def _stoi_pair(r, b, d):
    s = real(r, b + (N_STOI,), d)
    return s, (s + real(r, b + (N_STOI,), d)).astype(d)


ROWS = [
    Row("snr", js.snr, _pair, grad_argnums=(0, 1)),
    Row("si_sdr", js.si_sdr, _pair, grad_argnums=(0, 1)),
    Row("si_sdr", functools.partial(js.si_sdr, zero_mean=True), _pair, grad_argnums=(0, 1), id="si_sdr-zero_mean"),
    Row("segmental_snr", functools.partial(js.segmental_snr, frame_length=64, hop_length=32), _pair, grad_argnums=(0, 1)),
    Row("si_sdr_loss", js.si_sdr_loss, _pair, grad_argnums=(0, 1)),
    Row("compressed_spectral_mse", js.compressed_spectral_mse, _spec_pair, grad_argnums=(0, 1)),
    Row("multi_resolution_stft_loss",
        functools.partial(js.multi_resolution_stft_loss, fft_sizes=(64, 32), hop_sizes=(16, 8), win_lengths=(64, 24)),
        _pair, grad_argnums=(0, 1), atol=1e-4, rtol=1e-4),
    Row("stoi", functools.partial(js.stoi, sr=10000), _stoi_pair, grad_argnums=(0, 1), atol=1e-4, rtol=1e-4),
    # 10 kHz input skips the resampler here (it is tested under jit in tests/test_metrics.py) to keep
    # the eager reference call of the jit-vs-eager check cheap
    Row("stoi", functools.partial(js.stoi, sr=10000, extended=True), _stoi_pair, grad_argnums=(1,),
        atol=1e-4, rtol=1e-4, id="estoi"),
]

ROWS += [
    Row("spectral_convergence", js.spectral_convergence, _spec_pair, grad_argnums=(0, 1)),
]
