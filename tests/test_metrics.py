"""Metrics and losses: closed-form parity, pystoi parity on speech, auraloss's definition, finite
gradients at zeros and at identical inputs, pesq on the host, and bad input."""

from __future__ import annotations

import functools
import glob
import os
import warnings

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

import jaxspec as js
from jaxspec import metrics

SPEECH = sorted(glob.glob(os.path.join(os.path.dirname(js.__file__), "enhance", "data", "speech", "**", "*.flac"),
                          recursive=True))


def _np_snr(s, e):
    return 10 * np.log10(np.sum(s ** 2, -1) / np.sum((s - e) ** 2, -1))


def _np_si_sdr(s, e, zero_mean=False):
    if zero_mean:
        s = s - s.mean(-1, keepdims=True)
        e = e - e.mean(-1, keepdims=True)
    a = np.sum(s * e, -1, keepdims=True) / np.sum(s * s, -1, keepdims=True)
    t = a * s
    return 10 * np.log10(np.sum(t ** 2, -1) / np.sum((e - t) ** 2, -1))


def _pair(seed=0, shape=(3, 500), noise=0.3):
    r = np.random.default_rng(seed)
    s = r.standard_normal(shape) + 0.2
    return s.astype(np.float32), (0.7 * s + noise * r.standard_normal(shape)).astype(np.float32)


# ---------------------------------------------------------------- SNR family


@pytest.mark.parametrize("zero_mean", [False, True])
def test_si_sdr_and_snr_match_closed_form(zero_mean):
    s, e = _pair()
    np.testing.assert_allclose(js.si_sdr(s, e, zero_mean=zero_mean),
                               _np_si_sdr(s.astype(np.float64), e.astype(np.float64), zero_mean), atol=1e-4)
    np.testing.assert_allclose(js.snr(s, e), _np_snr(s.astype(np.float64), e.astype(np.float64)), atol=1e-4)
    np.testing.assert_allclose(js.si_sdr_loss(s, e, zero_mean=zero_mean), -js.si_sdr(s, e, zero_mean=zero_mean))
    assert js.si_sdr(s, e).shape == (3,)


def test_si_sdr_float64(x64):
    s, e = (a.astype(np.float64) for a in _pair(1))
    out = js.si_sdr(s, e)
    assert out.dtype == jnp.float64
    np.testing.assert_allclose(out, _np_si_sdr(s, e), rtol=1e-12)


@given(scale=st.floats(min_value=1e-3, max_value=1e3) | st.floats(min_value=-1e3, max_value=-1e-3),
       seed=st.integers(0, 3))
def test_si_sdr_scale_invariant(scale, seed):
    s, e = _pair(seed, (2, 300))
    base = _jit_si_sdr(s, e)
    np.testing.assert_allclose(_jit_si_sdr(s, (scale * e).astype(np.float32)), base, atol=2e-3)


_jit_si_sdr = jax.jit(js.si_sdr)


def test_clamps_and_zero_over_zero():
    s, e = _pair(2, (2, 300))
    z = np.zeros_like(s)
    np.testing.assert_allclose(js.si_sdr(s, s), 100.0)  # perfect: +clamp_db
    np.testing.assert_allclose(js.snr(s, s), 100.0)
    np.testing.assert_allclose(js.si_sdr(z, e), -100.0)  # silent reference
    np.testing.assert_allclose(js.snr(z, e), -100.0)
    np.testing.assert_allclose(js.si_sdr(z, z), 0.0)  # 0/0
    np.testing.assert_allclose(js.snr(z, z), 0.0)
    np.testing.assert_allclose(js.si_sdr(s, s, clamp_db=30.0), 30.0)


