"""Phase vocoder, time stretch, pitch shift and resampling: parity with librosa, traced rates, errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxspec as js

librosa = pytest.importorskip("librosa")

SR, N_FFT, HOP = 16000, 512, 128
RATES = (0.5, 0.8, 1.0, 1.25, 1.7, 2.0)


def _speechlike(n=8000, seed=0, f0=180.0):
    """A gliding harmonic tone with a little noise (deterministic)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    phase = 2 * np.pi * f0 * (t + 0.3 * t * t)
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.02 * rng.standard_normal(n)
    return (0.3 * x).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _spec():
    return librosa.stft(_speechlike(), n_fft=N_FFT, hop_length=HOP).astype(np.complex64)


# jitted entry points shared by the tests (eager op-by-op dispatch is much slower to warm up)
_pv = jax.jit(js.phase_vocoder, static_argnames=("rate", "hop_length", "n_fft", "n_frames", "phase_locking"))
_pv_tr = jax.jit(js.phase_vocoder, static_argnames=("hop_length", "n_fft", "n_frames", "phase_locking"))
_ts = jax.jit(js.time_stretch, static_argnames=("rate", "n_fft", "hop_length", "length"))
_ps = jax.jit(js.pitch_shift, static_argnames=("n_steps", "n_fft", "hop_length", "bins_per_octave"))
_rs = jax.jit(js.resample, static_argnames=("orig_sr", "target_sr"))


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


# ------------------------------------------------------------------ parity (Must show 1)


@pytest.mark.parametrize("rate", RATES)
def test_phase_vocoder_matches_librosa_complex128(rate):
    S = _spec()
    ref = librosa.phase_vocoder(S.astype(np.complex128), rate=rate, hop_length=HOP, n_fft=N_FFT)
    out = np.asarray(_pv(S, rate=rate, hop_length=HOP, n_fft=N_FFT))
    assert out.shape == ref.shape and out.dtype == np.complex64
    assert _rel(out, ref) <= 1e-4
    # phase accuracy where the magnitude is not negligible: within 1e-5 rad of the float64 reference
    m = np.abs(ref) > 1e-3 * np.abs(ref).max()
    err = np.abs(np.angle(out[m] * np.conj(ref[m])))
    assert err.max() < 1e-5, err.max()


def test_phase_vocoder_x64_matches_librosa_exactly():
    S = _spec().astype(np.complex128)
    ref = librosa.phase_vocoder(S, rate=1.3, hop_length=HOP, n_fft=N_FFT)
    with jax.enable_x64(True):
        out = _pv(jnp.asarray(S), rate=1.3)
        assert out.dtype == jnp.complex128
        assert _rel(out, ref) < 1e-12


def test_time_stretch_matches_librosa_snr():
    x = _speechlike()
    for rate in (0.8, 1.25):
        ref = librosa.effects.time_stretch(x, rate=rate, n_fft=N_FFT, hop_length=HOP)
        out = np.asarray(_ts(x, rate=rate, n_fft=N_FFT, hop_length=HOP))
        assert out.shape == ref.shape
        snr = 10 * np.log10(np.sum(ref ** 2) / np.sum((out - ref) ** 2))
        assert snr >= 40, (rate, snr)


# ------------------------------------------------------------------ traced rates (Must show 2)


@functools.partial(jax.jit, static_argnames=("n_frames", "phase_locking"))
def _pv_batch(S, rates, n_frames, phase_locking=None):
    return jax.vmap(lambda r: js.phase_vocoder(S, r, n_frames=n_frames, phase_locking=phase_locking))(rates)


def test_traced_rates_under_vmap_equal_static():
    S = _spec()
    T = S.shape[-1]
    n = 2 * T
    out = np.asarray(_pv_batch(jnp.asarray(S), jnp.asarray(RATES, jnp.float32), n))
    for i, rate in enumerate(RATES):
        ref = np.asarray(_pv(S, rate=rate))
        k = ref.shape[-1]
        assert _rel(out[i, :, :k], ref) < 1e-4, rate
        np.testing.assert_allclose(out[i, :, :k], ref, atol=2e-4 * np.abs(S).max(), rtol=0)
        assert not np.any(out[i, :, k:]), "frames past the input end must be zero"


