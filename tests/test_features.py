"""splice against a NumPy loop (edges included), normalize, Standardizer vs concatenated data."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxspec as js


def _splice_loop(X, left, right, pad):
    """Reference: one frame at a time, indices clipped / reflected / zero-filled at the edges."""
    F, T = X.shape[-2:]
    out = np.zeros(X.shape[:-2] + ((left + 1 + right) * F, T), X.dtype)
    for t in range(T):
        for k in range(left + 1 + right):
            s = t - left + k
            if pad == "edge":
                s = min(max(s, 0), T - 1)
            elif pad == "reflect":
                s = -s if s < 0 else (2 * (T - 1) - s if s > T - 1 else s)
            elif not 0 <= s < T:
                continue  # zeros
            out[..., k * F:(k + 1) * F, t] = X[..., :, s]
    return out


@pytest.mark.parametrize("left,right,pad,T", [
    (2, 2, "edge", 7), (3, 0, "edge", 5), (0, 4, "edge", 6), (5, 5, "edge", 3),  # context wider than the signal
    (1, 2, "constant", 6), (4, 4, "constant", 2), (2, 3, "reflect", 6), (0, 0, "edge", 4), (3, 1, "edge", 1),
])
def test_splice_matches_numpy_loop(left, right, pad, T):
    X = np.random.default_rng(left * 10 + right).standard_normal((2, 3, T)).astype(np.float32)
    ours = np.asarray(js.splice(X, left=left, right=right, pad=pad))
    assert ours.shape == (2, (left + 1 + right) * 3, T)
    np.testing.assert_array_equal(ours, _splice_loop(X, left, right, pad))


def test_splice_complex_and_jit(rng):
    X = (rng.standard_normal((5, 8)) + 1j * rng.standard_normal((5, 8))).astype(np.complex64)
    f = jax.jit(functools.partial(js.splice, left=1, right=1))
    np.testing.assert_array_equal(np.asarray(f(X)), _splice_loop(X, 1, 1, "edge"))


def test_splice_errors():
    X = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="splice: left must be an int >= 0, got -1"):
        js.splice(X, left=-1, right=1)
    with pytest.raises(ValueError, match="splice: pad must be one of 'edge', 'constant', 'reflect'; got 'wrap'"):
        js.splice(X, left=1, right=1, pad="wrap")
    with pytest.raises(ValueError, match=r"splice: pad='reflect' needs frames > max\(left, right\) = 4, got 4"):
        js.splice(X, left=4, right=1, pad="reflect")
    with pytest.raises(ValueError, match=r"splice: X must have shape \(\.\.\., freq, frames\)"):
        js.splice(X[0], left=1, right=1)
    with pytest.raises(TypeError, match="splice: left fixes an output shape"):
        jax.jit(lambda x, l: js.splice(x, left=l, right=0))(X, 1)


def test_normalize_per_utterance(rng):
    X = (5.0 + 3.0 * rng.standard_normal((2, 4, 50))).astype(np.float32)
    X[1, 2] = 7.0  # a constant row -> 0
    Y = np.asarray(js.normalize(X))
    ref = (X - X.mean(-1, keepdims=True)) / np.sqrt(X.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(Y, ref, atol=1e-5)
    np.testing.assert_array_equal(Y[1, 2], 0.0)
    Z = np.asarray(js.normalize(X, axis=(-2, -1), subtract_mean=False))
    np.testing.assert_allclose(Z, X / np.sqrt(X.var((-2, -1), keepdims=True) + 1e-5), rtol=1e-5)
    with pytest.raises(ValueError, match=r"normalize: axis=3 is out of range for an input with 3 dims"):
        js.normalize(X, axis=3)


# -- Standardizer ---------------------------------------------------------------------------------

_TRACES = []


def _counted_update(stats, batch, **kw):
    _TRACES.append(batch.shape)  # runs once per trace, not per call
    return js.Standardizer.update(stats, batch, **kw)


_update = jax.jit(_counted_update)


def test_standardizer_over_many_batches_equals_concatenated_stats():
    rng = np.random.default_rng(3)
    # log-mel-like data: large offset, per-band scale, batches of different sizes and lengths
    offsets = np.linspace(-70, -20, 6)[:, None]
    batches = [(offsets + 8.0 * rng.standard_normal((b, 6, t))).astype(np.float32)
               for b, t in [(4, 30), (4, 30), (1, 30), (4, 30), (3, 17), (4, 30), (2, 5), (4, 30)] * 3]
    stats = js.Standardizer.init((6, 1))
    for b in batches:
        stats = _update(stats, b)
    data = np.concatenate([np.moveaxis(b, 1, 0).reshape(6, -1) for b in batches], axis=1).astype(np.float64)
    assert np.all(np.asarray(stats.count)[:, 0] == data.shape[1])
    np.testing.assert_allclose(np.asarray(stats.mean)[:, 0], data.mean(1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(stats.variance)[:, 0], data.var(1), rtol=1e-5)
    # the jitted update compiled once per batch shape, not once per call
    shapes = [t for t in _TRACES if t[1:2] == (6,)]
    assert len(set(shapes)) == 4 and len(shapes) == 4
    # merge of two shards == one pass
    a = b = js.Standardizer.init((6, 1))
    for i, x in enumerate(batches):
        a, b = (_update(a, x), b) if i % 2 else (a, _update(b, x))
    m = a.merge(b)
    np.testing.assert_allclose(np.asarray(m.mean), np.asarray(stats.mean), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(m.variance), np.asarray(stats.variance), rtol=1e-5)
    # apply -> zero mean, unit variance on the data; invert undoes it
    apply, invert = jax.jit(js.Standardizer.apply), jax.jit(js.Standardizer.invert)
    Y = np.asarray(apply(stats, batches[0]))
    np.testing.assert_allclose(np.asarray(invert(stats, Y)), batches[0], atol=1e-3)
    allY = np.concatenate([np.moveaxis(np.asarray(apply(stats, b)), 1, 0).reshape(6, -1) for b in batches], axis=1)
    np.testing.assert_allclose(allY.mean(1), 0.0, atol=1e-4)
    np.testing.assert_allclose(allY.std(1), 1.0, atol=1e-4)


def test_standardizer_mask_global_shape_and_save(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 10)).astype(np.float32) * 2 + 1
    lengths = np.array([10, 6, 3])
    mask = (np.arange(10)[None, :] < lengths[:, None]).astype(np.float32)[:, None, :]  # (batch, 1, frames)
    s = _update(js.Standardizer.init((4, 1)), x, mask=mask)
    valid = np.concatenate([x[i, :, :n] for i, n in enumerate(lengths)], axis=1)
    np.testing.assert_allclose(np.asarray(s.mean)[:, 0], valid.mean(1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(s.variance)[:, 0], valid.var(1), rtol=1e-5)
    g = _update(js.Standardizer.init((1, 1)), x)
    np.testing.assert_allclose(float(g.mean[0, 0]), x.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(g.std[0, 0]), x.std(), rtol=1e-5)
    np.savez(tmp_path / "stats.npz", **s._asdict())
    with np.load(tmp_path / "stats.npz", allow_pickle=False) as f:
        back = js.Standardizer(**f)
    apply = jax.jit(js.Standardizer.apply)
    np.testing.assert_array_equal(np.asarray(apply(back, x)), np.asarray(apply(s, x)))
    assert jax.tree.leaves(s)[0].shape == (4, 1)  # a pytree of three arrays
    with pytest.raises(ValueError, match=r"Standardizer.update: batch shape \(3, 5, 10\) does not match the statistics shape \(4, 1\)"):
        s.update(np.zeros((3, 5, 10), np.float32))
    empty = js.Standardizer.init((4, 1))
    assert np.all(np.isfinite(np.asarray(apply(empty, x))))


# ----------------------------------------------------------------------------------------------
# rough edges met by a new user: empty statistics, channels-last layout, (samples, channels) audio


def test_empty_standardizer_raises_instead_of_scaling_by_one_over_sqrt_eps():
    X = np.random.default_rng(0).standard_normal((2, 5, 7)).astype(np.float32)
    empty = js.Standardizer.init((5, 1))
    for method in (empty.apply, empty.invert):
        with pytest.raises(ValueError, match=r"Standardizer\.(apply|invert): the statistics are empty \(all entries"):
            method(X)
    partly = js.Standardizer(empty.count.at[0, 0].set(4.0), empty.mean, empty.m2)
    with pytest.raises(ValueError, match="4 of 5 entries have count 0"):
        partly.apply(X)
    stats = empty.update(X)
    np.testing.assert_allclose(np.asarray(stats.apply(X)).mean(axis=(0, 2)), 0.0, atol=1e-5)


def test_to_channels_channels_last_for_flax_convolutions():
    r = np.random.default_rng(1)
    S = (r.standard_normal((2, 9, 6)) + 1j * r.standard_normal((2, 9, 6))).astype(np.complex64)
    X = np.asarray(js.to_channels(S, axis=-1))
    assert X.shape == (2, 9, 6, 2)
    np.testing.assert_array_equal(X[..., 0], S.real)
    np.testing.assert_array_equal(X[..., 1], S.imag)
    np.testing.assert_array_equal(np.moveaxis(X, -1, -3), js.to_channels(S))
    np.testing.assert_array_equal(js.from_channels(X, axis=-1), S)
    with pytest.raises(ValueError, match=r"from_channels: X must have shape \(\.\.\., freq, frames, 2\), got \(2, 2, 9, 6\) \(axis=-1"):
        js.from_channels(js.to_channels(S), axis=-1)
    with pytest.raises(ValueError, match="to_channels: axis must be -3 .* or -1"):
        js.to_channels(S, axis=1)


def test_stft_refuses_soundfile_layout():
    x = np.zeros((4000, 2), np.float32)  # soundfile.read: (samples, channels)
    with pytest.raises(ValueError, match=r"stft: x has shape \(4000, 2\).* pass jnp.swapaxes\(x, -1, -2\)"):
        js.stft(x, n_fft=512)
    assert js.stft(x.T, n_fft=512, hop_length=128).shape == (2, 257, 32)
    assert js.stft(np.zeros((3, 100), np.float32), n_fft=512).shape[:2] == (3, 257)  # short clips stay allowed
