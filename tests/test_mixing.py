"""Mixing at an SNR (time and STFT domain), SNR distributions, fit_length, prevent_clipping.

The laws are property tests on the deterministic core (``mix``); the random wrapper is tested
for reproducibility, support and sample mean over a jitted batch of 256.
"""

from __future__ import annotations

import functools
import inspect

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

import jaxspec as js
from jaxspec import masks

N_FFT, HOP = 64, 16
STFT = functools.partial(js.stft, n_fft=N_FFT, hop_length=HOP)
SHAPES = ((2, 256), (3, 160))  # (batch, samples): few shapes, few compiles

_mix = jax.jit(js.mix)
_mix_stft = jax.jit(functools.partial(js.mix, axis=(-2, -1)))
_mix_stft_powers = jax.jit(lambda S, N, snr, ps, pn: js.mix(S, N, snr, axis=(-2, -1), powers=(ps, pn)))
_stft = jax.jit(STFT)
_istft = jax.jit(functools.partial(js.istft, n_fft=N_FFT, hop_length=HOP), static_argnames="length")


def _pair(seed, shape, s_scale=1.0, n_scale=1.0):
    r = np.random.default_rng(seed)
    return ((s_scale * r.standard_normal(shape)).astype(np.float32),
            (n_scale * r.standard_normal(shape)).astype(np.float32))


def _snr_db_np(signal, scaled_noise, axes):
    s = np.asarray(signal).astype(np.complex128)
    n = np.asarray(scaled_noise).astype(np.complex128)
    return 10 * np.log10(np.sum(np.abs(s) ** 2, axis=axes) / np.sum(np.abs(n) ** 2, axis=axes))


# ----------------------------------------------------------------------------- mix: the SNR law


@given(seed=st.integers(0, 2**16), shape=st.sampled_from(SHAPES), s_exp=st.floats(-3, 3), n_exp=st.floats(-3, 3),
       snr=st.lists(st.floats(-30, 40), min_size=3, max_size=3))
def test_mix_hits_snr_time_domain(seed, shape, s_exp, n_exp, snr):
    s, n = _pair(seed, shape, 10.0**s_exp, 10.0**n_exp)
    snr_db = np.asarray(snr[: shape[0]], np.float32)
    mixture, scaled = _mix(s, n, snr_db)
    np.testing.assert_allclose(_snr_db_np(s, scaled, -1), snr_db, atol=1e-3)
    np.testing.assert_allclose(np.asarray(mixture), s + np.asarray(scaled), rtol=1e-6, atol=1e-6 * np.abs(s).max())


@given(seed=st.integers(0, 2**16), shape=st.sampled_from(SHAPES), snr=st.floats(-30, 40))
def test_mix_hits_snr_stft_domain(seed, shape, snr):
    s, n = _pair(seed, shape, 0.3, 2.0)
    S, N = _stft(s), _stft(n)
    mixture, scaled = _mix_stft(S, N, np.float32(snr))  # one SNR broadcast over the batch
    np.testing.assert_allclose(_snr_db_np(S, scaled, (-2, -1)), np.full(shape[0], snr), atol=1e-3)
    assert mixture.dtype == jnp.complex64 and mixture.shape == S.shape


@given(seed=st.integers(0, 2**16), shape=st.sampled_from(SHAPES), snr=st.floats(-10, 30))
def test_stft_domain_mix_equals_time_domain_mix(seed, shape, snr):
    """Linearity: mixing STFTs with the waveforms' powers == STFT of the time-domain mix, and its
    istft == the time-domain mix within the STFT round-trip error."""
    s, n = _pair(seed, shape, 1.0, 0.5)
    snr_db = np.full(shape[0], snr, np.float32)
    y, _ = _mix(s, n, snr_db)
    S, N = _stft(s), _stft(n)
    Y, _ = _mix_stft_powers(S, N, snr_db, js.signal_power(s), js.signal_power(n))
    scale = np.abs(np.asarray(Y)).max()
    np.testing.assert_allclose(np.asarray(Y), np.asarray(_stft(y)), atol=2e-6 * scale)
    y_back = _istft(Y, length=shape[1])
    roundtrip = np.abs(np.asarray(_istft(_stft(y), length=shape[1])) - np.asarray(y)).max()
    np.testing.assert_allclose(np.asarray(y_back), np.asarray(y), atol=max(4 * roundtrip, 1e-6 * np.abs(y).max()))


def test_stft_domain_snr_without_powers_is_close_and_still_linear():
    """Without ``powers`` the SNR is the STFT-domain one; the waveform SNR differs by a few
    hundredths of a dB at most here, and the result is still ``s + k' n`` (linearity)."""
    s, n = _pair(3, (4, 4000), 1.0, 1.0)
    S, N = _stft(s), _stft(n)
    Y, kN = _mix_stft(S, N, np.float32(5.0))
    y = np.asarray(_istft(Y, length=4000))
    kn = np.asarray(_istft(kN, length=4000))
    np.testing.assert_allclose(y, s + kn, atol=1e-5)
    k_wave = kn[:, :1000].std(-1) / n[:, :1000].std(-1)
    np.testing.assert_allclose(kn, k_wave[:, None] * n, atol=1e-4)  # one gain per example
    err_db = np.abs(_snr_db_np(s, kn, -1) - 5.0)
    assert err_db.max() < 0.05, err_db