def test_static_rate_with_n_frames_pads_and_cuts():
    S = _spec()
    full = np.asarray(_pv(S, rate=1.25))
    longer = np.asarray(_pv(S, rate=1.25, n_frames=full.shape[-1] + 7))
    shorter = np.asarray(_pv(S, rate=1.25, n_frames=10))
    np.testing.assert_array_equal(longer[:, : full.shape[-1]], full)
    assert not np.any(longer[:, full.shape[-1]:])
    np.testing.assert_array_equal(shorter, full[:, :10])


def test_rate_broadcasts_over_batch_dims():
    S = np.stack([_spec()[:, :20]] * 3)
    rates = jnp.asarray([0.9, 1.1, 1.4])
    out = _pv_tr(S, rates, n_frames=20)
    ref = _pv_batch(S[0], rates, 20)
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_grad_wrt_rate_finite_and_matches_finite_differences():
    S = _spec()[:, :30]
    w = np.random.default_rng(3).standard_normal(S.shape[:1] + (30,))
    with jax.enable_x64(True):
        S64 = jnp.asarray(S, jnp.complex128)

        def loss(rate):
            out = js.phase_vocoder(S64, rate, n_frames=30)
            return jnp.sum(jnp.real(out) * w) + jnp.sum(jnp.abs(out) ** 2 * w) * 1e-2

        rate, h = 1.0 + 1 / 7 + 0.003, 1e-6
        steps = np.arange(30) * rate
        assert np.all(np.abs(steps - np.round(steps))[1:] > 100 * h * 30)  # floors constant within +-h
        g = float(jax.jit(jax.grad(loss))(jnp.float64(rate)))
        lj = jax.jit(loss)
        fd = float((lj(jnp.float64(rate + h)) - lj(jnp.float64(rate - h))) / (2 * h))
        assert np.isfinite(g)
        assert abs(g - fd) <= 1e-5 * max(1.0, abs(fd)), (g, fd)
    g32 = jax.jit(jax.grad(lambda r: jnp.sum(jnp.abs(js.phase_vocoder(S, r, n_frames=30)))))(jnp.float32(1.3))
    assert np.isfinite(g32)


def test_grad_at_zero_spectrum_is_finite():
    g = jax.jit(jax.grad(lambda S, r: jnp.sum(jnp.real(js.phase_vocoder(S, r, n_frames=8))), argnums=(0, 1)))(jnp.zeros((5, 8), jnp.float32) + 0j, jnp.float32(1.2))
    assert all(np.all(np.isfinite(np.asarray(a))) for a in g)


# ------------------------------------------------------------------ phase locking


def test_phase_locking_rate_one_returns_input():
    S = _spec()
    out = js.phase_vocoder(S, 1.0, phase_locking="identity")  # static rate 1: the input itself
    np.testing.assert_array_equal(np.asarray(out), S)
    traced = np.asarray(_pv_batch(jnp.asarray(S), jnp.ones(1, jnp.float32), S.shape[-1], "identity"))[0]
    np.testing.assert_allclose(traced, S, atol=2e-6 * np.abs(S).max(), rtol=0)


def test_phase_locking_keeps_magnitude_and_peak_phases():
    S = _spec()
    plain = np.asarray(_pv(S, rate=1.25))
    locked = np.asarray(_pv(S, rate=1.25, phase_locking="identity"))
    np.testing.assert_allclose(np.abs(locked), np.abs(plain), rtol=1e-4, atol=1e-5)
    # peaks (strict local maxima over 2 neighbours each side) keep the standard vocoder phase
    m = np.abs(plain)
    t = m.shape[-1] // 2
    col = np.pad(m[:, t], 2, constant_values=-1)
    c = col[2:-2]
    peaks = (c > col[1:-3]) & (c > col[3:-1]) & (c >= col[:-4]) & (c >= col[4:])
    np.testing.assert_allclose(locked[peaks, t], plain[peaks, t], rtol=1e-4, atol=1e-5)
    assert not np.allclose(locked, plain, atol=1e-3)


