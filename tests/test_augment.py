"""Augmentation: deterministic cores against NumPy, per-example independence and reproducibility of
every random op, SpecAugment's width/start distribution, reverb identity, RT60 of synthetic RIRs,
chain/maybe, and bad input."""

from __future__ import annotations

import functools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
import scipy.stats
from hypothesis import given, settings

import jaxspec as js

SR = 8000


def _wave(shape=(4, 400), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _spec(shape=(4, 33, 26), seed=0):
    r = np.random.default_rng(seed)
    return (r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(np.complex64)


# Every random op as (key, x) -> x on a batch of 4 examples, with one example's input.
RANDOM_OPS = {
    "random_gain": (functools.partial(js.random_gain, min_db=-12.0, max_db=12.0), _wave),
    "random_spec_augment": (functools.partial(js.random_spec_augment, max_time_width=8, max_freq_width=8), _spec),
    "random_eq": (functools.partial(js.random_eq, max_db=9.0), _spec),
    "synthetic_rir": (lambda key, rt: js.synthetic_rir(key, sr=SR, rt60=rt, length=256, drr_db=2.0),
                      lambda: np.full((4,), 0.1, np.float32)),
    "random_time_stretch": (functools.partial(js.random_time_stretch, n_fft=64, hop_length=16), _spec),
    "chain": (js.chain(js.random_gain, lambda k, x: js.reverb(x, js.synthetic_rir(k, sr=SR, rt60=0.05, length=64))),
              _wave),
    "maybe": (js.maybe(functools.partial(js.random_gain, min_db=3.0, max_db=9.0), 0.5), _wave),
}


@pytest.mark.parametrize("name", list(RANDOM_OPS))
def test_random_op_vmap_equals_loop_and_same_key_same_bits(name):
    op, make = RANDOM_OPS[name]
    x = make()
    keys = jax.random.split(jax.random.key(1), x.shape[0])
    out = jax.jit(jax.vmap(op))(keys, x)
    op = jax.jit(op)
    loop = np.stack([np.asarray(op(keys[i], x[i])) for i in range(x.shape[0])])
    np.testing.assert_allclose(out, loop, atol=1e-4, rtol=1e-4)
    a = op(jax.random.key(2), x)
    b = op(jax.random.key(2), x)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    c = op(jax.random.key(3), x)
    assert not np.array_equal(np.asarray(a), np.asarray(c)), f"{name}: different keys gave the same draw"
    # a natively batched call draws per example: identical inputs come out different
    same = np.broadcast_to(x[:1], x.shape).copy()
    y = np.asarray(op(jax.random.key(4), same))
    assert not all(np.array_equal(y[0], y[i]) for i in range(1, y.shape[0])), f"{name}: one draw for the whole batch"


def test_per_example_independence_of_gain():
    x = np.ones((2000, 8), np.float32)
    g = 20 * np.log10(np.asarray(js.random_gain(jax.random.key(0), x, min_db=-6.0, max_db=6.0))[:, 0])
    assert -6.0 <= g.min() and g.max() <= 6.0
    assert scipy.stats.kstest((g + 6.0) / 12.0, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(g[:-1], g[1:])[0, 1]) < 0.1  # neighbours uncorrelated


def test_gain_core():
    x = _wave()
    g = np.array([-6.0, 0.0, 3.0, 20.0], np.float32)
    np.testing.assert_allclose(js.gain(x, g), x * 10 ** (g[:, None] / 20), rtol=1e-6)
    np.testing.assert_allclose(js.gain(x, 0.0), x)


# ---------------------------------------------------------------- SpecAugment


def test_spec_augment_core_matches_numpy():
    S = _spec((2, 33, 26))
    ts, tw = np.array([[3, 20], [0, 5]]), np.array([[4, 10], [0, 2]])
    fs, fw = np.array([[30], [1]]), np.array([[7], [3]])
    ref = S.copy()
    for b in range(2):
        for s, w in zip(ts[b], tw[b]):
            ref[b, :, s:s + w] = 0
        for s, w in zip(fs[b], fw[b]):
            ref[b, s:s + w, :] = 0
    np.testing.assert_array_equal(js.spec_augment(S, ts, tw, fs, fw), ref)
    np.testing.assert_array_equal(js.spec_augment(S, ts, 0 * tw, fs, 0 * fw), S)  # width 0: nothing
    out = js.spec_augment(np.abs(S), ts, tw, fs, fw, mask_value=-1.0)
    assert np.sum(np.asarray(out) == -1.0) == np.sum(ref == 0)


@functools.lru_cache(maxsize=None)
def _masker(max_width):
    return jax.jit(functools.partial(js.random_spec_augment, n_time_masks=1, max_time_width=max_width, n_freq_masks=0,
                                     max_freq_width=0))


@settings(max_examples=12)
@given(size=st.sampled_from([12, 40]), max_width=st.sampled_from([0, 1, 5, 12, 30]), seed=st.integers(0, 2 ** 16))
def test_spec_augment_width_and_start_distribution(size, max_width, seed):
    n = 3000
    out = np.asarray(_masker(max_width)(jax.random.key(seed), np.ones((n, 1, size), np.float32)))[:, 0, :]
    masked = out == 0
    width = masked.sum(-1)
    cap = min(max_width, size)
    assert width.min() >= 0 and width.max() <= cap
    # masks are contiguous and inside the axis
    start = np.where(width > 0, masked.argmax(-1), 0)
    assert np.all(masked.cumsum(-1)[np.arange(n), np.minimum(start + width, size) - 1] == width)
    assert np.all(start + width <= size)
    # width ~ U{0..cap}
    if cap > 0:
        counts = np.bincount(width, minlength=cap + 1)
        assert scipy.stats.chisquare(counts).pvalue > 1e-4, counts
        # start | width ~ U{0..size-width}: the normalised start is uniform and independent of width
        sel = width > 0
        jitter = np.random.default_rng(seed).uniform(size=sel.sum())  # makes the discrete start continuous
        u = (start[sel] + jitter) / (size - width[sel] + 1)
        assert scipy.stats.kstest(u, "uniform").pvalue > 1e-4
        if np.std(u) > 0 and np.std(width[sel]) > 0:
            assert abs(np.corrcoef(u, width[sel])[0, 1]) < 0.1


# ---------------------------------------------------------------- EQ


def test_eq_curve_and_eq():
    c = np.array([[0.0, 6.0, -6.0, 3.0, 0.0, -3.0]], np.float32)
    curve = np.asarray(js.eq_curve(c, n_freq=257))[0]
    assert curve.shape == (257,)
    np.testing.assert_allclose(curve[[0, -1]], c[0, [0, -1]], atol=1e-5)
    assert curve.min() >= -6.0 - 1e-5 and curve.max() <= 6.0 + 1e-5  # smoothstep does not overshoot
    assert np.max(np.abs(np.diff(curve))) < 3.0
    np.testing.assert_allclose(js.eq_curve(np.full((2, 5), 4.0, np.float32), n_freq=33), 4.0, atol=1e-5)
    S = _spec((2, 33, 5))
    np.testing.assert_allclose(js.eq(S, np.zeros((2, 33), np.float32)), S)
    g = np.linspace(-6, 6, 33).astype(np.float32)
    np.testing.assert_allclose(js.eq(S, g), S * 10 ** (g[:, None] / 20), rtol=1e-6)
    out = np.asarray(js.random_eq(jax.random.key(0), np.ones((50, 33, 2), np.complex64), max_db=6.0))
    db = 20 * np.log10(np.abs(out))
    assert db.min() >= -6.0 - 1e-4 and db.max() <= 6.0 + 1e-4 and np.std(db) > 1.0


# ---------------------------------------------------------------- reverb and RIRs


def test_reverb_unit_impulse_is_identity():
    x = _wave((3, 500))
    d0 = np.zeros(64, np.float32)
    d0[0] = 1.0
    np.testing.assert_allclose(js.reverb(x, d0), x, atol=1e-6)
    d7 = np.zeros(64, np.float32)
    d7[7] = 1.0
    np.testing.assert_allclose(js.reverb(x, d7, align=True), x, atol=1e-6)
    np.testing.assert_allclose(js.reverb(x, d7)[:, 7:], x[:, :-7], atol=1e-6)


def test_reverb_matches_fftconvolve_and_aligns_per_example():
    x = _wave((2, 700), 1)
    r = np.random.default_rng(2)
    h = (r.standard_normal((2, 90)) * np.exp(-np.arange(90) / 20)).astype(np.float32)
    h[0, 5], h[1, 30] = 6.0, -6.0  # direct paths at different delays
    full = np.stack([scipy.signal.fftconvolve(x[i], h[i]) for i in range(2)])
    np.testing.assert_allclose(js.reverb(x, h), full[:, :700], atol=1e-4)
    aligned = np.stack([full[0, 5:705], full[1, 30:730]])
    np.testing.assert_allclose(js.reverb(x, h, align=True), aligned, atol=1e-4)
    # one RIR for a batch
    np.testing.assert_allclose(js.reverb(x, h[0]), np.stack([scipy.signal.fftconvolve(v, h[0])[:700] for v in x]),
                               atol=1e-4)


def _schroeder_rt60(h, sr):
    """RT60 from the Schroeder backward integral: T20 fit (-5 to -25 dB), times 3 (ISO 3382)."""
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    i0, i1 = np.argmax(edc_db <= -5.0), np.argmax(edc_db <= -25.0)
    t = np.arange(h.size) / sr
    slope = np.polyfit(t[i0:i1], edc_db[i0:i1], 1)[0]
    return -60.0 / slope


def test_synthetic_rir_decay_matches_rt60():
    sr = 16000
    rt = np.array([0.15, 0.3, 0.6, 0.9], np.float32)
    f = jax.jit(functools.partial(js.synthetic_rir, sr=sr, length=int(1.2 * sr)))  # rt60 traced
    for seed in range(3):
        h = np.asarray(f(jax.random.key(seed), rt60=rt))
        assert h.shape == (4, int(1.2 * sr))
        np.testing.assert_allclose(np.sum(h ** 2, -1), 1.0, rtol=1e-4)  # unit energy
        measured = np.array([_schroeder_rt60(h[i].astype(np.float64), sr) for i in range(4)])
        np.testing.assert_allclose(measured, rt, rtol=0.10)


def test_synthetic_rir_direct_path_and_drr():
    h = np.asarray(jax.jit(functools.partial(js.synthetic_rir, sr=SR, length=4000))(
        jax.random.key(0), rt60=np.array([0.3, 0.3]), drr_db=np.array([0.0, 10.0])))
    np.testing.assert_allclose(h[:, 0], 1.0)
    np.testing.assert_allclose(10 * np.log10(1.0 / np.sum(h[:, 1:] ** 2, -1)), [0.0, 10.0], atol=1e-3)
    x = _wave((2, 800))
    sdr = np.asarray(jax.jit(lambda x, h: js.si_sdr(x, js.reverb(x, h, align=True)))(x, h))
    assert sdr[1] > sdr[0]  # more direct sound, closer to dry


def test_early_rir_dereverberation_pair():
    h = np.asarray(jax.jit(functools.partial(js.synthetic_rir, sr=SR, rt60=0.4, length=3200, drr_db=0.0))(
        jax.random.key(1)))
    h = np.concatenate([np.zeros(40, np.float32), h])  # a 5 ms pre-delay
    e = np.asarray(js.early_rir(h, sr=SR, early_ms=50.0, fade_ms=5.0))
    d, n50 = 40, 400
    np.testing.assert_array_equal(e[: d + n50 + 1], h[: d + n50 + 1])
    np.testing.assert_array_equal(e[d + n50 + 40 + 1:], 0.0)
    x = _wave((1, 2000))
    sdr = jax.jit(lambda x, h: js.si_sdr(x, js.reverb(x, h, align=True)))
    assert sdr(x, e)[0] > sdr(x, h)[0]


# ---------------------------------------------------------------- time stretch


def test_random_time_stretch_delegates_to_phase_vocoder():
    S = _spec((3, 33, 40))
    stretch = jax.jit(functools.partial(js.random_time_stretch, n_fft=64, hop_length=16))
    out = stretch(jax.random.key(0), S, min_rate=1.3, max_rate=1.3)
    ref = jax.jit(lambda S: js.phase_vocoder(S, 1.3, n_fft=64, hop_length=16, n_frames=40))(S)
    assert out.shape == S.shape and out.dtype == S.dtype
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # different rates per example: a faster example has more trailing zero frames
    out = np.asarray(stretch(jax.random.key(1), np.ones((64, 33, 40), np.complex64), min_rate=0.8, max_rate=1.5))
    zero_frames = np.sum(np.all(out == 0, axis=-2), axis=-1)
    assert len(np.unique(zero_frames)) > 3


# ---------------------------------------------------------------- chain and maybe


def test_chain_splits_the_key_once_per_stage():
    f = functools.partial(js.random_gain, min_db=-6.0, max_db=6.0)
    g = lambda k, x: js.reverb(x, js.synthetic_rir(k, sr=SR, rt60=0.05, length=32))  # noqa: E731
    x = _wave((3, 300))
    key = jax.random.key(5)
    k1, k2 = jax.random.split(key)
    np.testing.assert_allclose(jax.jit(js.chain(f, g))(key, x), jax.jit(lambda a, b, x: g(b, f(a, x)))(k1, k2, x),
                               atol=1e-6)
    # a full waveform -> STFT pipeline, per example under jit(vmap)
    pipeline = js.chain(
        f,
        lambda k, x: js.reverb(x, js.synthetic_rir(k, sr=SR, rt60=0.2, length=256), align=True),
        lambda k, x: js.stft(x, n_fft=64, hop_length=16),
        functools.partial(js.random_eq, max_db=6.0),
        js.maybe(functools.partial(js.random_spec_augment, max_time_width=5, max_freq_width=4), 0.5, event_ndim=2),
    )
    keys = jax.random.split(jax.random.key(6), 3)
    out = jax.jit(jax.vmap(pipeline))(keys, x)
    assert out.shape == (3, 33, 19) and np.all(np.isfinite(np.asarray(out)))
    np.testing.assert_allclose(out[1], jax.jit(pipeline)(keys[1], x[1]), atol=1e-4)


def test_maybe_probability():
    x = np.ones((4000, 16), np.float32)
    aug = functools.partial(js.gain, gain_db=6.0)
    always = lambda k, x: aug(x)  # noqa: E731
    np.testing.assert_array_equal(js.maybe(always, 0.0)(jax.random.key(0), x), x)
    np.testing.assert_allclose(js.maybe(always, 1.0)(jax.random.key(0), x), aug(x))
    out = np.asarray(jax.jit(js.maybe(always, 0.3))(jax.random.key(1), x))
    applied = out[:, 0] != 1.0
    assert np.all(out == out[:, :1])  # whole examples, not single samples
    assert abs(applied.mean() - 0.3) < 0.03


# ---------------------------------------------------------------- bad input


def test_bad_input_messages():
    S = _spec((2, 33, 26))
    good = np.array([[1, 2]])
    with pytest.raises(ValueError, match=r"spec_augment: time_width must be non-negative, got array\(\[\[-1"):
        js.spec_augment(S, good, np.array([[-1, 2]]), good, good)
    with pytest.raises(ValueError, match="spec_augment: freq_width must be non-negative"):
        js.spec_augment(S, good, good, good, jnp.array([[2, -3]]))
    with pytest.raises(TypeError, match="spec_augment: time_start must be an integer array"):
        js.spec_augment(S, good * 1.5, good, good, good)
    with pytest.raises(ValueError, match="random_spec_augment: max_time_width must be an int >= 0, got -2"):
        js.random_spec_augment(jax.random.key(0), S, max_time_width=-2)
    with pytest.raises(ValueError, match="random_spec_augment: n_freq_masks must be an int >= 0, got -1"):
        js.random_spec_augment(jax.random.key(0), S, n_freq_masks=-1)
    with pytest.raises(ValueError, match="synthetic_rir: rt60 must be finite and positive, got 0.0"):
        js.synthetic_rir(jax.random.key(0), sr=SR, rt60=0.0, length=100)
    with pytest.raises(ValueError, match="synthetic_rir: rt60 must be finite and positive"):
        js.synthetic_rir(jax.random.key(0), sr=SR, rt60=np.array([0.3, -0.1]), length=100)
    with pytest.raises(ValueError, match="synthetic_rir: length must be a positive int, got 0"):
        js.synthetic_rir(jax.random.key(0), sr=SR, rt60=0.3, length=0)
    with pytest.raises(TypeError, match="synthetic_rir: length fixes an output shape"):
        jax.jit(lambda n: js.synthetic_rir(jax.random.key(0), sr=SR, rt60=0.3, length=n))(100)
    with pytest.raises(ValueError, match="random_gain: min_db must be <= max_db, got min_db=6.0, max_db=-6.0"):
        js.random_gain(jax.random.key(0), _wave(), min_db=6.0, max_db=-6.0)
    with pytest.raises(ValueError, match="random_time_stretch: min_rate must be finite and positive"):
        js.random_time_stretch(jax.random.key(0), S, min_rate=0.0, max_rate=1.2, n_fft=64)
    with pytest.raises(ValueError, match="reverb: the batch dims of x \\(3,\\) and rir \\(2,\\) do not broadcast"):
        js.reverb(_wave((3, 100)), _wave((2, 10)))
    with pytest.raises(TypeError, match="reverb: x must be a floating-point array, got dtype int16"):
        js.reverb(np.zeros((2, 100), np.int16), _wave((2, 10)))
    with pytest.raises(ValueError, match="eq: gain_db must have shape \\(..., freq\\) with freq = 33"):
        js.eq(S, np.zeros((2, 32), np.float32))
    with pytest.raises(ValueError, match="maybe: p must be a probability in \\[0, 1\\], got 1.5"):
        js.maybe(js.random_gain, 1.5)
    with pytest.raises(TypeError, match="chain: augmentation 1 must be a callable"):
        js.chain(js.random_gain, 3)
    with pytest.raises(ValueError, match="chain: needs at least one augmentation"):
        js.chain()


# ----------------------------------------------------------------------------------------------
# STFT inputs, per-example parameters, checked concrete values, returned draws


def test_gain_on_an_stft_is_one_gain_per_example():
    x = _wave((3, 400))
    stft = functools.partial(js.stft, n_fft=64, hop_length=16)
    g = np.asarray([-6.0, 0.0, 12.0], np.float32)
    np.testing.assert_allclose(js.gain(stft(x), g), stft(js.gain(x, g)), rtol=1e-5, atol=1e-5)
    for per_example in ([-6.0, 0.0, 12.0], (-6, 0, 12), np.asarray(g)[:, None][:, 0]):
        np.testing.assert_allclose(js.gain(stft(x), per_example), js.gain(stft(x), g), rtol=1e-6)
    S = stft(x)
    y, params = js.random_gain(jax.random.key(0), S, return_params=True)
    ratio = np.abs(np.asarray(y)) / np.maximum(np.abs(np.asarray(S)), 1e-30)
    expected = 10 ** (np.asarray(params["gain_db"]) / 20)
    assert params["gain_db"].shape == (3,)
    np.testing.assert_allclose(ratio[np.abs(np.asarray(S)) > 1e-3], np.broadcast_to(expected[:, None, None], S.shape)[
        np.abs(np.asarray(S)) > 1e-3], rtol=1e-4)
    # a real spectrogram: one gain per example with axis=(-2, -1)
    M = np.abs(np.asarray(S))
    np.testing.assert_allclose(js.gain(M, g, axis=(-2, -1)), M * 10 ** (g[:, None, None] / 20), rtol=1e-5)


def test_random_augmentations_return_their_draws():
    key = jax.random.key(4)
    S = _spec((3, 33, 26))
    x = _wave((3, 400))
    y, p = js.random_gain(key, x, return_params=True)
    np.testing.assert_array_equal(y, js.random_gain(key, x))
    np.testing.assert_allclose(y, js.gain(x, p["gain_db"]), rtol=1e-6)
    y, p = js.random_eq(key, S, return_params=True)
    np.testing.assert_allclose(y, js.eq(S, p["gain_db"]), rtol=1e-6)
    np.testing.assert_allclose(p["gain_db"], js.eq_curve(p["control_db"], n_freq=33), rtol=1e-6)
    y, p = js.random_spec_augment(key, S, return_params=True)
    np.testing.assert_array_equal(y, js.spec_augment(S, p["time_start"], p["time_width"], p["freq_start"], p["freq_width"]))
    @jax.jit
    def stretch(key, S):  # one compile for both
        y, p = js.random_time_stretch(key, S, n_fft=64, hop_length=16, return_params=True)
        return y, p, js.phase_vocoder(S, p["rate"], hop_length=16, n_frames=S.shape[-1])

    y, p, y_again = stretch(key, S[..., :8])
    assert p["rate"].shape == (3,) and np.all((p["rate"] >= 0.8) & (p["rate"] <= 1.25))
    np.testing.assert_allclose(y, y_again, rtol=1e-6, atol=1e-6)


def test_concrete_augmentation_parameters_are_checked():
    x, S = _wave((2, 400)), _spec((2, 33, 26))
    key = jax.random.key(0)
    ints = lambda *shape: np.zeros(shape, np.int32)  # noqa: E731
    cases = [
        (TypeError, "gain: gain_db must be a real number or array, got '3'", lambda: js.gain(x, "3")),
        (ValueError, r"gain: gain_db must lie in \[-200, 200\] dB", lambda: js.gain(x, 1000.0)),
        (ValueError, "gain: gain_db must be finite, got nan", lambda: js.gain(x, float("nan"))),
        (ValueError, r"gain: gain_db must be a scalar or broadcastable to the batch shape \(2,\)",
         lambda: js.gain(x, np.zeros(3))),
        (ValueError, r"gain: gain_db must be a scalar or broadcastable to the batch shape \(2,\)",
         lambda: js.gain(S, np.zeros(33))),  # a per-row gain on an STFT is an EQ
        (ValueError, "random_gain: max_db must lie in", lambda: js.random_gain(key, x, max_db=1e4)),
        (ValueError, "random_gain: min_db must be finite", lambda: js.random_gain(key, x, min_db=-np.inf)),
        (ValueError, r"eq: gain_db must lie in \[-200, 200\] dB", lambda: js.eq(S, np.full(33, 1000.0))),
        (ValueError, "eq: the leading dims of gain_db", lambda: js.eq(S, np.zeros((3, 33)))),
        (ValueError, "random_eq: max_db must be >= 0", lambda: js.random_eq(key, S, max_db=-1.0)),
        (ValueError, "random_eq: max_db must lie in", lambda: js.random_eq(key, S, max_db=1000.0)),
        (ValueError, "synthetic_rir: drr_db must lie in", lambda: js.synthetic_rir(key, sr=SR, rt60=0.1, length=64,
                                                                                   drr_db=-1000.0)),
        (ValueError, "synthetic_rir: drr_db must be finite", lambda: js.synthetic_rir(key, sr=SR, rt60=0.1, length=64,
                                                                                      drr_db=np.nan)),
        (ValueError, r"synthetic_rir: drr_db of shape \(2,\) does not broadcast with rt60 of shape \(3,\)",
         lambda: js.synthetic_rir(key, sr=SR, rt60=np.full(3, 0.1), length=64, drr_db=np.zeros(2))),
        (TypeError, "synthetic_rir: rt60 must be a real number", lambda: js.synthetic_rir(key, sr=SR, rt60="0.1", length=64)),
        (ValueError, r"spec_augment: time_start \(2, 3\) and time_width \(2, 2\) must broadcast",
         lambda: js.spec_augment(S, ints(2, 3), ints(2, 2), ints(2, 1), ints(2, 1))),
        (ValueError, r"spec_augment: freq_start \(3, 1\) and freq_width \(3, 1\) must broadcast .* batch shape of S \(2,\)",
         lambda: js.spec_augment(S, ints(2, 1), ints(2, 1), ints(3, 1), ints(3, 1))),
        (ValueError, "spec_augment: mask_value must be finite", lambda: js.spec_augment(S, ints(2, 1), ints(2, 1), ints(2, 1),
                                                                                          ints(2, 1), mask_value=np.nan)),
        (TypeError, "maybe: p must be a probability", lambda: js.maybe(js.random_gain, "0.5")),
        (TypeError, "maybe: p must be a probability", lambda: js.maybe(js.random_gain, True)),
        (ValueError, "maybe: p must be a probability in", lambda: js.maybe(js.random_gain, float("nan"))),
        (TypeError, "random_time_stretch: max_rate must be a real number",
         lambda: js.random_time_stretch(key, S, max_rate=1.5 + 1j)),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()
    np.testing.assert_allclose(js.reverb(x, [1.0, 0.0, 0.5]), js.reverb(x, np.asarray([1.0, 0.0, 0.5], np.float32)))
    # traced values stay allowed
    jax.jit(lambda g, d: js.gain(x, g) + js.synthetic_rir(key, sr=SR, rt60=0.1, length=400, drr_db=d))(1000.0, jnp.nan)


def test_rate_gradient_is_piecewise_with_kinks_where_frames_land_on_whole_positions():
    """Documented in phase_vocoder: output frame t reads input frames floor(t * rate) and the next,
    so d/d(rate) jumps where t * rate is a whole number (here t = 4, rate = 0.5)."""
    S = _spec((1, 33, 12), seed=3)

    @jax.jit
    def energy(rate):
        Y = js.phase_vocoder(S, rate, hop_length=16, n_frames=8)
        return jnp.sum(jnp.abs(Y[..., 4]) ** 2)

    grad = jax.jit(jax.grad(energy))
    h = 1e-3
    left = (energy(0.5) - energy(0.5 - h)) / h
    right = (energy(0.5 + h) - energy(0.5)) / h
    np.testing.assert_allclose(grad(0.5 - 2 * h), left, rtol=0.05)
    np.testing.assert_allclose(grad(0.5 + 2 * h), right, rtol=0.05)
    assert abs(left - right) > 0.2 * max(abs(left), abs(right))
    assert "kinks" in js.phase_vocoder.__doc__