def test_segmental_snr_matches_numpy():
    s, e = _pair(3, (2, 1000))
    fl, hop = 128, 64
    n = 1 + (1000 - fl) // hop
    ref = []
    for b in range(2):
        vals = []
        for i in range(n):
            a, d = s[b, i * hop:i * hop + fl].astype(np.float64), (s - e)[b, i * hop:i * hop + fl].astype(np.float64)
            vals.append(np.clip(10 * np.log10(np.sum(a ** 2) / np.sum(d ** 2)), -10, 35))
        ref.append(np.mean(vals))
    np.testing.assert_allclose(js.segmental_snr(s, e, frame_length=fl, hop_length=hop), ref, atol=1e-4)
    # perfect estimate: every frame at max_db; silent reference: min_db
    np.testing.assert_allclose(js.segmental_snr(s, s), 35.0)
    np.testing.assert_allclose(js.segmental_snr(np.zeros_like(s), e), -10.0)


# ---------------------------------------------------------------- losses


def _torch_mrstft(est, ref, fft_sizes, hop_sizes, win_lengths, eps=1e-8):
    """auraloss.freq.MultiResolutionSTFTLoss's definition (w_sc = w_log_mag = 1), batch of one."""
    import torch

    x, y = torch.tensor(est, dtype=torch.float64), torch.tensor(ref, dtype=torch.float64)
    total = 0.0
    for n, h, w in zip(fft_sizes, hop_sizes, win_lengths):
        win = torch.hann_window(w, dtype=torch.float64)
        X = torch.stft(x, n, h, w, win, return_complex=True)
        Y = torch.stft(y, n, h, w, win, return_complex=True)
        xm = torch.sqrt(torch.clamp(X.real ** 2 + X.imag ** 2, min=eps))
        ym = torch.sqrt(torch.clamp(Y.real ** 2 + Y.imag ** 2, min=eps))
        sc = torch.linalg.norm(ym - xm) / torch.linalg.norm(ym)
        lm = torch.nn.functional.l1_loss(torch.log(ym), torch.log(xm))
        total += sc + lm
    return float(total / len(fft_sizes))


def test_multi_resolution_stft_loss_matches_auraloss_definition():
    s, e = _pair(4, (1, 2000))
    cfg = dict(fft_sizes=(256, 512, 128), hop_sizes=(30, 60, 13), win_lengths=(150, 300, 60))
    got = jax.jit(functools.partial(js.multi_resolution_stft_loss, **cfg))(s, e)
    ref = _torch_mrstft(e[0], s[0], **cfg)
    np.testing.assert_allclose(np.asarray(got)[0], ref, rtol=2e-4)
    assert got.shape == (1,)
    np.testing.assert_allclose(jax.jit(functools.partial(js.multi_resolution_stft_loss, **cfg))(s, s), 0.0, atol=1e-6)


def test_compressed_spectral_mse_closed_form():
    r = np.random.default_rng(5)
    S = (r.standard_normal((2, 9, 7)) + 1j * r.standard_normal((2, 9, 7))).astype(np.complex64)
    E = (S + 0.4 * (r.standard_normal(S.shape) + 1j * r.standard_normal(S.shape))).astype(np.complex64)
    c, a = 0.3, 0.3
    S64, E64 = S.astype(np.complex128), E.astype(np.complex128)
    ms, me = np.abs(S64) ** c, np.abs(E64) ** c
    ref = (1 - a) * np.mean((ms - me) ** 2, (-2, -1)) + a * np.mean(
        np.abs(ms * np.exp(1j * np.angle(S64)) - me * np.exp(1j * np.angle(E64))) ** 2, (-2, -1))
    np.testing.assert_allclose(js.compressed_spectral_mse(S, E, power=c, complex_weight=a), ref, rtol=1e-4)


LOSSES = {
    "si_sdr_loss": (js.si_sdr_loss, "wave"),
    "si_sdr_loss-zero_mean": (functools.partial(js.si_sdr_loss, zero_mean=True), "wave"),
    "negative_snr": (lambda r, e: -js.snr(r, e), "wave"),
    "negative_segmental_snr": (lambda r, e: -js.segmental_snr(r, e, frame_length=64), "wave"),
    "compressed_spectral_mse": (js.compressed_spectral_mse, "spec"),
    "multi_resolution_stft_loss": (functools.partial(js.multi_resolution_stft_loss, fft_sizes=(64, 128),
                                                     hop_sizes=(16, 32), win_lengths=(64, 100)), "wave"),
    "stoi": (lambda r, e: -js.stoi(r, e, sr=10000), "stoi"),
    "estoi": (lambda r, e: -js.stoi(r, e, sr=10000, extended=True), "stoi"),
}