# ------------------------------------------------------------------ time stretch and pitch shift


def test_time_stretch_traced_length_matches_static():
    x = _speechlike()
    f = jax.jit(jax.vmap(lambda r: js.time_stretch(x, r, n_fft=N_FFT, length=x.shape[-1])))
    out = np.asarray(f(jnp.asarray([1.25, 1.6], jnp.float32)))
    for i, rate in enumerate((1.25, 1.6)):
        ref = np.asarray(_ts(x, rate=rate, n_fft=N_FFT))
        n = ref.shape[-1]
        assert out.shape[-1] == x.shape[-1]
        # away from the end, where the static version's last partial frame differs
        np.testing.assert_allclose(out[i, : n - N_FFT], ref[: n - N_FFT], atol=1e-4)
        assert np.max(np.abs(out[i, n + N_FFT:])) == 0 if n + N_FFT < x.shape[-1] else True


def _f0(x, lo=80.0, hi=400.0):
    """Fundamental by the spectral peak in [lo, hi] Hz with parabolic interpolation (16x zero-padded)."""
    n = 16 * len(x)
    X = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    f = np.fft.rfftfreq(n, 1 / SR)
    band = np.nonzero((f >= lo) & (f <= hi))[0]
    k = band[np.argmax(X[band])]
    a, b, c = np.log(X[k - 1: k + 2])
    return f[k] + 0.5 * (a - c) / (a - 2 * b + c) * (f[1] - f[0])


@jax.jit
def _shift_batch(x, steps):
    return jax.vmap(lambda s: js.pitch_shift(x, s))(steps)


def test_pitch_shift_moves_f0_and_keeps_length():
    t = np.arange(SR) / SR
    x = (0.3 * sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 6))).astype(np.float32)
    f0 = _f0(x)
    traced = np.asarray(_shift_batch(jnp.asarray(x), jnp.asarray([2.0, -2.0], jnp.float32)))
    for i, steps in enumerate((2.0, -2.0)):
        y = np.asarray(_ps(x, n_steps=steps))
        assert y.shape == x.shape
        mid = slice(2000, -2000)
        ratio = _f0(y[mid]) / f0
        assert abs(ratio / 2 ** (steps / 12) - 1) < 0.01, (steps, ratio)
        np.testing.assert_allclose(traced[i, :-N_FFT], y[:-N_FFT], atol=2e-4)
        np.testing.assert_allclose(traced[i], y, atol=2e-3)
    np.testing.assert_array_equal(js.pitch_shift(x, 0), x)


def test_resample_static_tone():
    t = np.arange(4000) / SR
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    y = np.asarray(_rs(x, orig_sr=SR, target_sr=12000))
    assert y.shape == (3000,)
    ty = np.arange(3000) / 12000
    np.testing.assert_allclose(y[100:-100], np.sin(2 * np.pi * 440 * ty)[100:-100], atol=2e-3)
    ref = librosa.resample(x, orig_sr=SR, target_sr=12000)
    assert ref.shape == y.shape
    assert js.resample(x, orig_sr=SR, target_sr=SR) is not None
    up = np.asarray(_rs(x, orig_sr=SR, target_sr=22050))
    assert up.shape == (int(np.ceil(4000 * 22050 / SR)),)


