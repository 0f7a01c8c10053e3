"""Windows against librosa/scipy; NOLA/COLA checks against scipy."""

import numpy as np
import pytest
import scipy.signal

import jaxspec as js


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "bartlett", "boxcar", ("kaiser", 8.0), ("tukey", 0.5)])
@pytest.mark.parametrize("n", [255, 256])
def test_windows_match_librosa(window, n):
    import librosa

    np.testing.assert_allclose(js.get_window(window, win_length=n), librosa.filters.get_window(window, n, fftbins=True), atol=1e-12)


def test_aliases_and_sqrt_hann():
    np.testing.assert_array_equal(js.get_window("rectangular", win_length=8), np.ones(8))
    np.testing.assert_allclose(js.get_window("sqrt_hann", win_length=64) ** 2, js.get_window("hann", win_length=64), atol=1e-12)


@pytest.mark.parametrize("window,n_fft,hop", [("hann", 512, 128), ("hann", 512, 256), ("hamming", 400, 160),
                                              ("boxcar", 256, 300), (("kaiser", 8.0), 256, 64), ("sqrt_hann", 512, 256)])
def test_nola_cola_match_scipy(window, n_fft, hop):
    w = js.get_window(window, win_length=n_fft)
    if hop <= n_fft:
        assert js.check_nola(window, n_fft=n_fft, hop_length=hop) == scipy.signal.check_NOLA(w, n_fft, n_fft - hop)
        assert js.check_cola(window, n_fft=n_fft, hop_length=hop) == scipy.signal.check_COLA(w, n_fft, n_fft - hop)
    else:  # a hop longer than the window leaves gaps
        assert not js.check_nola(window, n_fft=n_fft, hop_length=hop)


def test_window_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"get_window: window 'kaiser' needs a parameter"):
        js.get_window("kaiser", win_length=64)
    with pytest.raises(ValueError, match=r"get_window: unknown window 'nope'"):
        js.get_window("nope", win_length=64)
    with pytest.raises(ValueError, match=r"get_window: win_length must be a positive int, got 0"):
        js.get_window("hann", win_length=0)
    with pytest.raises(ValueError, match=r"window array must have shape \(64,\)"):
        js.get_window(np.ones(10), win_length=64)


@pytest.mark.parametrize("check", [js.check_nola, js.check_cola])
def test_nola_cola_validate_their_arguments(check):
    name = check.__name__
    with pytest.raises(ValueError, match=rf"{name}: hop_length must be a positive int, got 0"):
        check("hann", n_fft=64, hop_length=0)
    with pytest.raises(ValueError, match=rf"{name}: n_fft must be a positive int, got 0"):
        check("hann", n_fft=0, hop_length=16)
    with pytest.raises(TypeError, match=rf"{name}: hop_length must be an int, got 16.0"):
        check("hann", n_fft=64, hop_length=16.0)
    with pytest.raises(ValueError, match=rf"{name}: win_length must be <= n_fft \(64\), got 128"):
        check("hann", n_fft=64, hop_length=16, win_length=128)
    with pytest.raises(ValueError, match=rf"{name}: tol must be finite, got nan"):
        check("hann", n_fft=64, hop_length=16, tol=float("nan"))
    assert check("hann", n_fft=64, hop_length=16, win_length=48) is True  # hann(48) at hop 48 / 3