def _inputs(kind):
    r = np.random.default_rng(6)
    if kind == "spec":
        return (r.standard_normal((2, 17, 9)) + 1j * r.standard_normal((2, 17, 9))).astype(np.complex64)
    n = 4600 if kind == "stoi" else 512
    return r.standard_normal((2, n)).astype(np.float32)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_gradients_finite_at_zeros_and_identical_inputs(name):
    """Four cases stacked as one batch (losses are per example): both zero, identical, zero
    reference, zero estimate; one compile per loss."""
    loss, kind = LOSSES[name]
    x = _inputs(kind)
    z = np.zeros_like(x)
    ref = np.concatenate([z, x, z, x])
    est = np.concatenate([z, x, x, z])
    f = jax.jit(jax.value_and_grad(lambda a, b: jnp.sum(loss(a, b)), argnums=(0, 1)))
    val, grads = f(ref, est)
    assert np.isfinite(float(val)), f"{name}: value {val}"
    cases = ["zeros", "identical", "zero_reference", "zero_estimate"]
    for which, g in zip(("reference", "estimate"), grads):
        g = np.asarray(g).reshape((4, -1))
        for i, case in enumerate(cases):
            ok = np.all(np.isfinite(g[i].real)) and np.all(np.isfinite(g[i].imag))
            assert ok, f"{name}: non-finite gradient wrt {which} at {case}"


# ---------------------------------------------------------------- STOI vs pystoi


