"""Mel scale, filterbank and mel/log-mel/MFCC features: parity with librosa, caching, errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

import jaxspec as js
from jaxspec import mel as mel_mod

# (sr, n_fft, n_mels, fmin, fmax, htk, norm): slaney and HTK scales, slaney / None / L^p norms,
# band limits, odd n_fft.
FB_CASES = [
    (16000, 512, 40, 0.0, None, False, "slaney"),
    (22050, 2048, 128, 0.0, None, False, "slaney"),
    (16000, 400, 64, 20.0, 7600.0, True, None),
    (8000, 256, 32, 50.0, 3800.0, True, "slaney"),
    (44100, 1023, 80, 30.0, 16000.0, False, None),
    (16000, 512, 40, 0.0, 8000.0, False, 2.0),
    (16000, 512, 24, 100.0, 6000.0, True, np.inf),
]


def _rel_err(ours, ref):
    return float(np.max(np.abs(np.asarray(ours, np.float64) - ref)) / np.max(np.abs(ref)))


@pytest.mark.parametrize("case", FB_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}-htk{c[5]}-{c[6]}" for c in FB_CASES])
def test_mel_filterbank_matches_librosa(case):
    sr, n_fft, n_mels, fmin, fmax, htk, norm = case
    ours = np.asarray(js.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm))
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                              dtype=np.float64)
    assert ours.shape == (n_mels, n_fft // 2 + 1) and ours.dtype == np.float32
    assert _rel_err(ours, ref) <= 1e-4
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())


def test_hz_mel_conversions_match_librosa_and_invert():
    f = np.array([0.0, 20.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0], np.float32)
    for htk in (False, True):
        m = np.asarray(js.hz_to_mel(f, htk=htk))
        np.testing.assert_allclose(m, librosa.hz_to_mel(f.astype(np.float64), htk=htk), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(js.mel_to_hz(m, htk=htk)), f, rtol=1e-5, atol=1e-3)
    assert float(js.hz_to_mel(1000)) == pytest.approx(15.0)  # integers are accepted
    np.testing.assert_allclose(np.asarray(js.mel_frequencies(n_mels=10, fmin=50.0, fmax=7000.0, htk=True)),
                               librosa.mel_frequencies(n_mels=10, fmin=50.0, fmax=7000.0, htk=True), rtol=1e-6)


def test_filterbank_is_cached_and_constant_under_jit():
    mel_mod._filterbank.cache_clear()
    js.mel_filterbank(sr=16000, n_fft=256, n_mels=20)
    js.mel_filterbank(sr=16000, n_fft=256, n_mels=20)
    info = mel_mod._filterbank.cache_info()
    assert info.misses == 1 and info.hits == 1
    w, _ = mel_mod._filterbank(16000.0, 256, 20, 0.0, 8000.0, False, "slaney")
    assert not w.flags.writeable  # the cached constant cannot be corrupted by a caller


def _stft_pair(rng, n_fft=512, hop=128, batch=(2,), n=4000):
    x = rng.uniform(-1, 1, batch + (n,)).astype(np.float32)
    S = np.asarray(jax.jit(functools.partial(js.stft, n_fft=n_fft, hop_length=hop))(x))
    return x, S


_mel_jit = jax.jit(functools.partial(js.mel_spectrogram, sr=16000, n_mels=40))


def test_mel_spectrogram_matches_librosa_from_the_stft(rng):
    x, S = _stft_pair(rng)
    ours = np.asarray(_mel_jit(S))
    assert ours.shape == (2, 40, S.shape[-1]) and ours.dtype == np.float32
    for b in range(2):
        ref = librosa.feature.melspectrogram(S=np.abs(S[b]) ** 2, sr=16000, n_fft=512, n_mels=40)
        assert _rel_err(ours[b], ref) <= 1e-5
    # magnitude (power=1), HTK, no norm, odd n_fft given explicitly
    S1 = S[0, :-1]  # any complex array with n_fft // 2 + 1 = 256 rows stands for an odd-size STFT
    ours1 = jax.jit(functools.partial(js.mel_spectrogram, sr=16000, n_mels=30, power=1.0, htk=True, norm=None,
                                      fmin=60.0, fmax=7000.0, n_fft=511))(S1)
    ref1 = librosa.feature.melspectrogram(S=np.abs(S1), sr=16000, n_fft=511, n_mels=30, power=1.0, htk=True, norm=None,
                                          fmin=60.0, fmax=7000.0)
    assert _rel_err(ours1, ref1) <= 1e-5


def test_log_mel_and_mfcc_match_librosa(rng):
    _, S = _stft_pair(rng, batch=(1,))
    S = S[0]
    mel = librosa.feature.melspectrogram(S=np.abs(S) ** 2, sr=16000, n_fft=512, n_mels=40)
    L_ref = librosa.power_to_db(mel)
    L = np.asarray(jax.jit(functools.partial(js.log_mel, sr=16000, n_mels=40))(S))
    np.testing.assert_allclose(L, L_ref, atol=1e-3)
    M = np.asarray(jax.jit(functools.partial(js.mfcc, sr=16000, n_mels=40, n_mfcc=13, lifter=22.0))(S))
    M_ref = librosa.feature.mfcc(S=L_ref, n_mfcc=13, lifter=22)
    np.testing.assert_allclose(M, M_ref, atol=2e-3 * np.abs(M_ref).max())


def test_mel_of_a_mixture_stft_needs_no_waveform(rng):
    """Mel features of clean + noise are computed from the summed STFTs (linearity of the STFT)."""
    clean, noise = (rng.uniform(-1, 1, (2, 4000)).astype(np.float32) for _ in range(2))
    stft = jax.jit(functools.partial(js.stft, n_fft=512, hop_length=128))
    Sm = stft(clean) + stft(noise)
    direct = _mel_jit(stft(clean + noise))
    np.testing.assert_allclose(np.asarray(_mel_jit(Sm)), np.asarray(direct), rtol=1e-4, atol=1e-3)


def test_mel_warnings_and_errors():
    with pytest.warns(UserWarning, match="mel_filterbank: some of the n_mels=128 mel filters are empty"):
        js.mel_filterbank(sr=16000, n_fft=128, n_mels=128)
    with pytest.raises(ValueError, match=r"mel_filterbank: fmax must be > fmin \(4000.0\), got fmax=3000.0"):
        js.mel_filterbank(sr=16000, n_fft=512, fmin=4000.0, fmax=3000.0)
    with pytest.raises(ValueError, match="mel_filterbank: norm must be 'slaney', None or a positive number"):
        js.mel_filterbank(sr=16000, n_fft=512, norm="htk")
    with pytest.raises(ValueError, match="mel_filterbank: sr must be > 0.0, got 0.0"):
        js.mel_filterbank(sr=0, n_fft=512)
    S = np.ones((2, 257, 4), np.complex64)
    with pytest.raises(ValueError, match=r"mel_spectrogram: n_fft=510 expects S.shape\[-2\] == 256"):
        js.mel_spectrogram(S, sr=16000, n_fft=510)
    with pytest.raises(TypeError, match="mel_spectrogram: n_mels fixes an output shape"):
        jax.jit(lambda s, n: js.mel_spectrogram(s, sr=16000, n_mels=n))(S, 40)
    with pytest.raises(ValueError, match=r"mfcc: n_mfcc must be <= n_mels \(20\), got 40"):
        js.mfcc(S, sr=16000, n_mels=20, n_mfcc=40)
    with pytest.raises(ValueError, match=r"mel_spectrogram: S must have shape \(\.\.\., freq, frames\)"):
        js.mel_spectrogram(S[0, :, 0], sr=16000)


def test_fmax_above_nyquist_is_an_error_naming_fmax():
    with pytest.raises(ValueError, match=r"mel_filterbank: fmax must be <= sr / 2 = 8000 Hz .* got fmax=10000"):
        js.mel_filterbank(sr=16000, n_fft=512, fmax=10000)
    S = np.ones((257, 3), np.complex64)
    with pytest.raises(ValueError, match=r"mel_spectrogram: fmax must be <= sr / 2 = 8000 Hz"):
        js.mel_spectrogram(S, sr=16000, fmax=8000.5)
    assert js.mel_filterbank(sr=16000, n_fft=512, n_mels=40, fmax=8000).shape == (40, 257)  # the edge is allowed


@pytest.mark.parametrize("bad,err", [(None, TypeError), ("abc", TypeError), (["a"], TypeError), (True, TypeError)])
def test_hz_to_mel_rejects_non_numbers(bad, err):
    with pytest.raises(err, match="hz_to_mel: frequencies must be"):
        js.hz_to_mel(bad)
