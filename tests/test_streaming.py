"""Streamed STFT / iSTFT (jaxspec.streaming) against the offline transforms.

Streams run inside ``lax.scan`` (one compiled scan per chunk size), the remainder of a length that
is not a multiple of the chunk in one more step, then the flush. Tolerances: float32 within 1e-6
of the peak, float64 within 1e-12.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxspec as js
from jaxspec import streaming as st

CONFIGS = {  # n_fft, hop, win_length, window
    "hann-64-16": dict(n_fft=64, hop_length=16),
    "odd-63-20-win50": dict(n_fft=63, hop_length=20, win_length=50),
    "vorbis-forward-32-16": dict(n_fft=32, hop_length=16, window="vorbis", normalized="forward"),
}


def _scan_stft(x, chunk, p):
    """Stream ``x`` ``(..., L)`` through stft_step in chunks (a scan, then the remainder) and flush."""
    L = x.shape[-1]
    n = L // chunk
    state = st.stft_init(batch_shape=x.shape[:-1], dtype=x.dtype, **p)
    outs = []
    if n:
        xs = jnp.moveaxis(x[..., :n * chunk].reshape(x.shape[:-1] + (n, chunk)), -2, 0)
        state, out = jax.lax.scan(lambda s, c: st.stft_step(c, s, **p)[::-1], state, xs)
        outs.append(st.Chunk(jnp.moveaxis(out.values, 0, -2), out.valid))  # (..., freq, steps, K)
    if L % chunk:
        out, state = st.stft_step(x[..., n * chunk:], state, **p)
        outs.append(out)
    out, state = st.stft_flush(state, **p)
    outs.append(out)
    return outs


def _join(outs):
    """Keep the valid slots of scan outputs ``(..., steps, slots)`` and of single steps, in order."""
    parts = []
    for o in outs:
        v, m = np.asarray(o.values), np.asarray(o.valid)
        if m.ndim == 2:  # stacked by the scan
            for s in range(m.shape[0]):
                parts.append(v[..., s, :][..., m[s]])
        else:
            parts.append(v[..., m])
    return np.concatenate(parts, axis=-1)


def _scan_istft(S, k, p, length):
    T = S.shape[-1]
    n = T // k
    state = st.istft_init(batch_shape=S.shape[:-2], dtype=jnp.finfo(S.dtype).dtype, **p)
    outs = []
    if n:
        Ss = jnp.moveaxis(S[..., :n * k].reshape(S.shape[:-1] + (n, k)), -2, 0)
        state, out = jax.lax.scan(lambda s, c: st.istft_step(c, s, **p)[::-1], state, Ss)
        outs.append(st.Chunk(jnp.moveaxis(out.values, 0, -2), out.valid))  # (..., steps, slots)
    if T % k:
        out, state = st.istft_step(S[..., n * k:], state, **p)
        outs.append(out)
    out, state = st.istft_flush(state, length=length, **p)
    outs.append(out)
    return outs


def _signal(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("extra", [0, 7])
def test_streamed_stft_equals_stft(cfg, center, extra):
    p = CONFIGS[cfg] | dict(center=center)
    hop = p["hop_length"]
    L = hop * 9 + extra
    x = _signal((2, L), np.float32)
    ref = np.asarray(js.stft(x, **p))
    for chunk in (1, hop, 3 * hop + 5, L):
        got = _join(jax.jit(lambda x: _scan_stft(x, chunk, p))(x))
        assert got.shape == ref.shape, (chunk, got.shape, ref.shape)
        assert _rel(got, ref) <= 1e-6, (chunk, _rel(got, ref))


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("extra", [0, 7])
def test_streamed_istft_equals_istft(cfg, center, extra):
    p = CONFIGS[cfg] | dict(center=center)
    hop = p["hop_length"]
    L = hop * 9 + extra
    S = np.asarray(js.stft(_signal((2, L), np.float32, 1), **p))
    S = S * (1.0 + 0.5 * _signal(S.shape, np.float32, 2))  # not an STFT of anything: no consistency to lean on
    for length in (None, L):
        ref = np.asarray(js.istft(S, length=length, **p))
        for k in (1, 3, S.shape[-1]):
            got = _join(jax.jit(lambda S: _scan_istft(S, k, p, length))(S))
            assert got.shape[-1] >= ref.shape[-1], (k, length, got.shape, ref.shape)
            assert _rel(got[..., :ref.shape[-1]], ref) <= 1e-6, (k, length)
            if length is None:  # the default length is what the stream gives, sample for sample
                assert got.shape == ref.shape, (k, got.shape, ref.shape)


@pytest.mark.parametrize("center", [True, False])
def test_float64_streams_equal_offline(x64, center):
    p = CONFIGS["odd-63-20-win50"] | dict(center=center)
    hop = p["hop_length"]
    for L in (hop * 9, hop * 9 + 7):
        x = _signal((L,), np.float64, 3)
        ref = np.asarray(js.stft(x, **p))
        assert ref.dtype == np.complex128
        for chunk in (1, 3 * hop + 5, L):  # (float32 covers chunk = hop too)
            got = _join(jax.jit(lambda x: _scan_stft(x, chunk, p))(x))
            assert got.dtype == np.complex128 and _rel(got, ref) <= 1e-12, (L, chunk, _rel(got, ref))
        refi = np.asarray(js.istft(ref, length=L, **p))
        for k in (1, ref.shape[-1]):
            got = _join(jax.jit(lambda S: _scan_istft(S, k, p, L))(ref))
            assert got.dtype == np.float64 and _rel(got, refi) <= 1e-12, (L, k, _rel(got, refi))
        if center:  # (without padding the edges of a zero-padded window are not covered)
            np.testing.assert_allclose(refi, x, atol=1e-12)


def _round_trip(x, chunk, p, gain=None):
    """stft_step -> (gain per bin) -> istft_step on each chunk, in one scan; returns the stacked chunks."""
    L = x.shape[-1]
    n = L // chunk
    a = st.stft_init(batch_shape=x.shape[:-1], dtype=x.dtype, **p)
    s = st.istft_init(batch_shape=x.shape[:-1], dtype=x.dtype, **p)

    def step(carry, c):
        a, s = carry
        F, a = st.stft_step(c, a, **p)
        Y = F.values if gain is None else F.values * gain[..., None]
        out, s = st.istft_step(Y, s, valid=F.valid, **p)
        return (a, s), out

    xs = jnp.moveaxis(x.reshape(x.shape[:-1] + (n, chunk)), -2, 0)
    (a, s), outs = jax.lax.scan(step, (a, s), xs)
    F, a = st.stft_flush(a, **p)
    Y = F.values if gain is None else F.values * gain[..., None]
    last, s = st.istft_step(Y, s, valid=F.valid, **p)
    tail, s = st.istft_flush(s, length=L, **p)
    return outs, last, tail


@pytest.mark.parametrize("chunk", [1, 16, 53])
def test_round_trip_in_one_scan_and_its_latency(chunk):
    p = dict(n_fft=64, hop_length=16)
    L = 16 * 53
    x = _signal((L,), np.float32, 4)
    outs, last, tail = jax.jit(lambda x: _round_trip(x, chunk, p))(x)
    y = np.concatenate([st.collect(outs), st.collect([last, tail])])
    np.testing.assert_allclose(y, x, atol=1e-5)
    # latency: output sample s leaves with the step whose last input sample is (step + 1) * chunk - 1
    valid = np.asarray(outs.valid)
    steps, slots = np.nonzero(valid)
    delay = (steps + 1) * chunk - 1 - np.arange(len(steps))
    assert int(delay.max()) == st.latency(n_fft=64, hop_length=16, chunk=chunk)
    assert st.latency(n_fft=64, hop_length=16, chunk=1) == 63


def test_vmap_and_leading_batch_dims():
    p = dict(n_fft=64, hop_length=16)
    x = _signal((3, 2, 16 * 9 + 7), np.float32, 5)
    ref = np.asarray(js.stft(x, **p))
    run = lambda x: _scan_stft(x, 21, p)
    native = _join(jax.jit(run)(x))  # batch_shape (3, 2)
    mapped = jax.jit(jax.vmap(jax.vmap(run)))(x)  # states made inside vmap
    assert _rel(native, ref) <= 1e-6
    # under vmap the masks gain the batch dims; every example is at the same place
    v, m = np.asarray(mapped[0].values), np.asarray(mapped[0].valid)
    assert m.shape[:2] == (3, 2) and (m == m[:1, :1]).all()
    assert _rel(_join([st.Chunk(v, m[0, 0])] + [st.Chunk(o.values, o.valid[0, 0]) for o in mapped[1:]]), ref) <= 1e-6


def test_vmap_over_a_state():
    p = dict(n_fft=32, hop_length=8)
    x = _signal((4, 40), np.float32, 6)
    states = jax.vmap(lambda _: st.stft_init(**p))(jnp.arange(4))
    out, new = jax.vmap(lambda c, s: st.stft_step(c, s, **p))(x, states)
    for b in range(4):
        o, s = st.stft_step(x[b], st.stft_init(**p), **p)
        np.testing.assert_allclose(np.asarray(out.values[b]), np.asarray(o.values), atol=1e-5)
        np.testing.assert_array_equal(np.asarray(out.valid[b]), np.asarray(o.valid))
        np.testing.assert_allclose(np.asarray(new.buffer[b]), np.asarray(s.buffer))


def _flat(outs):
    """Scan-stacked and single outputs as one array over all slots, and the mask of the valid ones."""
    vals, masks = [], []
    for o in outs:
        v, m = o.values, o.valid
        if m.ndim == 2:  # stacked by a scan: values (..., steps, slots), valid (steps, slots)
            v = v.reshape(v.shape[:-2] + (-1,))
            m = m.reshape(-1)
        vals.append(v)
        masks.append(m)
    return jnp.concatenate(vals, axis=-1), jnp.concatenate(masks)


@pytest.mark.parametrize("center", [True, False])
def test_gradients_equal_the_offline_ones(center):
    p = dict(n_fft=32, hop_length=8, center=center)
    L = 8 * 7 + 3
    x = _signal((L,), np.float32, 7)
    ref_S = np.asarray(js.stft(x, **p))
    wS = jnp.asarray(_signal(ref_S.shape, np.float32, 8))
    wy = jnp.asarray(_signal((L,), np.float32, 9))

    def offline(x):
        S = js.stft(x, **p)
        return jnp.sum(wS * jnp.abs(S) ** 2) + jnp.sum(wy * js.istft(S * wS, **p, length=L))

    # which slots are valid does not depend on the data: read it once, use it as a constant
    _, m1 = _flat(_scan_stft(x, 5, p))
    sel1 = np.nonzero(np.asarray(m1))[0]
    _, m2 = _flat(_scan_istft(ref_S, 3, p, L))
    sel2 = np.nonzero(np.asarray(m2))[0][:L]

    def streamed(x):
        S = _flat(_scan_stft(x, 5, p))[0][..., sel1]
        y = _flat(_scan_istft(S * wS, 3, p, L))[0][sel2]
        return jnp.sum(wS * jnp.abs(S) ** 2) + jnp.sum(wy * y)

    g_ref = np.asarray(jax.jit(jax.grad(offline))(x))
    grad = jax.jit(jax.grad(streamed))
    assert _rel(np.asarray(grad(x)), g_ref) <= 1e-5
    assert np.isfinite(np.asarray(grad(jnp.zeros_like(x)))).all()  # at silence too


def test_a_state_from_other_parameters_is_refused():
    s = st.stft_init(batch_shape=(2,), n_fft=64, hop_length=16)
    x = np.zeros((2, 10), np.float32)
    with pytest.raises(ValueError, match=r"hop_length=16 \(this call: 32\)"):
        st.stft_step(x, s, n_fft=64, hop_length=32)
    with pytest.raises(ValueError, match="n_fft"):
        st.stft_step(x, s, n_fft=128, hop_length=16)
    with pytest.raises(ValueError, match="center"):
        st.stft_step(x, s, n_fft=64, hop_length=16, center=False)
    with pytest.raises(ValueError, match="window"):
        st.stft_step(x, s, n_fft=64, hop_length=16, window="hamming")
    with pytest.raises(ValueError, match="window array"):
        s2 = st.stft_init(n_fft=8, hop_length=2, window=np.hanning(8))
        st.stft_step(np.zeros(4, np.float32), s2, n_fft=8, hop_length=2, window=np.hamming(8))
    with pytest.raises(ValueError, match=r"batch shape \(2,\).*batch shape \(3,\)"):
        st.stft_step(np.zeros((3, 10), np.float32), s, n_fft=64, hop_length=16)
    with pytest.raises(ValueError, match="normalized"):
        st.stft_flush(s, n_fft=64, hop_length=16, normalized=True)
    with pytest.raises(ValueError, match="float64"):
        with jax.enable_x64(True):
            st.stft_step(np.zeros((2, 10), np.float64), s, n_fft=64, hop_length=16)
    i = st.istft_init(n_fft=64, hop_length=16)
    with pytest.raises(ValueError, match="hop_length"):
        st.istft_step(np.zeros((33, 2), np.complex64), i, n_fft=64, hop_length=8)
    with pytest.raises(ValueError, match="33 frequency bins"):
        st.istft_step(np.zeros((17, 2), np.complex64), i, n_fft=64, hop_length=16)
    with pytest.raises(TypeError, match="ISTFTState"):
        st.istft_step(np.zeros((33, 2), np.complex64), s, n_fft=64, hop_length=16)
    with pytest.raises(ValueError, match="valid"):
        st.istft_step(np.zeros((33, 2), np.complex64), i, n_fft=64, hop_length=16, valid=np.ones(3, bool))


def test_bad_parameters_are_refused_eagerly():
    with pytest.raises(ValueError, match="pad_mode='reflect' cannot be streamed"):
        st.stft_init(n_fft=64, pad_mode="reflect")
    with pytest.raises(ValueError, match="pad_mode"):
        st.stft_init(n_fft=64, pad_mode="edge")
    with pytest.raises(ValueError, match="NOLA"):
        st.istft_init(n_fft=64, hop_length=64, window="hann")
    with pytest.raises(TypeError, match="batch_shape"):
        st.stft_init(batch_shape="two", n_fft=64)
    with pytest.raises(ValueError, match="samples >= 1"):
        st.stft_step(np.zeros((0,), np.float32), st.stft_init(n_fft=64), n_fft=64)
    with pytest.raises(TypeError, match="integer"):
        st.stft_step(np.zeros((4,), np.int16), st.stft_init(n_fft=64), n_fft=64)
    with pytest.raises(ValueError, match="chunk"):
        st.latency(n_fft=64, chunk=0)
    with pytest.raises(ValueError, match="collect"):
        st.collect([])


def test_a_long_stream_does_not_overflow_its_counters():
    p = dict(n_fft=64, hop_length=16)
    s = st.stft_init(**p)
    s = st.STFTState(s.buffer, jnp.asarray(64 + 16 - 1, jnp.int32), s.params)  # just before the wrap
    x = _signal((200,), np.float32, 10)
    out, s = st.stft_step(x, s, **p)
    assert int(s.position) < 64 + 16
    i = st.istft_init(**p)
    i = st.ISTFTState(i.pending, jnp.asarray(2**31 - 100, jnp.int32), i.params)
    out, i = st.istft_step(np.ones((33, 4), np.complex64), i, **p)
    assert bool(np.all(np.asarray(out.valid)))  # far past the padding, whatever the counter says