def _speech_pairs(n_pairs=12, length=32000):
    """Clean/noisy 16 kHz pairs from the shipped synthetic corpus, SNR -10..20 dB; every other pair
    has 0.4 s of digital silence spliced into the middle (exercises silent-frame removal)."""
    import soundfile as sf

    r = np.random.default_rng(7)
    refs, ests, snrs = [], [], np.linspace(-10, 20, n_pairs)
    for i in range(n_pairs):
        s, sr = sf.read(SPEECH[i % len(SPEECH)], dtype="float64")
        assert sr == 16000
        s = np.pad(s, (0, max(0, length - s.size)))[:length]
        if i % 2:
            s = np.concatenate([s[: length // 2], np.zeros(6400), s[length // 2:]])[:length]
        if i % 3 == 2:  # babble-like noise: another sentence
            n, _ = sf.read(SPEECH[(i + 7) % len(SPEECH)], dtype="float64")
            n = np.resize(n, length)
        else:
            n = r.standard_normal(length)
        n *= np.sqrt(np.sum(s ** 2) / np.sum(n ** 2) / 10 ** (snrs[i] / 10))
        refs.append(s)
        ests.append(s + n)
    return np.stack(refs), np.stack(ests)


@pytest.fixture(scope="module")
def speech_pairs():
    if len(SPEECH) < 2:
        pytest.skip("speech corpus missing (jaxspec/enhance/data/speech)")
    return _speech_pairs()


_jit_stoi = jax.jit(js.stoi, static_argnames=("sr", "extended"))


@pytest.mark.parametrize("extended", [False, True])
def test_stoi_matches_pystoi_on_speech(speech_pairs, extended):
    from pystoi import stoi as pystoi

    refs, ests = speech_pairs
    ours = np.asarray(_jit_stoi(refs.astype(np.float32), ests.astype(np.float32), sr=16000, extended=extended))
    same = np.asarray(_jit_stoi(refs.astype(np.float32), refs.astype(np.float32), sr=16000, extended=extended))
    np.testing.assert_allclose(same, 1.0, atol=1e-5)  # identical signals
    theirs = np.array([pystoi(r, e, 16000, extended=extended) for r, e in zip(refs, ests)])
    assert len(theirs) >= 10 and np.ptp(theirs) > 0.2  # a real spread of intelligibility
    np.testing.assert_allclose(ours, theirs, atol=0.01)
    assert np.max(np.abs(ours - theirs)) < 1e-3  # in practice float32 rounding only


@pytest.mark.parametrize("extended", [False, True])
def test_stoi_float64_equals_pystoi(speech_pairs, extended):
    """In float64 the algorithm is pystoi's to rounding: a changed step shows here, not only in float32."""
    from pystoi import stoi as pystoi

    refs, ests = (a[:4] for a in speech_pairs)
    with jax.enable_x64(True):
        ours = np.asarray(jax.jit(functools.partial(js.stoi, sr=16000, extended=extended))(refs, ests))
    theirs = np.array([pystoi(r, e, 16000, extended=extended) for r, e in zip(refs, ests)])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sr", [8000, 44100])
def test_resampler_matches_pystoi(sr):
    from pystoi.utils import resample_oct

    x = np.random.default_rng(8).standard_normal(sr // 3 + 11)
    g = np.gcd(10000, sr)
    with jax.enable_x64(True):
        got = np.asarray(metrics._resample_poly(jnp.asarray(x), 10000 // g, sr // g))
    np.testing.assert_allclose(got, resample_oct(x, 10000, sr), atol=1e-12)


def test_stoi_too_short_returns_pystoi_floor():
    r = np.random.default_rng(9)
    x = r.standard_normal((2, 3000)).astype(np.float32)  # < 30 frames at 10 kHz
    np.testing.assert_allclose(js.stoi(x, x, sr=10000), 1e-5)
    x = r.standard_normal(6000).astype(np.float32)
    x[:4000] = 0.0  # only ~15 non-silent frames remain
    from pystoi import stoi as pystoi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = pystoi(x.astype(np.float64), x.astype(np.float64), 10000)
    np.testing.assert_allclose(_jit_stoi(x, x, sr=10000), ref)


# ---------------------------------------------------------------- PESQ (host side)


def test_pesq_on_speech():
    pytest.importorskip("pesq")
    import soundfile as sf

    s, _ = sf.read(SPEECH[0], dtype="float32")
    noisy = s + 0.05 * np.random.default_rng(11).standard_normal(s.shape).astype(np.float32)
    wb = js.pesq(np.stack([s, s]), np.stack([s, noisy]), sr=16000, mode="wb")
    assert wb.shape == (2,) and wb[0] > 4.0 and 1.0 < wb[1] < wb[0]
    nb = js.pesq(s[::2], noisy[::2], sr=8000, mode="nb")
    assert nb.shape == () and 1.0 < nb < 4.6


def test_pesq_nan_and_warning_on_package_error():
    pytest.importorskip("pesq")
    z = np.zeros(16000, np.float32)
    with pytest.warns(RuntimeWarning, match="pesq: PESQ failed"):
        out = js.pesq(z, z + 1e-3, sr=16000)
    assert np.isnan(out)


def test_pesq_bad_arguments():
    x = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match="pesq: sr must be 8000 or 16000.*got 44100"):
        js.pesq(x, x, sr=44100)
    with pytest.raises(ValueError, match="pesq: mode='wb'.*sr=16000"):
        js.pesq(x, x, sr=8000, mode="wb")
    with pytest.raises(ValueError, match="pesq: mode must be one of"):
        js.pesq(x, x, sr=16000, mode="xb")
    with pytest.raises(ValueError, match="pesq: reference and estimate must have the same shape"):
        js.pesq(x, x[:-1], sr=16000)
    with pytest.raises(TypeError, match="pesq: reference is a traced value"):
        jax.jit(lambda a: js.pesq(a, a, sr=16000))(x)


# ---------------------------------------------------------------- bad input


def test_bad_input_messages():
    s, e = _pair(12, (2, 300))
    for f in (js.snr, js.si_sdr, js.si_sdr_loss, js.segmental_snr, js.multi_resolution_stft_loss):
        with pytest.raises(ValueError, match=r"reference and estimate must have the same shape, got \(2, 300\) and \(2, 299\)"):
            f(s, e[:, :-1])
    with pytest.raises(ValueError, match="stoi: reference and estimate must have the same shape"):
        js.stoi(s, e[..., :-2], sr=16000)
    with pytest.raises(TypeError, match="si_sdr: estimate must be a floating-point array, got dtype int16"):
        js.si_sdr(s, (e * 1000).astype(np.int16))
    with pytest.raises(ValueError, match="si_sdr: clamp_db must be > 0.0, got 0.0"):
        js.si_sdr(s, e, clamp_db=0.0)
    with pytest.raises(ValueError, match="stoi: sr must be a positive int, got 0"):
        js.stoi(s, e, sr=0)
    with pytest.raises(TypeError, match="stoi: sr fixes an output shape"):
        jax.jit(lambda a, sr: js.stoi(a, a, sr=sr))(s, 16000)
    with pytest.raises(ValueError, match="multi_resolution_stft_loss: fft_sizes, hop_sizes and win_lengths must have the same length"):
        js.multi_resolution_stft_loss(s, e, fft_sizes=(64, 32), hop_sizes=(16,), win_lengths=(64, 32))
    with pytest.raises(ValueError, match="multi_resolution_stft_loss: each win_length must be <= its fft_size"):
        js.multi_resolution_stft_loss(s, e, fft_sizes=(64,), hop_sizes=(16,), win_lengths=(65,))
    with pytest.raises(ValueError, match="segmental_snr: max_db must be > min_db"):
        js.segmental_snr(s, e, min_db=10.0, max_db=5.0)
    with pytest.raises(ValueError, match="compressed_spectral_mse: power must be finite and positive"):
        js.compressed_spectral_mse(s[:, None] + 0j, e[:, None] + 0j, power=0.0)
    with pytest.raises(ValueError, match="compressed_spectral_mse: complex_weight must be in"):
        js.compressed_spectral_mse(s[:, None] + 0j, e[:, None] + 0j, complex_weight=1.5)


# ----------------------------------------------------------------------------------------------
# spectral convergence


def test_spectral_convergence_matches_numpy_at_any_scale():
    r = np.random.default_rng(0)
    R = (r.standard_normal((3, 9, 7)) + 1j * r.standard_normal((3, 9, 7))).astype(np.complex64)
    E = (R + 0.3 * (r.standard_normal(R.shape) + 1j * r.standard_normal(R.shape))).astype(np.complex64)
    ref = np.linalg.norm(np.abs(R) - np.abs(E), axis=(-2, -1)) / np.linalg.norm(np.abs(R), axis=(-2, -1))
    sc = jax.jit(js.spectral_convergence)
    for scale in (1.0, 1e-30, 1e20):
        np.testing.assert_allclose(sc(R * np.float32(scale), E * np.float32(scale)), ref, rtol=1e-5)
    np.testing.assert_allclose(sc(np.abs(R), np.abs(E)), ref, rtol=1e-5)  # magnitudes work too
    np.testing.assert_allclose(sc(R, 0 * E), 1.0, rtol=1e-6)
    z = np.zeros_like(R)
    value, grads = jax.value_and_grad(lambda a, b: jnp.sum(js.spectral_convergence(a, b)), argnums=(0, 1))(z, z)
    assert value == 0 and all(np.all(np.isfinite(g)) for g in grads)
    bad = R.copy()
    bad[0, 0, 0] = np.nan
    assert np.isnan(np.asarray(sc(bad, E))[0]) and np.all(np.isfinite(np.asarray(sc(bad, E))[1:]))
    with pytest.raises(ValueError, match="spectral_convergence: reference and estimate must have the same shape"):
        js.spectral_convergence(R, E[:2])