_mix_stft_onesided = jax.jit(functools.partial(js.mix, axis=(-2, -1), onesided=True))


def _onesided_weights(freq):
    w = np.full((freq, 1), 2.0)
    w[0] = w[-1] = 1.0
    return w


@given(seed=st.integers(0, 2**16), shape=st.sampled_from(SHAPES), snr=st.floats(-30, 40))
def test_mix_hits_snr_stft_domain_onesided(seed, shape, snr):
    s, n = _pair(seed, shape, 0.3, 2.0)
    S, N = _stft(s), _stft(n)
    _, scaled = _mix_stft_onesided(S, N, np.float32(snr))
    w = _onesided_weights(S.shape[-2])
    S64, K64 = np.asarray(S).astype(np.complex128), np.asarray(scaled).astype(np.complex128)
    measured = 10 * np.log10(np.sum(w * np.abs(S64) ** 2, (-2, -1)) / np.sum(w * np.abs(K64) ** 2, (-2, -1)))
    np.testing.assert_allclose(measured, snr, atol=1e-3)
    # signal_power(onesided=True) is the mean over the two-sided spectrum: a flat spectrum reads |X|^2
    np.testing.assert_allclose(js.signal_power(jnp.full((3, 33, 4), 2.0 + 0j), axis=(-2, -1), onesided=True), 4.0)


def test_onesided_powers_match_the_waveform_snr_for_low_frequency_noise():
    """A plain mean over a one-sided STFT overweights DC: brown noise reads ~2 dB off the waveform
    SNR; Parseval weights (onesided=True) fix it without the waveforms."""
    r = np.random.default_rng(0)
    t = np.arange(4000) / 8000
    s = (np.sin(2 * np.pi * 3 * t) ** 2 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)
    brown = np.cumsum(r.standard_normal((1, 4000)), -1)
    n = (brown - brown.mean()).astype(np.float32)
    S, N = _stft(s), _stft(n)
    errs = []
    for mixer in (_mix_stft, _mix_stft_onesided):
        _, kN = mixer(S, N, np.float32(5.0))
        errs.append(abs(float(_snr_db_np(s, _istft(kN, length=4000), -1)[0]) - 5.0))
    assert errs[0] > 1.0 and errs[1] < 0.02, errs


def test_snr_gain_closed_form_and_batch_broadcast():
    s, n = _pair(1, (2, 3, 50), 2.0, 0.1)
    snr = np.array([[0.0], [10.0]], np.float32)  # broadcasts over the (2, 3) batch
    k = np.asarray(js.snr_gain(s, n, snr))
    ps, pn = np.mean(s.astype(np.float64) ** 2, -1), np.mean(n.astype(np.float64) ** 2, -1)
    np.testing.assert_allclose(k, np.sqrt(ps / (pn * 10 ** (snr / 10))), rtol=1e-5)
    assert k.shape == (2, 3)
    np.testing.assert_allclose(js.signal_power(s), ps, rtol=1e-5)
    S = (s + 1j * n).astype(np.complex64)
    np.testing.assert_allclose(js.signal_power(S, axis=(-2, -1)), np.mean(np.abs(S) ** 2, axis=(-2, -1)), rtol=1e-5)


# ----------------------------------------------------------------------------- silence


def _silence_grads():
    def loss(f):
        return lambda a, b, c: jnp.sum(f(a, b, c) ** 2) + jnp.sum(f(a, b, c))

    mix_y = lambda a, b, c: js.mix(a, b, c)[0]  # noqa: E731
    rmix_y = lambda a, b, c: js.random_mix(jax.random.key(0), a, b, js.Uniform(c, c + 5.0))[0]  # noqa: E731
    return jax.jit(lambda a, b, c: (jax.grad(loss(mix_y), argnums=(0, 1, 2))(a, b, c),
                                    jax.grad(loss(rmix_y), argnums=(0, 1, 2))(a, b, c)))


def test_silence_values_and_gradients():
    s, n = _pair(2, (2, 64))
    z = np.zeros_like(s)
    grads = _silence_grads()
    for sig, noi in ((z, n), (s, z), (z, z)):
        mixture, scaled = _mix(sig, noi, np.float32(5.0))
        np.testing.assert_array_equal(np.asarray(scaled), 0.0)  # k = 0 at silence
        np.testing.assert_array_equal(np.asarray(mixture), sig)
        for leaf in jax.tree.leaves(grads(sig, noi, np.float32(3.0))):
            assert np.all(np.isfinite(np.asarray(leaf)))
    assert np.asarray(js.snr_gain(z, n, 0.0)).tolist() == [0.0, 0.0]


# ----------------------------------------------------------------------------- random_mix


_random_mix = jax.jit(js.random_mix)
B, L = 256, 32


def _batch():
    return _pair(7, (B, L), 1.0, 3.0)


