"""Registry rows for the features issue: dB scales, compression, channels (jaxspec.spectral),
mel features (jaxspec.mel), splicing and normalisation (jaxspec.features)."""

import functools

import numpy as np

import jaxspec as js

from . import Row, cplx, real

SR, N_FFT, T = 8000, 64, 9
FREQ = N_FFT // 2 + 1
N_MELS = 16


def _spec(r, b, d):
    return (cplx(r, b + (FREQ, T), d),)


def _pos(r, b, d):
    return (np.abs(real(r, b + (FREQ, T), d)),)


def _hz(r, b, d):
    return ((4000.0 * np.abs(real(r, b + (7,), d))).astype(d),)


def _mels(r, b, d):
    return ((20.0 * np.abs(real(r, b + (7,), d))).astype(d),)


ROWS = [
    Row("power_to_db", js.power_to_db, _pos),
    Row("power_to_db", functools.partial(js.power_to_db, ref="max", top_db=None), _pos, id="power_to_db-refmax"),
    Row("amplitude_to_db", js.amplitude_to_db, _spec),
    Row("amplitude_to_db", functools.partial(js.amplitude_to_db, top_db=20.0), _pos, id="amplitude_to_db-real"),
    Row("db_to_power", js.db_to_power, lambda r, b, d: (real(r, b + (FREQ, T), d, 10.0),)),
    Row("db_to_amplitude", js.db_to_amplitude, lambda r, b, d: (real(r, b + (FREQ, T), d, 10.0),)),
    Row("compress", js.compress, _spec),
    Row("compress", functools.partial(js.compress, power=0.5), lambda r, b, d: (real(r, b + (FREQ, T), d),),
        id="compress-real"),
    Row("decompress", js.decompress, _spec),
    Row("to_channels", js.to_channels, _spec),
    Row("from_channels", js.from_channels, lambda r, b, d: (real(r, b + (2, FREQ, T), d),)),
    Row("hz_to_mel", js.hz_to_mel, _hz),
    Row("hz_to_mel", functools.partial(js.hz_to_mel, htk=True), _hz, id="hz_to_mel-htk"),
    Row("mel_to_hz", js.mel_to_hz, _mels),
    Row("mel_to_hz", functools.partial(js.mel_to_hz, htk=True), lambda r, b, d: ((100.0 * np.abs(real(r, b + (7,), d))).astype(d),),
        id="mel_to_hz-htk"),
    Row("mel_frequencies", lambda: js.mel_frequencies(n_mels=N_MELS, fmax=SR / 2), kind="static"),
    Row("mel_filterbank", lambda: js.mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS), kind="static"),
    Row("mel_spectrogram", functools.partial(js.mel_spectrogram, sr=SR, n_mels=N_MELS), _spec),
    Row("mel_spectrogram", functools.partial(js.mel_spectrogram, sr=SR, n_mels=N_MELS, power=1.0, htk=True, norm=None),
        _spec, id="mel_spectrogram-p1-htk"),
    Row("log_mel", functools.partial(js.log_mel, sr=SR, n_mels=N_MELS), _spec, atol=1e-4),
    Row("mfcc", functools.partial(js.mfcc, sr=SR, n_mels=N_MELS, n_mfcc=8), _spec, atol=1e-4),
    Row("splice", functools.partial(js.splice, left=2, right=1), lambda r, b, d: (real(r, b + (5, T), d),)),
    Row("splice", functools.partial(js.splice, left=1, right=3, pad="reflect"), lambda r, b, d: (real(r, b + (5, T), d),),
        id="splice-reflect"),
    Row("normalize", js.normalize, lambda r, b, d: (real(r, b + (5, T), d),)),
    Row("normalize", functools.partial(js.normalize, axis=(-2, -1)), lambda r, b, d: (real(r, b + (5, T), d),),
        id="normalize-utterance"),
]
