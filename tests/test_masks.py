"""The ideal-mask family: closed forms written out in NumPy, the laws between the masks, silent
bins (values and gradients), traced parameters and bad input."""

from __future__ import annotations

import functools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

import jaxspec as js
from jaxspec import masks

SHAPES = ((17, 9), (2, 5, 7))


def _sn(seed, shape, s_scale=1.0, n_scale=1.0, zeros=0.0):
    """Complex64 clean/noise STFT-like arrays; ``zeros``: fraction of bins set to 0 in each."""
    r = np.random.default_rng(seed)
    S = s_scale * (r.standard_normal(shape) + 1j * r.standard_normal(shape))
    N = n_scale * (r.standard_normal(shape) + 1j * r.standard_normal(shape))
    if zeros:
        S[r.random(shape) < zeros] = 0
        N[r.random(shape) < zeros] = 0
    return S.astype(np.complex64), N.astype(np.complex64)


# ----------------------------------------------------------------------------- closed forms in NumPy


def np_ibm(S, N, thr):
    ps, pn = np.abs(S) ** 2, np.abs(N) ** 2
    return ((ps >= 10 ** (thr / 10) * pn) & (ps > 0)).astype(float)


def np_soft_ibm(S, N, thr, temp):
    lsnr = 10 * np.log10(np.abs(S) ** 2 / np.abs(N) ** 2)
    return 1 / (1 + np.exp(-(lsnr - thr) / temp))


def np_irm(S, N, beta):
    return (np.abs(S) ** 2 / (np.abs(S) ** 2 + np.abs(N) ** 2)) ** beta


def np_iam(S, N, mx):
    m = np.abs(S) / np.abs(S + N)
    return m if mx is None else np.minimum(m, mx)