@pytest.mark.parametrize("dist,lo,hi,mean", [
    (js.Uniform(-5.0, 5.0), -5.0, 5.0, 0.0),
    (js.Normal(5.0, 3.0), -np.inf, np.inf, 5.0),
    (js.TruncatedNormal(0.0, 10.0, -3.0, 3.0), -3.0, 3.0, 0.0),
    (js.Choice([-5.0, 0.0, 5.0, 10.0]), -5.0, 10.0, 2.5),
    (js.Choice([0.0, 10.0], p=[3, 1]), 0.0, 10.0, 2.5),
], ids=["uniform", "normal", "truncnormal", "choice", "choice-p"])
def test_random_mix_batch_of_256(dist, lo, hi, mean):
    s, n = _batch()
    y, scaled, snr = _random_mix(jax.random.key(0), s, n, dist)
    snr = np.asarray(snr)
    assert snr.shape == (B,) and snr.dtype == np.float32
    assert np.all((snr >= lo) & (snr <= hi))
    assert abs(snr.mean() - mean) < 1.0, snr.mean()
    assert len(np.unique(snr)) > (1 if isinstance(dist, js.Choice) else B // 2)
    np.testing.assert_allclose(_snr_db_np(s, scaled, -1), snr, atol=1e-3)  # each example hit its own SNR
    y2, _, snr2 = _random_mix(jax.random.key(0), s, n, dist)
    np.testing.assert_array_equal(np.asarray(y2), np.asarray(y))  # same key, same bits
    np.testing.assert_array_equal(np.asarray(snr2), snr)
    _, _, snr3 = _random_mix(jax.random.key(1), s, n, dist)
    assert not np.array_equal(np.asarray(snr3), snr)  # another key, other draws
    if isinstance(dist, js.Choice):
        assert set(np.unique(snr)) <= set(np.asarray(dist.values).tolist())
    if isinstance(dist, js.Choice) and dist.p is not None:
        assert abs(np.mean(snr == 0.0) - 0.75) < 0.1


@jax.jit
def _fixed_and_stft(key, s, n):
    fixed = js.random_mix(key, s, n, 7.0)
    S, N = STFT(s), STFT(n)
    return fixed, js.mix(s, n, 7.0)[0], S, js.random_mix(key, S, N, js.Uniform(0.0, 10.0), axis=(-2, -1))


def test_random_mix_fixed_snr_and_stft_axis():
    s, n = _pair(4, (3, 128))
    (y, scaled, snr), y_ref, S, (Y, kN, snr2) = _fixed_and_stft(jax.random.key(0), s, n)
    np.testing.assert_array_equal(np.asarray(snr), [7.0, 7.0, 7.0])
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref))
    assert snr2.shape == (3,) and Y.shape == S.shape
    np.testing.assert_allclose(_snr_db_np(S, kN, (-2, -1)), snr2, atol=1e-3)


def test_distribution_parameters_may_be_traced_without_recompiling():
    traces = []

    @jax.jit
    def step(key, s, n, lo, hi):
        traces.append(1)
        return js.random_mix(key, s, n, js.Uniform(lo, hi))[2]

    s, n = _pair(5, (64, 16))
    a = step(jax.random.key(0), s, n, 0.0, 1.0)
    b = step(jax.random.key(0), s, n, 20.0, 30.0)  # a curriculum step: new range, same program
    assert len(traces) == 1
    assert np.all((np.asarray(a) >= 0) & (np.asarray(a) < 1)) and np.all((np.asarray(b) >= 20) & (np.asarray(b) < 30))
    # distributions are pytrees: they can be passed into jit as arguments
    f = jax.jit(lambda key, d: d.sample(key, (100,)))
    x = f(jax.random.key(1), js.Normal(3.0, 0.0))
    np.testing.assert_array_equal(np.asarray(x), 3.0)
    leaves, tree = jax.tree.flatten(js.TruncatedNormal(0.0, 1.0, -1.0, 1.0))
    assert len(leaves) == 4 and isinstance(jax.tree.unflatten(tree, leaves), js.TruncatedNormal)
    with pytest.raises(dataclasses_frozen_error()):
        js.Uniform(0.0, 1.0).low = 3.0


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


# ----------------------------------------------------------------------------- fit_length


_fit = jax.jit(js.fit_length, static_argnames="length")


def test_fit_length_crop_and_loop():
    x = np.arange(2 * 50, dtype=np.float32).reshape(2, 50)
    out = np.asarray(_fit(jax.random.key(0), x, length=20))
    assert out.shape == (2, 20)
    for row, src in zip(out, x):  # a contiguous slice of its own example
        start = int(row[0] - src[0])
        np.testing.assert_array_equal(row, src[start:start + 20])
    tall = np.tile(x[:1], (200, 1))  # 200 examples of one row: one offset each
    starts = set(np.asarray(_fit(jax.random.key(9), tall, length=20)[:, 0]).astype(int).tolist())
    assert min(starts) == 0 and max(starts) == 30 and len(starts) == 31  # offsets cover [0, 30]
    looped = np.asarray(_fit(jax.random.key(1), x, length=123))
    assert looped.shape == (2, 123)
    for row, src in zip(looped, x):  # the periodic continuation of the example, from some offset
        start = int(row[0] - src[0])
        np.testing.assert_array_equal(row, src[(start + np.arange(123)) % 50])
    params = inspect.signature(js.fit_length).parameters  # fit_length(key, noise, n); options keyword-only
    assert list(params)[:3] == ["key", "noise", "length"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[3:])
    np.testing.assert_array_equal(np.asarray(_fit(jax.random.key(1), x, length=123)), looped)  # same key, same bits
    assert not np.array_equal(np.asarray(_fit(jax.random.key(2), x, length=123)), looped)


# ----------------------------------------------------------------------------- prevent_clipping

_clip = jax.jit(js.prevent_clipping)