def test_resample_fixed_equals_static_and_removes_aliasing():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(2000).astype(np.float32)
    a = np.asarray(jax.jit(lambda x: js.resample_fixed(x, 0.75, length=1500))(x))
    b = np.asarray(_rs(x, orig_sr=4, target_sr=3))
    np.testing.assert_allclose(a, b, atol=2e-3)  # float32 positions n / ratio vs float64 n * 4 / 3
    # a tone above the new Nyquist is removed when downsampling by 2
    t = np.arange(4000) / SR
    hi = np.sin(2 * np.pi * 6000 * t).astype(np.float32)
    y = np.asarray(jax.jit(lambda x, r: js.resample_fixed(x, r, length=2000))(hi, jnp.float32(0.5)))
    assert np.sqrt(np.mean(y[100:-100] ** 2)) < 1e-2


def test_resample_fixed_ratio_gradient_matches_finite_differences():
    # at ratio 1.3 every 13th output lands on an input sample, up to a rounding error: the kernel's
    # derivative must not blow up there (jnp.sinc's does, off 0 by an ulp)
    x = np.random.default_rng(6).standard_normal(3000)
    with jax.enable_x64(True):
        f = lambda r: jnp.sum(js.resample_fixed(jnp.asarray(x), r, length=2000) ** 2)  # noqa: E731
        for r in (1.3, 0.8):
            h = 1e-6
            fd = (f(r + h) - f(r - h)) / (2 * h)
            np.testing.assert_allclose(float(jax.grad(f)(r)), float(fd), rtol=1e-5)
            np.testing.assert_allclose(float(jax.jit(jax.grad(f))(r)), float(fd), rtol=1e-5)


# ------------------------------------------------------------------ bad input (Must show 5)


def test_bad_input_errors():
    S = _spec()[:, :10]
    with pytest.raises(ValueError, match="phase_vocoder: rate must be > 0"):
        js.phase_vocoder(S, 0.0)
    with pytest.raises(ValueError, match="phase_vocoder: rate must be > 0"):
        js.phase_vocoder(S, -1.5)
    with pytest.raises(ValueError, match="rate must be finite and positive"):
        js.phase_vocoder(S, np.float32(-1.0), n_frames=10)
    with pytest.raises(ValueError, match="phase_vocoder: a traced or array rate needs a static n_frames"):
        jax.jit(lambda r: js.phase_vocoder(S, r))(1.2)
    with pytest.raises(ValueError, match="phase_vocoder: a traced or array rate needs a static n_frames"):
        js.phase_vocoder(S, jnp.float32(1.2))
    with pytest.raises(TypeError, match="n_frames fixes an output shape"):
        jax.jit(lambda n: js.phase_vocoder(S, 1.2, n_frames=n))(5)
    with pytest.raises(ValueError, match="phase_locking must be one of"):
        js.phase_vocoder(S, 1.2, phase_locking="scaled")
    with pytest.raises(ValueError, match="n_fft=300 expects"):
        js.phase_vocoder(S, 1.2, n_fft=300)
    with pytest.raises(ValueError, match="does not broadcast"):
        js.phase_vocoder(S, jnp.ones(3), n_frames=5)
    with pytest.raises(ValueError, match="time_stretch: a traced or array rate needs a static length"):
        js.time_stretch(np.zeros(1000, np.float32), jnp.float32(1.1))
    with pytest.raises(ValueError, match="time_stretch: rate must be > 0"):
        js.time_stretch(np.zeros(1000, np.float32), 0.0)
    with pytest.raises(TypeError, match="pitch_shift: x must be a floating-point array"):
        js.pitch_shift(np.zeros(1000, np.int16), 1.0)
    with pytest.raises(ValueError, match="resample: target_sr must be > 0"):
        js.resample(np.zeros(100, np.float32), orig_sr=16000, target_sr=0)
    with pytest.raises(ValueError, match="resample_fixed: ratio must be finite and positive"):
        js.resample_fixed(np.zeros(100, np.float32), 0.0, length=10)


# ------------------------------------------------------------------ polyphase resampling, long inputs