def np_psm(S, N, lo, hi):
    Y = S + N
    m = np.abs(S) / np.abs(Y) * np.cos(np.angle(S) - np.angle(Y))
    return np.clip(m, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def np_compress(x, K, C):
    return K * (1 - np.exp(-C * x)) / (1 + np.exp(-C * x))


def np_cirm(S, N, K, C):
    M = S / (S + N)
    return M if K is None else np_compress(M.real, K, C) + 1j * np_compress(M.imag, K, C)


def np_orm(S, N, K, C):
    cross = np.real(S * np.conj(N))
    m = (np.abs(S) ** 2 + cross) / (np.abs(S) ** 2 + np.abs(N) ** 2 + 2 * cross)
    return m if K is None else np_compress(m, K, C)


@jax.jit
def _all(S, N, p):
    """Every mask at once (one compile per shape); ``p``: dict of float32 scalar parameters."""
    M = masks.cirm(S, N)
    Mk = masks.cirm(S, N, K=p["K"], C=p["C"])
    return dict(
        ibm=masks.ibm(S, N, threshold_db=p["thr"]),
        soft_ibm=masks.soft_ibm(S, N, threshold_db=p["thr"], temperature=p["temp"]),
        irm=masks.irm(S, N, beta=p["beta"]),
        iam=masks.iam(S, N, max=p["mx"]), iam_raw=masks.iam(S, N, max=None),
        psm=masks.psm(S, N, min=p["lo"], max=p["mx"]), psm_raw=masks.psm(S, N, min=None, max=None),
        cirm=M, cirm_k=Mk, orm=masks.orm(S, N), orm_k=masks.orm(S, N, K=p["K"], C=p["C"]),
        # laws
        rec=masks.apply_mask(S + N, M),
        irm1=masks.irm(S, N, beta=1.0) + masks.irm(N, S, beta=1.0),
        irm_half=masks.irm(S, N, beta=0.5) ** 2 + masks.irm(N, S, beta=0.5) ** 2,
        dec=masks.cirm_decompress(Mk, K=p["K"], C=p["C"]), comp=masks.cirm_compress(M, K=p["K"], C=p["C"]),
        soft_wiener=masks.soft_ibm(S, N, threshold_db=0.0, temperature=10 / np.log(10)), irm_1=masks.irm(S, N, beta=1.0),
        sharp=masks.soft_ibm(S, N, threshold_db=p["thr"], temperature=1e-3))


def _params(thr=0.0, temp=1.0, beta=0.5, mx=1.0, lo=0.0, K=10.0, C=0.1):
    return {k: np.float32(v) for k, v in dict(thr=thr, temp=temp, beta=beta, mx=mx, lo=lo, K=K, C=C).items()}


C64 = dict(rtol=1e-4, atol=1e-5)


@given(seed=st.integers(0, 2**16), shape=st.sampled_from(SHAPES), thr=st.floats(-10, 10), temp=st.floats(0.5, 8),
       beta=st.floats(0.1, 2.0), mx=st.floats(0.5, 3.0), lo=st.floats(-1.0, 0.0), K=st.floats(0.5, 10.0),
       C=st.floats(0.05, 2.0))
def test_each_mask_matches_its_closed_form(seed, shape, thr, temp, beta, mx, lo, K, C):
    S, N = _sn(seed, shape)
    r = {k: np.asarray(v) for k, v in _all(S, N, _params(thr, temp, beta, mx, lo, K, C)).items()}
    S64, N64 = S.astype(np.complex128), N.astype(np.complex128)
    lsnr = 10 * np.log10(np.abs(S64) ** 2 / np.abs(N64) ** 2)
    away = np.abs(lsnr - thr) > 1e-4  # exact ties at the threshold may round either way in float32
    np.testing.assert_array_equal(r["ibm"][away], np_ibm(S64, N64, thr)[away])
    np.testing.assert_allclose(r["soft_ibm"], np_soft_ibm(S64, N64, thr, temp), **C64)
    np.testing.assert_allclose(r["irm"], np_irm(S64, N64, beta), **C64)
    np.testing.assert_allclose(r["iam"], np_iam(S64, N64, mx), **C64)
    np.testing.assert_allclose(r["iam_raw"], np_iam(S64, N64, None), **C64)
    np.testing.assert_allclose(r["psm"], np_psm(S64, N64, lo, mx), **C64)
    np.testing.assert_allclose(r["psm_raw"], np_psm(S64, N64, None, None), **C64)
    np.testing.assert_allclose(r["cirm"], np_cirm(S64, N64, None, C), **C64)
    np.testing.assert_allclose(r["cirm_k"], np_cirm(S64, N64, K, C), **C64)
    np.testing.assert_allclose(r["orm"], np_orm(S64, N64, None, C), **C64)
    np.testing.assert_allclose(r["orm_k"], np_orm(S64, N64, K, C), **C64)


# ----------------------------------------------------------------------------- laws


@given(seed=st.integers(0, 2**16), shape=st.sampled_from(SHAPES), s_exp=st.floats(-15, 15), n_exp=st.floats(-15, 15),
       zeros=st.sampled_from([0.0, 0.3]), thr=st.floats(-20, 20), beta=st.floats(0.1, 3.0))
def test_ibm_binary_irm_unit_interval(seed, shape, s_exp, n_exp, zeros, thr, beta):
    S, N = _sn(seed, shape, 10.0**s_exp, 10.0**n_exp, zeros)
    r = {k: np.asarray(v) for k, v in _all(S, N, _params(thr=thr, beta=beta)).items()}
    assert set(np.unique(r["ibm"])) <= {0.0, 1.0}
    assert np.all((r["irm"] >= 0) & (r["irm"] <= 1))
    assert np.all((r["soft_ibm"] >= 0) & (r["soft_ibm"] <= 1))
    for v in r.values():
        assert np.all(np.isfinite(v))


@given(seed=st.integers(0, 2**16), shape=st.sampled_from(SHAPES), zeros=st.sampled_from([0.0, 0.2]))
def test_mask_identities(seed, shape, zeros):
    S, N = _sn(seed, shape, 1.0, 2.0, zeros)
    Y = S + N
    r = {k: np.asarray(v) for k, v in _all(S, N, _params(thr=3.0, K=10.0, C=0.1)).items()}
    M = r["cirm"]
    live = np.abs(Y) > 0
    # the cIRM reconstructs the clean STFT exactly
    np.testing.assert_allclose(r["rec"][live], S[live], atol=1e-5)
    # psm (untruncated) == Re(cirm) == orm;  iam (unclipped) == |cirm|
    np.testing.assert_allclose(r["psm_raw"], np.real(M), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["orm"], np.real(M), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["iam_raw"], np.abs(M), rtol=1e-5, atol=1e-6)
    # IRM: beta=1 masks of speech and noise sum to 1; beta=0.5 masks' squares sum to 1
    voiced = (np.abs(S) > 0) | (np.abs(N) > 0)
    np.testing.assert_allclose(r["irm1"][voiced], 1.0, atol=1e-6)
    np.testing.assert_allclose(r["irm_half"][voiced], 1.0, atol=1e-6)
    # compression: decompress(cirm(K)) == cirm where not saturated; compress(cirm) == cirm(K)
    unsat = (np.abs(np.real(M)) < 20) & (np.abs(np.imag(M)) < 20)  # |C x / 2| < 1: far from saturation
    np.testing.assert_allclose(r["dec"][unsat], M[unsat], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r["comp"], r["cirm_k"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["orm_k"], np.real(r["cirm_k"]), rtol=1e-5, atol=1e-6)
    # soft IBM: equals IRM(beta=1) at temperature 10/ln10; tends to the IBM as temperature -> 0
    np.testing.assert_allclose(r["soft_wiener"], r["irm_1"], atol=1e-5)
    ps, pn = np.abs(S.astype(np.complex128)) ** 2, np.abs(N.astype(np.complex128)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        lsnr = 10 * np.log10(ps / pn)
    away = ~(np.abs(lsnr - 3.0) <= 0.1)  # NaN (0/0) counts as away
    np.testing.assert_allclose(r["sharp"][away], r["ibm"][away], atol=1e-6)


def test_irm_exponent_applies_to_the_whole_ratio():
    """The widely copied ``|S|^2 / (|S|^2 + |N|^2) ** beta`` exceeds 1; ours does not."""
    S, N = np.array([2.0 + 0j], np.complex64), np.array([1.0 + 0j], np.complex64)
    np.testing.assert_allclose(masks.irm(S, N), [np.sqrt(4 / 5)], rtol=1e-6)
    wrong = 4 / (4 + 1) ** 0.5
    assert wrong > 1 and float(masks.irm(S, N)[0]) <= 1


@jax.jit
def _reconstruct(s, n):
    stft = functools.partial(js.stft, n_fft=64, hop_length=16)
    S, N = stft(s), stft(n)
    Y = S + N
    M = masks.irm(S, N)
    return (masks.apply_magnitude(Y, M * js.magnitude(Y)), masks.apply_mask(Y, M),
            js.istft(masks.apply_mask(Y, masks.cirm(S, N)), n_fft=64, hop_length=16, length=s.shape[-1]),
            masks.apply_mask(Y, M[0]))


def test_apply_mask_and_magnitude_reconstruction():
    r = np.random.default_rng(3)
    s, n = r.standard_normal((2, 400)).astype(np.float32), r.standard_normal((2, 400)).astype(np.float32)
    via_mag, via_mask, s_hat, broadcast = _reconstruct(s, n)
    # real mask == estimated magnitude with the mixture's phase
    np.testing.assert_allclose(via_mag, via_mask, rtol=1e-5, atol=1e-6)
    # the cIRM path is perfect reconstruction through the iSTFT
    np.testing.assert_allclose(s_hat, s, atol=1e-4)
    # a mask broadcast over the batch; zero mixture -> magnitude with phase 0
    assert broadcast.shape == via_mask.shape
    out = masks.apply_magnitude(jnp.zeros(3, jnp.complex64), jnp.array([0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(out), [0, 1, 2])


# ----------------------------------------------------------------------------- silent bins

# bins: S=N=0 | S=0, N!=0 | N=0, S!=0 | Y=0 (N = -S) | regular
S_SIL = np.array([0, 0, 1 + 1j, 1 - 2j, 2 + 0j], np.complex64)
N_SIL = np.array([0, 1j, 0, -1 + 2j, 1j], np.complex64)
SILENT_VALUES = {  # the values documented on each mask, at the first four bins
    "ibm": [0, 0, 1, 1],
    "soft_ibm": [0, 0, 1, 0.5],
    "irm": [0, 0, 1, np.sqrt(0.5)],
    "iam": [0, 0, 1, 0],
    "psm": [0, 0, 1, 0],
    "cirm": [0, 0, 1, 0],
    "orm": [0, 0, 1, 0],
}
PARAM_FNS = {  # mask with its traced parameters -> (fn(S, N, p), p)
    "ibm": (lambda S, N, p: masks.ibm(S, N, threshold_db=p[0]), [0.0]),
    "soft_ibm": (lambda S, N, p: masks.soft_ibm(S, N, threshold_db=p[0], temperature=p[1]), [0.0, 1.0]),
    "irm": (lambda S, N, p: masks.irm(S, N, beta=p[0]), [0.5]),
    "iam": (lambda S, N, p: masks.iam(S, N, max=p[0]), [1.0]),
    "psm": (lambda S, N, p: masks.psm(S, N, min=p[0], max=p[1]), [0.0, 1.0]),
    "cirm": (lambda S, N, p: masks.cirm(S, N, K=p[0], C=p[1]), [10.0, 0.1]),
    "cirm-raw": (lambda S, N, p: masks.cirm(S, N) * p[0], [1.0]),
    "orm": (lambda S, N, p: masks.orm(S, N, K=p[0], C=p[1]), [10.0, 0.1]),
    "orm-raw": (lambda S, N, p: masks.orm(S, N) * p[0], [1.0]),
    "apply_mask": (lambda S, N, p: masks.apply_mask(S + N, masks.irm(S, N, beta=p[0])), [0.5]),
    "apply_magnitude": (lambda S, N, p: masks.apply_magnitude(S + N, p[0] * js.magnitude(S)), [1.0]),
    "cirm_decompress": (lambda S, N, p: masks.cirm_decompress(masks.cirm(S, N, K=p[0], C=p[1]), K=p[0], C=p[1]),
                        [10.0, 0.1]),
}


@pytest.mark.parametrize("name", sorted(SILENT_VALUES))
def test_documented_values_at_silent_bins(name):
    out = np.asarray(getattr(masks, name)(S_SIL, N_SIL))
    np.testing.assert_allclose(out[:4], SILENT_VALUES[name], atol=1e-6)
    assert np.all(np.isfinite(out))


@jax.jit
def _silent_grads(S, N, ps):
    """Gradient of a sum over every mask: finite iff each mask's gradient is finite."""
    def loss(S, N, ps):
        total = 0.0
        for k, (f, _) in PARAM_FNS.items():
            out = f(S, N, ps[k])
            total = total + jnp.sum(jnp.real(out) + jnp.imag(out) + jnp.abs(out) ** 2)
        return total

    return jax.grad(loss, argnums=(0, 1, 2))(S, N, ps)


def test_gradients_finite_at_silent_bins():
    ps = {k: jnp.asarray(p, jnp.float32) for k, (_, p) in PARAM_FNS.items()}
    for S, N in ((S_SIL, N_SIL), (np.zeros_like(S_SIL), np.zeros_like(N_SIL))):
        gS, gN, gp = _silent_grads(S, N, ps)
        assert np.all(np.isfinite(np.asarray(gS))) and np.all(np.isfinite(np.asarray(gN)))
        for k, leaf in gp.items():
            assert np.all(np.isfinite(np.asarray(leaf))), k


def test_parameters_may_be_traced_without_recompiling():
    traces = []

    @jax.jit
    def f(S, N, beta, thr, temp, K, C):
        traces.append(1)
        return (masks.irm(S, N, beta=beta), masks.soft_ibm(S, N, threshold_db=thr, temperature=temp),
                masks.cirm(S, N, K=K, C=C), masks.ibm(S, N, threshold_db=thr))

    S, N = _sn(1, (17, 9))
    a = f(S, N, 0.5, 0.0, 1.0, 10.0, 0.1)
    b = f(S, N, 1.0, 5.0, 2.0, 5.0, 0.5)
    assert len(traces) == 1
    np.testing.assert_allclose(b[0], masks.irm(S, N, beta=1.0), rtol=1e-6)
    assert not np.allclose(np.asarray(a[2]), np.asarray(b[2]))
    # one parameter per example, broadcast against (..., freq, frames)
    S2, N2 = _sn(2, (2, 17, 9))
    beta = jnp.array([0.5, 1.0])
    out = masks.irm(S2, N2, beta=beta[:, None, None])
    np.testing.assert_allclose(out[1], masks.irm(S2[1], N2[1], beta=1.0), rtol=1e-6)


def test_dtype_follows_input(x64):
    S, N = _sn(0, (5, 3))
    S, N = S.astype(np.complex128), N.astype(np.complex128)
    assert masks.irm(S, N).dtype == jnp.float64
    assert masks.cirm(S, N, K=10.0).dtype == jnp.complex128
    np.testing.assert_allclose(masks.apply_mask(S + N, masks.cirm(S, N)), S, atol=1e-12)


# ----------------------------------------------------------------------------- bad input


def test_bad_input():
    S, N = _sn(0, (5, 3))
    with pytest.raises(ValueError, match="irm: clean and noise must have the same shape"):
        masks.irm(S, N[:4])
    with pytest.raises(ValueError, match="cirm: K must be > 0, got 0"):
        masks.cirm(S, N, K=0)
    with pytest.raises(ValueError, match="cirm: K must be > 0"):
        masks.cirm(S, N, K=-1.0)
    with pytest.raises(ValueError, match="orm: C must be > 0"):
        masks.orm(S, N, K=1.0, C=0.0)
    with pytest.raises(ValueError, match="cirm_decompress: K must be > 0"):
        masks.cirm_decompress(S, K=0.0, C=0.1)
    with pytest.raises(ValueError, match="irm: beta must be > 0"):
        masks.irm(S, N, beta=0.0)
    with pytest.raises(ValueError, match="soft_ibm: temperature must be > 0"):
        masks.soft_ibm(S, N, temperature=-1.0)
    with pytest.raises(ValueError, match="ibm: threshold_db must be finite"):
        masks.ibm(S, N, threshold_db=np.nan)
    with pytest.raises(ValueError, match="psm: min must be <= max"):
        masks.psm(S, N, min=1.0, max=0.0)
    with pytest.raises(TypeError, match="iam: max must be a real number"):
        masks.iam(S, N, max="1")
    with pytest.raises(TypeError, match="irm: beta must be a real number"):
        masks.irm(S, N, beta=None)
    with pytest.raises(TypeError, match="irm: clean must be a complex"):
        masks.irm(np.ones((5, 3), np.int16), N)
    with pytest.raises(TypeError, match="unexpected keyword argument 'alpha'"):
        masks.irm(S, N, alpha=0.5)
    with pytest.raises(ValueError, match=r"apply_mask: mask with shape \(4, 3\) does not broadcast"):
        masks.apply_mask(S, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"apply_magnitude: magnitude with shape \(2, 5, 3\) does not broadcast"):
        masks.apply_magnitude(S, np.ones((2, 5, 3), np.float32))