@given(seed=st.integers(0, 2**16), scale=st.floats(1e-3, 1e3), peak=st.floats(0.01, 1.0))
def test_prevent_clipping_peak(seed, scale, peak):
    s, n = _pair(seed, (3, 200), scale, scale)
    y = s + n
    out, gain = _clip(y, peak=np.float32(peak))
    out, gain = np.asarray(out), np.asarray(gain)
    assert np.all(np.abs(out).max(-1) <= np.float32(peak))
    assert np.all((gain > 0) & (gain <= 1))
    np.testing.assert_array_equal(gain[np.abs(y).max(-1) <= np.float32(peak)], 1.0)  # never scales up
    np.testing.assert_allclose(out, y * gain[:, None], rtol=1e-6)
    # the same gain keeps clean + noise == mixture
    np.testing.assert_allclose(out, s * gain[:, None] + n * gain[:, None], rtol=1e-5, atol=1e-6 * np.abs(out).max())


@jax.jit
def _stft_bound_pipeline(s, n, snr):
    S, N = STFT(s), STFT(n)
    k = js.snr_gain(S, N, snr, axis=(-2, -1))
    Y = S + k[:, None, None] * N
    bound = js.peak_bound(s, n, k)
    Ys, gain = js.prevent_clipping(Y, bound=bound, axis=(-2, -1))
    L = s.shape[-1]
    return dict(S=S, N=N, k=k, bound=bound, Ys=Ys, gain=gain, y_raw=_istft(Y, length=L), y=_istft(Ys, length=L))


def test_prevent_clipping_silence_and_stft_bound():
    z = np.zeros((2, 16), np.float32)
    out, gain = js.prevent_clipping(z)
    np.testing.assert_array_equal(np.asarray(gain), 1.0)
    g = jax.jit(jax.grad(lambda x: jnp.sum(js.prevent_clipping(x, peak=0.5)[0])))(z)
    assert np.all(np.isfinite(np.asarray(g)))
    # STFT-domain guarantee: bound the mixture's peak from the waveforms, no iSTFT needed
    s, n = _pair(6, (4, 800), 0.5, 0.5)
    r = {k: np.asarray(v) for k, v in _stft_bound_pipeline(s, n, np.array([-5.0, 0.0, 5.0, 20.0], np.float32)).items()}
    assert np.abs(r["y_raw"]).max() > 1.0  # would clip
    assert np.all(r["bound"] >= np.abs(s + r["k"][:, None] * n).max(-1))
    assert np.abs(r["y"]).max() <= 1.0 + 1e-5
    clean_target = r["S"] * r["gain"][:, None, None]  # the same gain keeps the targets consistent
    np.testing.assert_allclose(r["Ys"], clean_target + (r["k"] * r["gain"])[:, None, None] * r["N"],
                               atol=1e-5 * np.abs(r["Ys"]).max())


# ----------------------------------------------------------------------------- gradient through the pipeline