def _resample_ref(x, orig_sr, target_sr):
    """The windowed-sinc interpolation, evaluated directly in float64 at exact rational positions."""
    from fractions import Fraction

    r = Fraction(orig_sr) / Fraction(target_sr)
    L = x.shape[-1]
    n_out = int(np.ceil(L / r - 1e-9 * L / r))
    cutoff = min(1.0, float(1 / r)) * 0.945
    half = int(np.ceil(16 / cutoff))
    width = min(16 / cutoff, half)
    out = np.zeros(x.shape[:-1] + (n_out,))
    for n in range(n_out):
        pos = n * r
        fl = pos.numerator // pos.denominator
        d = float(pos - fl) - np.arange(-half + 1, half + 1)
        w = cutoff * np.sinc(cutoff * d) * np.where(np.abs(d) < width, np.cos(np.pi * d / (2 * width)) ** 2, 0.0)
        idx = fl + np.arange(-half + 1, half + 1)
        ok = (idx >= 0) & (idx < L)
        out[..., n] = x[..., idx[ok]] @ w[ok]
    return out


@pytest.mark.parametrize("orig_sr,target_sr", [(48000, 16000), (16000, 48000), (44100, 16000), (16000, 22050),
                                               (16000, 12345.678)])
def test_resample_polyphase_matches_direct_float64(orig_sr, target_sr):
    """Every path (one phase, several, 160 phases, and the blocked fallback for a non-integer
    rate with ~10**15 phases) gives the direct windowed-sinc sum at exact positions."""
    x = np.random.default_rng(3).standard_normal((2, 1500))
    ref = _resample_ref(x, orig_sr, target_sr)
    with jax.enable_x64(True):
        out64 = np.asarray(js.resample(x, orig_sr=orig_sr, target_sr=target_sr))
    np.testing.assert_allclose(out64, ref, atol=1e-10)
    out32 = np.asarray(_rs(x.astype(np.float32), orig_sr=orig_sr, target_sr=target_sr))
    np.testing.assert_allclose(out32, ref, atol=1e-5)


def test_resample_positions_stay_exact_on_long_signals():
    """Far into a long signal (10**7 samples), float32 positions would be off by up to a sample; the
    polyphase positions are exact: a 1 kHz tone resampled 48k -> 44.1k is a clean tone at the end."""
    n = 10_000_000 + 4000
    t = np.arange(n - 4000, n) / 48000.0
    x = np.zeros(n, np.float32)
    x[-4000:] = np.sin(2 * np.pi * 1000.0 * t)
    y = np.asarray(_rs(x, orig_sr=48000, target_sr=44100))
    m = np.arange(len(y) - 3000, len(y) - 500)
    np.testing.assert_allclose(y[m], np.sin(2 * np.pi * 1000.0 * m / 44100.0), atol=2e-3)


@pytest.mark.parametrize("orig_sr,target_sr", [(48000, 16000), (16000, 48000), (44100, 16000), (16000, 12345.678)])
def test_resample_memory_is_proportional_to_the_signal(orig_sr, target_sr):
    """XLA's own memory plan for 10 s of stereo 48 kHz audio: the scratch memory of the forward and the
    backward pass stays within a few signal sizes (a dense table of taps per output sample would
    need 34 to 102 times the output)."""
    x = jax.ShapeDtypeStruct((2, 480_000), jnp.float32)
    f = functools.partial(js.resample, orig_sr=orig_sr, target_sr=target_sr)
    fwd = jax.jit(f).lower(x).compile().memory_analysis()
    bwd = jax.jit(jax.grad(lambda x: jnp.sum(f(x) ** 2))).lower(x).compile().memory_analysis()
    signal = 4 * 2 * 480_000 + fwd.output_size_in_bytes
    assert fwd.temp_size_in_bytes <= 4 * signal, (fwd.temp_size_in_bytes, signal)
    assert bwd.temp_size_in_bytes <= 4 * signal, (bwd.temp_size_in_bytes, signal)


