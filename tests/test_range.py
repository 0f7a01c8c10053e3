"""float32 range and the NaN policy, for every spectral function, mask, metric and feature.

Each row builds its float64 inputs at a scale (1e-30, 1 and 1e20 by default). The float32 result
must be within 1e-5 relative of the float64 reference (jaxspec under ``jax.enable_x64``) wherever
that reference fits in float32, be inf where it overflows and flush to ~0 where it underflows; the
gradient must be finite wherever the float64 gradient fits, and close to it. The three scales are
stacked as a leading batch dim, so each function compiles once per dtype. Then: exact zeros give a
finite value and gradient; a NaN input gives a NaN output and a non-finite gradient; an infinite
input gives a non-finite value or gradient.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxspec as js
from jaxspec import masks

SCALES = (1e-30, 1.0, 1e20)
F, T = 9, 6  # STFT-like (freq, frames)
L = 256  # samples


def _c(r, shape):
    return r.standard_normal(shape) + 1j * r.standard_normal(shape)


def _spec(c, r):
    return (c * _c(r, (2, F, T)),)


def _pair(c, r):
    # clean and noise of comparable size: no near-cancellation, so float32 keeps 1e-5 relative
    return c * _c(r, (2, F, T)), c * _c(r, (2, F, T))


def _sig_pair(c, r):
    x = r.standard_normal((2, L))
    return c * x, c * (x + 0.3 * r.standard_normal((2, L)))


def _speechlike(c, r):
    # 0.6 s at 10 kHz with a 60 dB quieter gap that STOI removes as silent (46 frames, ~5 removed)
    n = 6144
    t = np.arange(n) / 10000.0
    env = np.where((t > 0.3) & (t < 0.36), 1e-3, 1.0)
    x = env * (np.sin(2 * np.pi * 440 * t) + 0.5 * r.standard_normal(n))
    return c * x[None], c * (x + 0.2 * r.standard_normal(n))[None]


@dataclasses.dataclass(frozen=True)
class R:
    id: str
    fn: Callable[..., Any]
    args: Callable[[float, np.random.Generator], tuple]  # (scale, rng) -> float64/complex128 arrays
    grad: bool = True  # differentiable: check gradients
    nan_grad: bool = True  # a NaN input gives a non-finite gradient (False for linear maps)
    inf: bool = True  # an infinite input gives a non-finite value or gradient (False when saturating)
    db_rel: bool = False  # dB relative to the peak: float32 keeps 1e-5 of the absolute dB level only


MEL = dict(sr=8000, n_mels=8)
MR = dict(fft_sizes=(64,), hop_sizes=(16,), win_lengths=(48,))

ROWS = [
    # spectral
    R("magnitude", js.magnitude, _spec),
    R("phase", js.phase, _spec),
    R("power", js.power, _spec),
    R("polar", js.polar, lambda c, r: (c * np.abs(r.standard_normal((2, F, T))), r.uniform(-3, 3, (2, F, T)))),
    R("amplitude_to_db", js.amplitude_to_db, _spec),
    R("power_to_db", js.power_to_db, lambda c, r: (c * np.abs(_c(r, (2, F, T))),)),
    R("power_to_db-refmax", functools.partial(js.power_to_db, ref="max", top_db=40.0),
      lambda c, r: (c * np.abs(_c(r, (2, F, T))),), db_rel=True),
    # dB in, so the scale is added in dB: outputs from 1e-30 to 1e20 times those at 0 dB
    R("db_to_power", js.db_to_power, lambda c, r: (10 * np.log10(c) + r.uniform(-10, 10, (2, F, T)),)),
    R("db_to_amplitude", js.db_to_amplitude, lambda c, r: (20 * np.log10(c) + r.uniform(-10, 10, (2, F, T)),)),
    R("compress", js.compress, _spec),
    R("compress-real", functools.partial(js.compress, power=0.5), lambda c, r: (c * r.standard_normal((2, F, T)),)),
    R("decompress", js.decompress, lambda c, r: (c ** 0.3 * _c(r, (2, F, T)),)),  # output scales like c
    # masks (clean, noise)
    R("ibm", masks.ibm, _pair, grad=False),
    R("soft_ibm", functools.partial(masks.soft_ibm, threshold_db=1.0, temperature=3.0), _pair),
    R("irm", masks.irm, _pair),
    R("iam", masks.iam, _pair),
    R("psm", functools.partial(masks.psm, min=-1.0, max=None), _pair),
    R("cirm", masks.cirm, _pair),
    R("cirm-K", functools.partial(masks.cirm, K=10.0, C=0.1), _pair),
    R("orm", masks.orm, _pair),
    R("cirm_compress", functools.partial(masks.cirm_compress, K=10.0, C=0.1), _spec, inf=False),
    R("cirm_decompress", functools.partial(masks.cirm_decompress, K=10.0, C=0.1),
      lambda c, r: (min(c, 1.0) * _c(r, (2, F, T)),), inf=False),  # |m| < K: a compressed mask
    R("apply_mask", masks.apply_mask, lambda c, r: (c * _c(r, (2, F, T)), np.abs(r.standard_normal((2, F, T))))),
    R("apply_mask-complex", masks.apply_mask, lambda c, r: (c * _c(r, (2, F, T)), _c(r, (2, F, T)))),
    R("apply_magnitude", masks.apply_magnitude,
      lambda c, r: (c * _c(r, (2, F, T)), c * np.abs(r.standard_normal((2, F, T))))),
    # metrics (reference, estimate)
    R("snr", js.snr, _sig_pair),
    R("si_sdr", js.si_sdr, _sig_pair),
    R("si_sdr-zero_mean", functools.partial(js.si_sdr, zero_mean=True), _sig_pair),
    R("si_sdr_loss", js.si_sdr_loss, _sig_pair),
    R("segmental_snr", functools.partial(js.segmental_snr, frame_length=64, hop_length=32), _sig_pair),
    R("compressed_spectral_mse", js.compressed_spectral_mse, _pair),
    R("multi_resolution_stft_loss", functools.partial(js.multi_resolution_stft_loss, **MR), _sig_pair),
    R("stoi", functools.partial(js.stoi, sr=10000), _speechlike),
    R("estoi", functools.partial(js.stoi, sr=10000, extended=True), _speechlike, grad=False),
    # features from an STFT, normalisation, splicing
    R("mel_spectrogram", functools.partial(js.mel_spectrogram, **MEL), lambda c, r: (c * _c(r, (2, 33, T)),)),
    R("mel_spectrogram-power1", functools.partial(js.mel_spectrogram, power=1.0, **MEL),
      lambda c, r: (c * _c(r, (2, 33, T)),)),
    R("log_mel", functools.partial(js.log_mel, **MEL), lambda c, r: (c * _c(r, (2, 33, T)),)),
    R("log_mel-refmax", functools.partial(js.log_mel, ref="max", top_db=None, **MEL),
      lambda c, r: (c * _c(r, (2, 33, T)),), db_rel=True),
    R("mfcc", functools.partial(js.mfcc, n_mfcc=5, **MEL), lambda c, r: (c * _c(r, (2, 33, T)),)),
    R("normalize", js.normalize, lambda c, r: (c * r.standard_normal((2, F, T)),)),
    R("normalize-utterance", functools.partial(js.normalize, axis=(-2, -1), subtract_mean=False),
      lambda c, r: (c * r.standard_normal((2, F, T)),)),
    R("splice", functools.partial(js.splice, left=1, right=2), lambda c, r: (c * r.standard_normal((2, F, T)),),
      nan_grad=False),
]


# ----------------------------------------------------------------------------- helpers


def _stack(row: R, scales) -> list[np.ndarray]:
    """Each argument with the scales stacked on a new leading axis (same draw at every scale)."""
    per_scale = [row.args(c, np.random.default_rng(0)) for c in scales]
    return [np.stack(a) for a in zip(*per_scale)]


def _to(x: np.ndarray, bits: int):
    if np.iscomplexobj(x):
        return x.astype(np.complex64 if bits == 32 else np.complex128)
    return x.astype(np.float32 if bits == 32 else np.float64)


def _loss(fn):
    def loss(*args):
        out = fn(*args)
        w = jnp.cos(jnp.arange(out.size, dtype=jnp.real(out).dtype)).reshape(out.shape) + 1.5
        return jnp.sum(w * jnp.real(out)) + jnp.sum(w * jnp.imag(out))
    return loss


@functools.lru_cache(maxsize=None)
def _compiled(row_id: str):
    """The row and one jitted ``args -> (value, gradients or None)``, built once (jit then
    compiles once per dtype: float32, and float64 for the reference)."""
    row = next(r for r in ROWS if r.id == row_id)
    n_args = len(row.args(1.0, np.random.default_rng(0)))
    grad = jax.grad(_loss(row.fn), argnums=tuple(range(n_args)))
    both = (lambda *a: (row.fn(*a), grad(*a))) if row.grad else (lambda *a: (row.fn(*a), None))
    return row, jax.jit(both)


def _np(out):
    value, grads = out
    return np.asarray(value), None if grads is None else [np.asarray(g) for g in grads]


def _check_against_f64(name, got, ref, rtol, atol=0.0, atol_rel=1e-6):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, name
    fi = np.finfo(np.float32)
    mag = np.abs(ref)
    fits = ((mag >= fi.tiny) & (mag <= fi.max)) | (ref == 0)
    if np.any(fits):
        atol = max(atol, atol_rel * mag[fits].max())  # for entries that cancel to ~0 (MFCCs, angles near 0)
        np.testing.assert_allclose(got[fits], ref[fits], rtol=rtol, atol=atol, err_msg=name)
    over = mag > fi.max
    if np.any(over):  # the answer overflows float32 itself: inf, not NaN
        assert np.all(np.isinf(got[over])), name
    under = (mag < fi.tiny) & (ref != 0)
    if np.any(under):  # the answer underflows float32 itself: flushed to ~0
        assert np.all(np.abs(got[under]) <= 2 * fi.tiny), name


# ----------------------------------------------------------------------------- range


@pytest.mark.parametrize("row_id", [r.id for r in ROWS])
def test_float32_matches_float64_at_1e_30_and_1e20(row_id):
    row, f = _compiled(row_id)
    args = _stack(row, SCALES)
    out32, grads32 = _np(f(*[jnp.asarray(_to(a, 32)) for a in args]))
    with jax.enable_x64(True):
        # the float64 reference sees exactly the float32 inputs
        out64, grads64 = _np(f(*[jnp.asarray(_to(_to(a, 32), 64)) for a in args]))
    assert out64.dtype in (np.float64, np.complex128)
    for i, c in enumerate(SCALES):
        # dB relative to the peak subtracts two levels of up to 20 log10(c) + 100 dB
        atol = 1e-5 * (20 * abs(np.log10(c)) + 100) if row.db_rel else 0.0
        _check_against_f64(f"{row_id} value at scale {c:g}", out32[i], out64[i], rtol=1e-5, atol=atol)
        if grads32 is None:
            continue
        for k, (g32, g64) in enumerate(zip(grads32, grads64)):
            name = f"{row_id} gradient of argument {k} at scale {c:g}"
            fits = np.abs(g64[i]) <= np.finfo(np.float32).max
            assert np.all(np.isfinite(g32[i][fits])), name
            # a gradient sums many terms: cancellation leaves float32 error relative to its largest entry
            _check_against_f64(name, g32[i], g64[i], rtol=1e-3, atol_rel=1e-4)


def test_the_cases_named_in_the_issue():
    z = jnp.asarray([1e20 + 1e20j, 1e-30 * (1 + 1j)], jnp.complex64)
    np.testing.assert_allclose(np.asarray(js.magnitude(z)), [1.41421356e20, 1.41421356e-30], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(js.phase(z)), [np.pi / 4, np.pi / 4], rtol=1e-6)
    r = np.random.default_rng(1)
    S, N = (_c(r, (F, T)).astype(np.complex64) for _ in range(2))
    for c in (1e20, 1e-20):
        np.testing.assert_allclose(np.asarray(masks.psm(c * S, c * N)), np.asarray(masks.psm(S, N)), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(masks.irm(c * S, c * N)), np.asarray(masks.irm(S, N)), rtol=1e-6)
    x, e = (r.standard_normal(L).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(float(js.si_sdr(1e20 * x, 1e20 * (x + e))), float(js.si_sdr(x, x + e)), rtol=1e-6)


def test_stoi_at_1e30_matches_pystoi():
    pystoi = pytest.importorskip("pystoi")
    x, y = _speechlike(1.0, np.random.default_rng(0))
    f = jax.jit(functools.partial(js.stoi, sr=10000))
    want = pystoi.stoi(1e30 * x[0], 1e30 * y[0], 10000)  # float64, scale invariant
    got = np.asarray(f(jnp.asarray(1e30 * x, jnp.float32), jnp.asarray(1e30 * y, jnp.float32)))
    np.testing.assert_allclose(got[0], want, rtol=1e-5)
    same = np.asarray(f(jnp.asarray(1e30 * x, jnp.float32), jnp.asarray(1e30 * x, jnp.float32)))
    assert same[0] > 0.9999


def test_compressed_spectral_mse_power_range():
    S = jnp.ones((F, T), jnp.complex64)
    with pytest.raises(ValueError, match=r"compressed_spectral_mse: power must be in \(0, 1\].*got 2"):
        js.compressed_spectral_mse(S, S, power=2)
    with pytest.raises(ValueError, match="compressed_spectral_mse: power must be finite and positive"):
        js.compressed_spectral_mse(S, S, power=0.0)


# ----------------------------------------------------------------------------- NaN policy and silence


def _poisoned(row: R):
    """Arguments with a leading axis of 3: silence (all zeros), one NaN, one inf (in argument 0)."""
    unit = [a[0] for a in _stack(row, (1.0,))]
    out = []
    for k, a in enumerate(unit):
        entries = [np.zeros_like(a), a.copy(), a.copy()]
        if k == 0:
            entries[1].flat[0] = np.nan
            entries[2].flat[0] = np.inf
        out.append(jnp.asarray(_to(np.stack(entries), 32)))
    return out


@pytest.mark.parametrize("row_id", [r.id for r in ROWS])
def test_nan_and_inf_propagate_and_silence_stays_finite(row_id):
    row, f = _compiled(row_id)
    out, grads = _np(f(*_poisoned(row)))
    grads = grads or []
    # silence: finite value and gradient
    assert np.all(np.isfinite(out[0])), f"{row_id}: non-finite value at silence"
    for k, gk in enumerate(grads):
        assert np.all(np.isfinite(gk[0])), f"{row_id}: non-finite gradient of argument {k} at silence"
    # NaN in: NaN out, and a non-finite gradient
    assert np.any(np.isnan(out[1])), f"{row_id}: a NaN input gave a NaN-free output"
    if grads and row.nan_grad:
        assert any(not np.all(np.isfinite(gk[1])) for gk in grads), f"{row_id}: a NaN input gave a finite gradient"
    # inf in: something non-finite, in the value or the gradient
    if row.inf:
        bad = not np.all(np.isfinite(out[2])) or any(not np.all(np.isfinite(gk[2])) for gk in grads)
        assert bad, f"{row_id}: an infinite input gave a finite value and gradient"


def test_naive_helpers_used_to_hide_nan():
    # the old safe helpers mapped NaN to the zero branch: magnitude(nan + 0j) was 0
    z = jnp.asarray([np.nan + 0j], jnp.complex64)
    assert np.isnan(np.asarray(js.magnitude(z))[0])
    g = jax.grad(lambda v: jnp.sum(js.magnitude(v)))(z)
    assert np.isnan(np.asarray(g)).any()