def test_grad_through_random_mix_stft_irm_apply_mask_istft():
    """d loss / d model output through random_mix -> stft -> irm -> apply_mask -> istft, finite,
    with a silent clean example and a silent noise example in the batch."""
    s, n = _pair(8, (3, 400))
    s[1] = 0.0
    n[2] = 0.0
    istft = functools.partial(js.istft, n_fft=N_FFT, hop_length=HOP, length=400)

    def loss(model_out, key, s, n):
        y, kn, _ = js.random_mix(key, s, n, js.Uniform(-5.0, 5.0))
        Y, S, N = STFT(y), STFT(s), STFT(kn)
        target = masks.irm(S, N)
        est = jax.nn.sigmoid(model_out)  # the "model": a mask estimate
        s_hat = istft(masks.apply_mask(Y, est))
        s_ideal = istft(masks.apply_mask(Y, target))
        return jnp.mean((est - target) ** 2) + jnp.mean((s_hat - s) ** 2) + jnp.mean((s_ideal - s) ** 2)

    model_out = jnp.zeros((3, N_FFT // 2 + 1, 1 + 400 // HOP))
    val, (g, gs, gn) = jax.jit(jax.value_and_grad(loss, argnums=(0, 2, 3)))(model_out, jax.random.key(0), s, n)
    assert np.isfinite(float(val)) and np.all(np.isfinite(np.asarray(g))) and np.abs(np.asarray(g)).sum() > 0
    assert np.all(np.isfinite(np.asarray(gs))) and np.all(np.isfinite(np.asarray(gn)))


def test_pipeline_in_one_jitted_vmapped_function():
    """random_mix -> stft -> (mask target, log-mel features), vmapped per example, one jit."""
    fb = js.mel_filterbank(sr=16000, n_fft=N_FFT, n_mels=8) if hasattr(js, "mel_filterbank") else None

    def one(key, s, n):
        y, kn, snr = js.random_mix(key, s, n, js.Uniform(0.0, 10.0))
        Y, S, N = STFT(y), STFT(s), STFT(kn)
        power = js.power(Y)
        mel = power if fb is None else jnp.einsum("mf,ft->mt", jnp.asarray(fb), power)
        return masks.irm(S, N), jnp.log(mel + 1e-6), snr

    s, n = _pair(9, (5, 320))
    keys = jax.random.split(jax.random.key(0), 5)
    target, feats, snr = jax.jit(jax.vmap(one))(keys, s, n)
    assert target.shape == (5, N_FFT // 2 + 1, 21) and feats.shape[0] == 5 and snr.shape == (5,)
    assert np.all(np.isfinite(np.asarray(feats))) and np.all((np.asarray(target) >= 0) & (np.asarray(target) <= 1))


# ----------------------------------------------------------------------------- bad input


def test_bad_input():
    s, n = _pair(0, (2, 64))
    with pytest.raises(ValueError, match="mix: signal and noise must have the same shape"):
        js.mix(s, n[:, :32], 0.0)
    with pytest.raises(ValueError, match="random_mix: signal and noise must have the same shape"):
        js.random_mix(jax.random.key(0), s, n[:1], js.Uniform(0.0, 1.0))
    with pytest.raises(ValueError, match="mix: snr_db must be a scalar or broadcastable to the batch shape"):
        js.mix(s, n, np.zeros(3))
    with pytest.raises(ValueError, match="mix: axis=5 is out of range"):
        js.mix(s, n, 0.0, axis=5)
    with pytest.raises(TypeError, match="snr_gain: snr_db must be a real number.* of a real dtype"):
        js.snr_gain(s, n, 1j)
    with pytest.raises(TypeError, match="mix: signal must be a floating-point array"):
        js.mix((s * 1000).astype(np.int16), n, 0.0)
    with pytest.raises(TypeError, match="random_mix: snr must be a distribution"):
        js.random_mix(jax.random.key(0), s, n, "uniform")
    with pytest.raises(ValueError, match="mix: onesided=True weights the freq axis"):
        js.mix(s, n, 0.0, onesided=True)
    with pytest.raises(TypeError, match="signal_power: onesided must be True or False"):
        js.signal_power(s, onesided=1)
    with pytest.raises(TypeError, match="mix: powers must be a pair"):
        js.mix(s, n, 0.0, powers=1.0)
    with pytest.raises(ValueError, match="Uniform: low must be <= high"):
        js.Uniform(5, 1)
    with pytest.raises(ValueError, match="Uniform: high must be finite"):
        js.Uniform(0.0, np.inf)
    with pytest.raises(TypeError, match="Uniform: low must be a real number"):
        js.Uniform("0", 1.0)
    with pytest.raises(ValueError, match="Normal: std must be >= 0"):
        js.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="TruncatedNormal: low must be <= high"):
        js.TruncatedNormal(0.0, 1.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="Choice: p must be non-negative"):
        js.Choice([0.0, 5.0], p=[0.5, -0.1])
    with pytest.raises(ValueError, match="Choice: p must have a positive sum"):
        js.Choice([0.0, 5.0], p=[0.0, 0.0])
    with pytest.raises(ValueError, match=r"Choice: p must have the shape of values \(2,\)"):
        js.Choice([0.0, 5.0], p=[1.0])
    with pytest.raises(ValueError, match="Choice: values must be a non-empty 1-D array"):
        js.Choice([])
    with pytest.raises(TypeError, match="Uniform.sample: shape must be a tuple of ints"):
        js.Uniform(0.0, 1.0).sample(jax.random.key(0), "3")
    with pytest.raises(ValueError, match="fit_length: length must be a positive int, got 0"):
        js.fit_length(jax.random.key(0), n, 0)
    with pytest.raises(TypeError, match="fit_length: length fixes an output shape"):
        jax.jit(lambda k, x, m: js.fit_length(k, x, m))(jax.random.key(0), n, 10)
    with pytest.raises(ValueError, match="prevent_clipping: peak must be finite and positive"):
        js.prevent_clipping(s, peak=0.0)
    with pytest.raises(ValueError, match="prevent_clipping: bound must be a scalar or broadcastable"):
        js.prevent_clipping(s, bound=np.ones(5))
    with pytest.raises(ValueError, match="peak_bound: signal and noise must have the same shape"):
        js.peak_bound(s, n[:1], 1.0)


# ----------------------------------------------------------------------------- inconsistent STFTs: exact SNR, no clipping

_P = dict(n_fft=N_FFT, hop_length=HOP, length=1024)
_N_CASES = 1000


def _full_scale_pairs(seed, n):
    """``n`` full-scale (peak 1) signal/noise pairs of 1024 samples: harmonic tones under random
    envelopes (speech-like) against white, brown or impulsive noise."""
    r = np.random.default_rng(seed)
    t = np.arange(1024) / 8000.0
    f0 = r.uniform(80, 300, (n, 1, 1))
    amps = r.uniform(0, 1, (n, 6, 1)) / np.arange(1, 7)[None, :, None]
    tones = np.sum(amps * np.sin(2 * np.pi * f0 * np.arange(1, 7)[None, :, None] * t + r.uniform(0, 6.3, (n, 6, 1))), 1)
    env = np.abs(np.sin(np.pi * r.uniform(0.5, 4, (n, 1)) * t + r.uniform(0, 3, (n, 1))))
    s = tones * env
    white = r.standard_normal((n, 1024))
    brown = np.cumsum(white, axis=-1)
    brown -= brown.mean(-1, keepdims=True)
    clicks = white * (r.uniform(size=(n, 1024)) < 0.01)
    kind = r.integers(0, 3, (n, 1))
    noise = np.where(kind == 0, white, np.where(kind == 1, brown, clicks))
    s /= np.abs(s).max(-1, keepdims=True)
    noise /= np.abs(noise).max(-1, keepdims=True)
    snr = r.uniform(-10, 30, n)
    return s.astype(np.float32), noise.astype(np.float32), snr.astype(np.float32)


@jax.jit
@jax.vmap
def _augment_then_mix(key, s, n, snr):
    """Each case augmented three ways (phase vocoder, with identity phase locking, random EQ),
    then mixed at ``snr`` with exact waveform powers and guarded against clipping."""
    istft = functools.partial(js.istft, **_P)
    S, N = STFT(s), STFT(n)
    k_rate, k_eq = jax.random.split(key)
    rate = jnp.exp(jax.random.uniform(k_rate, (), minval=np.log(0.8), maxval=np.log(1.25)))
    augmented = [js.phase_vocoder(S, rate, hop_length=HOP, n_frames=S.shape[-1], phase_locking=lock)
                 for lock in (None, "identity")] + [js.random_eq(k_eq, S, max_db=12.0)]
    out = []
    for A in augmented:
        Y, _ = js.mix(A, N, snr, axis=(-2, -1), stft=_P)
        Y_guarded, g = js.prevent_clipping(Y, axis=(-2, -1), stft=_P)
        a = istft(A)
        snr_exact = 10 * jnp.log10(jnp.sum(a ** 2) / jnp.sum((istft(Y) - a) ** 2))
        # what a Parseval-weighted STFT-domain mix would give: its gain, relative to the exact one
        k_parseval = js.snr_gain(A, N, snr, axis=(-2, -1), onesided=True)
        snr_parseval = snr_exact - 20 * jnp.log10(k_parseval / js.snr_gain(A, N, snr, axis=(-2, -1), stft=_P))
        out.append(jnp.stack([snr_exact, snr_parseval, jnp.max(jnp.abs(istft(Y_guarded))), jnp.max(jnp.abs(istft(Y))), g]))
    return jnp.stack(out)  # (3 augmentations, 5 results)


def test_inconsistent_stft_mix_hits_waveform_snr_and_never_clips():
    s, n, snr = _full_scale_pairs(1, _N_CASES)
    res = np.asarray(_augment_then_mix(jax.random.split(jax.random.key(7), _N_CASES), s, n, snr))
    for i, how in enumerate(["phase vocoder", "phase vocoder, identity locking", "random EQ"]):
        snr_exact, snr_parseval, peak_guarded, peak_raw, g = res[:, i].T
        # the waveform SNR (iSTFT of the mixture vs iSTFT of the speech) is the one asked for
        assert np.max(np.abs(snr_exact - snr)) < 0.05, how
        # the STFT-domain (Parseval) power does not give it: the case is not trivial
        assert np.max(np.abs(snr_parseval - snr)) > 0.5, how
        # never clips, though most of the unguarded mixtures would
        assert np.all(peak_guarded <= 1.0), (how, peak_guarded.max())
        assert np.mean(peak_raw > 1.0) > 0.3, how
        assert np.all((g > 0) & (g <= 1)), how


def _inconsistent(seed, shape=(3, 256)):
    """An STFT made inconsistent by random phases (as a phase vocoder or a phase-aware mask does)."""
    s, _ = _pair(seed, shape)
    S = np.asarray(_stft(s))
    return (S * np.exp(2j * np.pi * np.random.default_rng(seed).uniform(size=S.shape))).astype(np.complex64)


@pytest.mark.parametrize("params", [dict(n_fft=N_FFT, hop_length=HOP), dict(n_fft=N_FFT, hop_length=HOP, length=200),
                                    dict(n_fft=N_FFT, hop_length=HOP, window="hamming", center=False, normalized=True)])
def test_exact_power_is_the_power_of_the_istft(params):
    S = _inconsistent(0)
    if not params.get("center", True):
        S = STFT(np.asarray(js.istft(S, n_fft=N_FFT, hop_length=HOP)), center=False)
        S = S * jnp.exp(1j * jnp.linspace(0, 3, S.shape[-1]))  # inconsistent again
    y = np.asarray(js.istft(S, **params), np.float64)
    np.testing.assert_allclose(js.signal_power(S, axis=(-2, -1), stft=params), np.mean(y ** 2, -1), rtol=2e-5)
    # for a consistent STFT it is the waveform's power
    s, _ = _pair(1, (2, 256))
    np.testing.assert_allclose(js.signal_power(_stft(s), axis=(-2, -1), stft=dict(n_fft=N_FFT, hop_length=HOP, length=256)),
                               js.signal_power(s), rtol=2e-5)


@pytest.mark.parametrize("n_fft,hop,window,center,normalized", [(63, 16, "hann", True, False), (64, 32, "hamming", False, True)])
def test_stft_peak_bound_bounds_every_inconsistent_stft_and_is_tight_for_clicks(n_fft, hop, window, center, normalized):
    P = dict(n_fft=n_fft, hop_length=hop, window=window, center=center, normalized=normalized)
    r = np.random.default_rng(3)
    F = n_fft // 2 + 1
    Y = (r.standard_normal((50, F, 12)) * r.uniform(0, 3, (50, 1, 12)) + 1j * r.standard_normal((50, F, 12))).astype(np.complex64)
    bound_fn = jax.jit(lambda Y: js.peak_bound(Y, 0 * Y, 0.0, axis=(-2, -1), stft=P))
    bound = np.asarray(bound_fn(Y))
    peak = np.abs(np.asarray(js.istft(Y, **P))).max(-1)
    assert np.all(peak <= bound) and np.all(bound < 20 * peak)
    # one click: every frame's spectrum is flat and the bound is exact
    x = np.zeros((1, 400), np.float32)
    x[0, 200] = 0.7
    Sx = js.stft(x, n_fft=n_fft, hop_length=hop, window=window, center=center, normalized=normalized)
    Sx = np.broadcast_to(Sx, (50,) + Sx.shape[1:])
    bound = np.asarray(bound_fn(Sx))[:1]
    if window == "hann":  # constant window-sum-square envelope
        np.testing.assert_allclose(bound, [0.7], rtol=1e-4)
    assert 0.7 <= bound[0] <= 0.77
    g = np.asarray(js.prevent_clipping(Sx[:1], peak=0.5, axis=(-2, -1), stft=P)[1])
    assert np.abs(np.asarray(js.istft(Sx[:1] * g[:, None, None], **P))).max() <= 0.5


def test_sequences_are_accepted_wherever_numbers_are():
    s, n = _pair(4, (2, 256))
    snr, k = np.asarray([3.0, 7.0], np.float32), js.snr_gain(s, n, np.asarray([3.0, 7.0], np.float32))
    for value in ([3.0, 7.0], (3.0, 7.0), [3, 7], np.asarray([3.0, 7.0])):
        np.testing.assert_allclose(js.snr_gain(s, n, value), k, rtol=1e-6)
        np.testing.assert_allclose(js.mix(s, n, value)[1], js.mix(s, n, snr)[1], rtol=1e-6)
        np.testing.assert_allclose(js.random_mix(jax.random.key(0), s, n, value)[2], snr)
    ps, pn = [1.0, 2.0], (3.0, 4.0)
    np.testing.assert_allclose(js.snr_gain(s, n, 0.0, powers=(ps, pn)), np.sqrt(np.asarray(ps) / np.asarray(pn)), rtol=1e-6)
    np.testing.assert_allclose(js.snr_gain(s, n, 0.0, powers=[0.5, 2]), [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(js.prevent_clipping(4 * s, peak=[0.5, 1.0])[1] * np.abs(4 * s).max(-1), [0.5, 1.0], rtol=1e-5)
    np.testing.assert_allclose(js.prevent_clipping(s, bound=[4.0, 0.5])[1], [0.25, 1.0], rtol=1e-5)
    np.testing.assert_allclose(js.peak_bound(s, n, [0.0, 1.0]), np.abs(s).max(-1) + [0, np.abs(n[1]).max()], rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-30, 1e-15, 1e15, 1e20])
def test_float32_range_powers_gains_and_mixtures(scale):
    s, n = _pair(5, (2, 256), 1.0, 0.3)
    s64, n64 = s.astype(np.float64) * scale, n.astype(np.float64) * scale
    S, N = (s * np.float32(scale)).astype(np.float32), (n * np.float32(scale)).astype(np.float32)
    k_ref = np.sqrt(np.mean(s64 ** 2, -1) / np.mean(n64 ** 2, -1)) * 10 ** (-5.0 / 20)
    np.testing.assert_allclose(js.snr_gain(S, N, 5.0), k_ref, rtol=1e-5)
    np.testing.assert_allclose(js.snr_gain(_stft(S), _stft(N), 5.0, axis=(-2, -1), onesided=True),
                               js.snr_gain(_stft(s), _stft(n), 5.0, axis=(-2, -1), onesided=True), rtol=1e-5)
    mixture, scaled = js.mix(S, N, 5.0)
    np.testing.assert_allclose(_snr_db_np(S, scaled, -1), [5.0, 5.0], atol=1e-4)
    assert np.all(np.isfinite(mixture))
    np.testing.assert_allclose(js.random_mix(jax.random.key(1), S, N, js.Uniform(5.0, 5.0))[1], scaled, rtol=1e-5)
    p_ref = np.mean(s64 ** 2, -1)
    if 1e-37 < p_ref.min() and p_ref.max() < 3e38:  # where the power itself fits in float32
        np.testing.assert_allclose(js.signal_power(S), p_ref, rtol=1e-5)
    # gradients: finite, and those of the unit-scale problem scaled by the chain rule
    grad = jax.grad(lambda a, b: jnp.sum(js.snr_gain(a, b, 5.0)), argnums=(0, 1))
    g_s, g_n = grad(S, N)
    g1_s, g1_n = grad(s, n)
    assert np.all(np.isfinite(g_s)) and np.all(np.isfinite(g_n))
    if scale < 1e18:  # gradients of ~1e-20 * 1/samples underflow float32 beyond that; they are 0, not NaN
        np.testing.assert_allclose(np.asarray(g_s) * scale, g1_s, rtol=1e-4, atol=1e-7)


@jax.jit
def _nan_checks(x, n):
    def f(a):
        return jnp.sum(js.mix(a, n, 5.0)[1])
    return (js.snr_gain(x, n, 5.0), js.mix(x, n, 5.0)[0], jax.grad(f)(x), js.snr_gain(n, x, 5.0),
            js.snr_gain(0 * n, x, 5.0), js.signal_power(x), js.prevent_clipping(x)[1])


def test_nan_and_inf_propagate_silence_stays_finite():
    s, n = _pair(6, (2, 256))
    for value in (np.nan, np.inf):
        x = s.copy()
        x[0, 10] = value
        k, mixture, g, k_noise, k_silent, p, gain = map(np.asarray, _nan_checks(x, n))
        assert np.isnan(k[0]) and np.isfinite(k[1])
        assert np.isnan(mixture[0]).any() and np.all(np.isfinite(mixture[1]))
        assert np.isnan(g[0]).any() and np.all(np.isfinite(g[1]))
        assert np.isnan(k_noise[0]) and np.isnan(k_silent[0])  # NaN noise too, also with a silent signal
        assert np.isnan(p[0]) and np.isnan(gain[0]) and np.isfinite(gain[1])
    # silence: finite value and gradient everywhere, also on the exact-power and peak-bound paths
    z = np.zeros((3, 2, 17, 9), np.complex64)
    z[1, 1] = 1.0
    z[2, 0] = 1.0
    P = dict(n_fft=32, hop_length=8)

    def f(a, b):
        return jnp.sum(js.mix(a, b, 5.0, axis=(-2, -1), stft=P)[0].real) + jnp.sum(
            js.prevent_clipping(a + b, axis=(-2, -1), stft=P)[1])

    value, grads = jax.jit(jax.vmap(jax.value_and_grad(f, argnums=(0, 1))))(z[:, 0], z[:, 1])
    assert np.all(np.isfinite(value)) and all(np.all(np.isfinite(g)) for g in grads)


def test_concrete_parameters_are_checked():
    s, n = _pair(7, (2, 256))
    S, N = _stft(s), _stft(n)
    P = dict(n_fft=N_FFT, hop_length=HOP)
    cases = [
        (ValueError, r"mix: snr_db must lie in \[-200, 200\] dB", lambda: js.mix(s, n, -1000.0)),
        (ValueError, "snr_gain: snr_db must be finite, got nan", lambda: js.snr_gain(s, n, float("nan"))),
        (ValueError, "random_mix: snr must lie in", lambda: js.random_mix(jax.random.key(0), s, n, [0.0, 300.0])),
        (ValueError, "random_mix: snr.low must lie in", lambda: js.random_mix(jax.random.key(0), s, n, js.Uniform(-1e3, 0))),
        (ValueError, "random_mix: snr.values must lie in", lambda: js.random_mix(jax.random.key(0), s, n, js.Choice([0, 1e3]))),
        (TypeError, "mix: snr_db must be a real number", lambda: js.mix(s, n, "5")),
        (TypeError, "mix: snr_db must be a real number .* ragged", lambda: js.mix(s, n, [1.0, [2.0]])),
        (ValueError, "mix: powers.0. must be finite and non-negative", lambda: js.mix(s, n, 0.0, powers=(-1.0, 1.0))),
        (ValueError, "prevent_clipping: bound must be finite and non-negative, got nan",
         lambda: js.prevent_clipping(s, bound=float("nan"))),
        (ValueError, "prevent_clipping: peak must be finite and positive", lambda: js.prevent_clipping(s, peak=[1.0, 0.0])),
        (ValueError, "peak_bound: gain must be finite", lambda: js.peak_bound(s, n, float("inf"))),
        (ValueError, "fit_length: length must be <= 2\\*\\*28", lambda: js.fit_length(jax.random.key(0), n, 2**29)),
        (TypeError, "mix: stft must be None or a dict", lambda: js.mix(S, N, 0.0, axis=(-2, -1), stft=512)),
        (ValueError, "signal_power: stft has unknown keys \\['hop'\\]",
         lambda: js.signal_power(S, axis=(-2, -1), stft=dict(hop=16))),
        (ValueError, "mix: stft=... measures the waveform of a complex STFT", lambda: js.mix(s, n, 0.0, stft=P)),
        (ValueError, "snr_gain: stft=... .* cannot be combined with onesided=True",
         lambda: js.snr_gain(S, N, 0.0, axis=(-2, -1), stft=P, onesided=True)),
        (ValueError, "prevent_clipping: pass either bound=... or stft=...",
         lambda: js.prevent_clipping(S, axis=(-2, -1), stft=P, bound=1.0)),
        (ValueError, "prevent_clipping: stft n_fft=128 expects 65 frequency rows, got 33",
         lambda: js.prevent_clipping(S, axis=(-2, -1), stft=dict(n_fft=128))),
        (ValueError, "mix: invalid stft parameters .* hop_length must be a positive int",
         lambda: js.mix(S, N, 0.0, axis=(-2, -1), stft=dict(hop_length=0))),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()
    # traced values stay allowed (and unchecked)
    jax.jit(lambda snr, b: js.prevent_clipping(js.mix(s, n, snr)[0], bound=b))(-1000.0, jnp.nan)


def test_random_mix_and_fit_length_return_their_draws():
    s, n = _pair(8, (3, 256))
    key = jax.random.key(3)
    y, kn, snr, params = js.random_mix(key, s, n, js.Uniform(0.0, 10.0), return_params=True)
    np.testing.assert_allclose(params["snr_db"], snr)
    np.testing.assert_allclose(params["gain"], js.snr_gain(s, n, snr), rtol=1e-6)
    np.testing.assert_allclose(kn, np.asarray(params["gain"])[:, None] * n, rtol=1e-6)
    for L in (100, 600):
        out, p = js.fit_length(key, n, L, return_params=True)
        np.testing.assert_array_equal(out, js.fit_length(key, n, L))
        for row, src, o in zip(np.asarray(out), n, np.asarray(p["offset"])):
            np.testing.assert_array_equal(row, src[(o + np.arange(L)) % src.shape[-1]])