def test_size_limits_and_complex_rates():
    x = np.zeros(16000, np.float32)
    S = _spec()[:, :10]
    with pytest.raises(ValueError, match=r"resample: the output .* more than the limit of 2\*\*28"):
        js.resample(x, orig_sr=16000, target_sr=1e10)
    with pytest.raises(ValueError, match=r"phase_vocoder: the output of rate=1e-07 .* limit of 2\*\*28"):
        js.phase_vocoder(S, 1e-7)
    with pytest.raises(ValueError, match=r"phase_vocoder: the output \(freq=257, n_frames=1000000000\)"):
        js.phase_vocoder(S, np.float32(1.0), n_frames=10**9)
    with pytest.raises(ValueError, match=r"time_stretch: the output of rate=1e-07 .* limit of 2\*\*28"):
        js.time_stretch(x, 1e-7)
    with pytest.raises(ValueError, match=r"resample_fixed: the output \(length=1000000000\)"):
        js.resample_fixed(x, 0.5, length=10**9)
    for call in (lambda r: js.phase_vocoder(S, r), lambda r: js.phase_vocoder(S, r, n_frames=5),
                 lambda r: js.time_stretch(x, r), lambda r: js.resample_fixed(x, r, length=100)):
        with pytest.raises(TypeError, match="(rate|ratio) must be real, got complex"):
            call(1.5 + 1j)
    with pytest.raises(TypeError, match="phase_vocoder: rate must be real, got complex"):
        jax.jit(lambda r: js.phase_vocoder(S, r, n_frames=5))(jnp.complex64(1.5))
    with pytest.raises(TypeError, match="time_stretch: rate must be a real number or array, got the boolean"):
        js.time_stretch(x, True)


def test_pitch_shift_errors_name_pitch_shift():
    x = np.zeros((2, 4000), np.float32)
    with pytest.raises(TypeError, match="pitch_shift: n_steps must be real, got complex"):
        js.pitch_shift(x, 1.5 + 1j)
    with pytest.raises(ValueError, match="pitch_shift: n_steps must be finite"):
        js.pitch_shift(x, np.float32(np.nan))
    with pytest.raises(ValueError, match=r"pitch_shift: n_steps must be in \[-120, 120\] \(10 octaves"):
        js.pitch_shift(x, np.array([1.0, 1e4], np.float32))
    with pytest.raises(ValueError, match=r"pitch_shift: n_steps must be in \[-20, 20\]"):
        js.pitch_shift(x, -25.0, bins_per_octave=2)
    with pytest.raises(ValueError, match=r"pitch_shift: n_steps of shape \(3,\) does not broadcast to the batch shape"):
        js.pitch_shift(x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="pitch_shift: hop_length=128 with n_fft=64 leaves gaps"):
        js.pitch_shift(x, 1.0, n_fft=64, hop_length=128)
    with pytest.raises(ValueError, match="time_stretch: hop_length=64 with n_fft=64 leaves gaps"):
        js.time_stretch(x, 1.1, n_fft=64, hop_length=64)
    with pytest.raises(ValueError, match=r"resample_fixed: ratio of shape \(3,\) does not broadcast"):
        js.resample_fixed(x, np.ones(3, np.float32), length=100)
    with pytest.raises(ValueError, match=r"time_stretch: rate of shape \(3,\) does not broadcast"):
        js.time_stretch(x, np.ones(3, np.float32), length=100)


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5), (1,), (2, 3, 7)])
def test_resample_edge_shapes(shape):
    x = np.ones(shape, np.float32)
    for orig_sr, target_sr in [(48000, 16000), (16000, 48000), (16000, 12345.678)]:
        n = int(np.ceil(shape[-1] * target_sr / orig_sr - 1e-9 * shape[-1] * target_sr / orig_sr))
        y = js.resample(x, orig_sr=orig_sr, target_sr=target_sr)
        assert y.shape == shape[:-1] + (n,) and y.dtype == np.float32
        assert np.all(np.isfinite(np.asarray(y)))
