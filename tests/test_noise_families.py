"""The noise families of jaxspec.enhance.noise: contracts of every kind (shape, dtype, unit RMS,
keyed draws, jit == vmap) and physical properties that a wrong generator would fail.

Small shapes and few compilations: one bank of every kind (compiled once, called twice), and one
compiled function per property check.
"""

import functools
import glob
import inspect
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxspec
from jaxspec.enhance import noise

SR = 16000
N = 4000  # bank clip length (0.25 s)
ROWS = 3  # rows per kind in the bank
OLD_KINDS = ("white", "pink", "brown", "hum", "clatter", "babble")


@functools.lru_cache(maxsize=None)
def _speech() -> np.ndarray:
    """About 14 s of the shipped speech corpus at 16 kHz (a synthetic voiced signal if it is absent)."""
    root = os.path.join(os.path.dirname(noise.__file__), "data", "speech")
    files = sorted(glob.glob(os.path.join(root, "**", "*.flac"), recursive=True))[:4]
    if files:
        x = np.concatenate([jaxspec.load(f, sr=None)[0] for f in files])
    else:  # voiced pulses and noise through three formants, random syllable envelope
        rng = np.random.default_rng(0)
        n = 8 * SR
        t = np.arange(n) / SR
        f0 = 150 + 50 * np.sin(2 * np.pi * 0.7 * t)
        src = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / SR)) + 0.5 * rng.standard_normal(n)
        f = np.fft.rfftfreq(n, 1 / SR)
        H = sum(1 / (1 + ((f - fc) / (0.1 * fc)) ** 2) for fc in (500, 1500, 2500)) + 1e-3
        env = np.repeat(rng.lognormal(0.0, 1.0, n // 1600 + 1), 1600)[:n] * (rng.random(n // 1600 + 1) > 0.2).repeat(1600)[:n]
        x = np.fft.irfft(np.fft.rfft(src) * H, n) * np.convolve(env, np.hanning(401) / 200, "same")
    return (x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def _welch(x, nfft: int = 1024) -> np.ndarray:
    """Averaged Hann periodogram over the last axis (50 % overlap)."""
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), nfft, axis=-1)[..., ::nfft // 2, :]
    return np.mean(np.abs(np.fft.rfft(frames * np.hanning(nfft), axis=-1)) ** 2, axis=-2)


def _kurtosis(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.mean(x ** 4, -1) / np.mean(x ** 2, -1) ** 2


# ------------------------------------------------------------------ constants and the bank of every kind


def test_kind_constants():
    assert noise.KINDS[:6] == OLD_KINDS  # the original kinds first, in their order
    assert noise.KINDS == noise.TRAIN_KINDS + noise.HELDOUT_KINDS
    assert noise.HELDOUT_KINDS == ("music", "machine", "traffic")
    assert not set(noise.TRAIN_KINDS) & set(noise.HELDOUT_KINDS)
    assert set(noise.MIXTURE_KINDS) <= set(noise.TRAIN_KINDS) - {"mixture"}
    # the held-out families stay out of training unless named
    assert inspect.signature(noise.noise_bank).parameters["kinds"].default == noise.TRAIN_KINDS
    for k in noise.HELDOUT_KINDS:
        assert f'``"{k}"``' in noise.__doc__
    assert "held-out" in noise.__doc__.lower()


_bank = jax.jit(noise.noise_bank, static_argnames=("n", "samples", "sr", "kinds"))


@pytest.fixture(scope="module")
def banks():
    speech = jnp.asarray(_speech())
    n = ROWS * len(noise.KINDS)
    run = lambda seed: np.asarray(_bank(jax.random.key(seed), speech, n=n, samples=N, sr=SR, kinds=noise.KINDS))
    return run(0), run(0), run(1)


@pytest.mark.parametrize("kind", noise.KINDS)
def test_every_kind_is_unit_rms_finite_and_keyed(banks, kind):
    a, b, c = (x[noise.KINDS.index(kind)::len(noise.KINDS)] for x in banks)
    assert a.shape == (ROWS, N) and a.dtype == np.float32
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(np.sqrt(np.mean(a.astype(np.float64) ** 2, -1)), 1.0, atol=1e-3)
    for i in range(ROWS):  # every row is its own draw
        for j in range(i):
            assert np.max(np.abs(a[i] - a[j])) > 0.1, (kind, i, j)
    np.testing.assert_array_equal(a, b)  # same key, same bits
    assert np.max(np.abs(a - c)) > 0.1  # another key, another draw


# ------------------------------------------------------------------ jit and vmap agree

M = 2000
_DIRECT = {
    "random_colored": lambda k, s: noise.random_colored(k, (M,)),
    "speech_shaped": lambda k, s: noise.speech_shaped(k, s, (M,)),
    "babble_varying": lambda k, s: noise.babble(k, s, (M,), n_talkers=5, min_talkers=2, level_db=10.0),
    "hum_drift": lambda k, s: noise.hum(k, (M,), sr=SR, drift=0.005),
    "transients": lambda k, s: noise.transients(k, (M,), sr=SR),
    "mixture": lambda k, s: noise.mixture(k, s, (M,), sr=SR, kinds=("colored", "clatter", "crowd")),
    "music": lambda k, s: noise.music(k, (M,), sr=SR),
    "machine": lambda k, s: noise.machine(k, (M,), sr=SR),
    "traffic": lambda k, s: noise.traffic(k, (M,), sr=SR),
}


@pytest.mark.parametrize("name", sorted(_DIRECT))
def test_jit_and_vmap_agree(name):
    f = _DIRECT[name]
    speech = jnp.asarray(_speech()[:3 * SR])
    keys = jax.random.split(jax.random.key(7), 3)
    batched = np.asarray(jax.jit(jax.vmap(f, in_axes=(0, None)))(keys, speech))
    one = jax.jit(f)
    single = np.stack([np.asarray(one(k, speech)) for k in keys])
    assert batched.shape == (3, M) and batched.dtype == np.float32 and np.all(np.isfinite(batched))
    np.testing.assert_allclose(batched, single, atol=2e-4, rtol=0)
    assert np.max(np.abs(single[0] - single[1])) > 0.1


# ------------------------------------------------------------------ physical properties


def _slopes(x) -> np.ndarray:
    """Fitted log-log slope of each row's periodogram (averaged in log-spaced bands)."""
    x = np.asarray(x, np.float64)
    P = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    edges = np.unique(np.geomspace(4, x.shape[-1] // 2, 30).astype(int))
    k = np.arange(P.shape[-1])
    fc = np.array([k[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    Pb = np.stack([P[:, a:b].mean(-1) for a, b in zip(edges[:-1], edges[1:])], -1)
    return np.array([np.polyfit(np.log10(fc), np.log10(p), 1)[0] for p in Pb])


def test_colored_slopes_follow_the_exponent():
    exponent = jnp.asarray([-0.5, 0.5, 1.5, 2.5])
    x = jax.jit(lambda k: noise.colored(k, (4, 16384), exponent=exponent))(jax.random.key(0))
    np.testing.assert_allclose(-_slopes(x), exponent, atol=0.3)
    # the "colored" kind draws one exponent per clip from -0.5..2.5
    x, e = jax.jit(lambda k: noise.random_colored(k, (8, 16384), return_exponent=True))(jax.random.key(1))
    e = np.asarray(e)
    assert e.shape == (8,) and e.min() >= -0.5 and e.max() <= 2.5 and np.ptp(e) > 1.0
    np.testing.assert_allclose(-_slopes(x), e, atol=0.3)


def test_speech_shaped_follows_the_long_term_speech_spectrum():
    speech = _speech()
    x = np.asarray(jax.jit(lambda k, s: noise.speech_shaped(k, s, (4, SR)))(jax.random.key(0), speech))
    f = np.fft.rfftfreq(1024, 1 / SR)
    edges = np.geomspace(100, 4000, 21)

    def bands(P):
        return 10 * np.log10([P[(f >= a) & (f < b)].mean() for a, b in zip(edges[:-1], edges[1:])])

    ls, ln = bands(_welch(speech)), bands(_welch(x).mean(0))
    lp = bands(_welch(np.asarray(noise.pink(jax.random.key(0), (4, SR)))).mean(0))
    assert np.corrcoef(ls, ln)[0, 1] > 0.8
    # the shape itself, not just a downward tilt: pink noise misses by ~3 dB per band
    assert np.mean(np.abs((ls - ls.mean()) - (ln - ln.mean()))) < 1.5
    assert np.mean(np.abs((ls - ls.mean()) - (lp - lp.mean()))) > 1.5


def _f0_track_spread(x) -> np.ndarray:
    """Peak-to-peak of each row's fundamental (40-70 Hz peak of 0.5 s Hann segments, 0.06 Hz grid)."""
    seg, pad = SR // 2, 1 << 18
    f = np.fft.rfftfreq(pad, 1 / SR)
    m = (f > 40) & (f < 70)
    out = []
    for r in np.asarray(x, np.float64):
        segs = r[: len(r) // seg * seg].reshape(-1, seg) * np.hanning(seg)
        X = np.abs(np.fft.rfft(segs, pad, axis=-1))[:, m]
        out.append(np.ptp(f[m][X.argmax(-1)]))
    return np.array(out)


def test_hum_drift_moves_the_fundamental():
    shape = (2, 4 * SR)
    drift = jax.jit(lambda k: noise.noise_bank(k, jnp.zeros(8), n=2, samples=4 * SR, sr=SR, kinds=("hum_drift",)))
    steady = jax.jit(lambda k: noise.hum(k, shape, sr=SR))
    moving = jax.jit(lambda k: noise.hum(k, shape, sr=SR, drift=0.005))
    for seed in (0, 1):
        assert np.all(_f0_track_spread(steady(jax.random.key(seed))) < 0.1)
        assert np.all(_f0_track_spread(moving(jax.random.key(seed))) > 0.15)  # ±0.5 % of 50/60 Hz
    assert np.all(_f0_track_spread(drift(jax.random.key(2))) > 0.15)
    # drift=0 is the original hum
    np.testing.assert_array_equal(np.asarray(noise.hum(jax.random.key(3), (2, 800), sr=8000, drift=0.0)),
                                  np.asarray(noise.hum(jax.random.key(3), (2, 800), sr=8000)))


def test_machine_has_strong_rotation_peaks_below_1khz():
    x = np.asarray(jax.jit(lambda k: noise.machine(k, (8, 2 * SR), sr=SR))(jax.random.key(0)))
    P = _welch(x, 4096)
    f = np.fft.rfftfreq(4096, 1 / SR)
    m = (f >= 15) & (f <= 1000)
    prominence = 10 * np.log10(P[:, m].max(-1) / np.median(P[:, m], -1))
    assert np.all(prominence > 20), prominence  # white noise: about 3 dB
    top = np.sort(P[:, m], -1)[:, ::-1][:, : m.sum() // 50].sum(-1) / P.sum(-1)
    assert np.all(top > 0.3), top  # the top 2 % of bins below 1 kHz hold much of the power


def test_music_is_tonal():
    x = np.asarray(jax.jit(lambda k: noise.music(k, (8, 2 * SR), sr=SR))(jax.random.key(0)))
    P = _welch(x)
    f = np.fft.rfftfreq(1024, 1 / SR)
    P = P[:, (f >= 100) & (f <= 4000)]
    flatness = np.exp(np.mean(np.log(P), -1)) / np.mean(P, -1)
    assert np.all(flatness < 0.15), flatness  # white noise: about 0.99


def test_traffic_is_mostly_below_500hz():
    x = np.asarray(jax.jit(lambda k: noise.traffic(k, (8, 2 * SR), sr=SR))(jax.random.key(0)), np.float64)
    P = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / SR)
    frac = P[:, f < 500].sum(-1) / P.sum(-1)
    assert np.all(frac > 0.75), frac


def test_transients_are_sparse():
    x = jax.jit(lambda k: noise.transients(k, (8, 2 * SR), sr=SR))(jax.random.key(0))
    k = _kurtosis(x)
    assert np.all(k > 15), k  # Gaussian noise: 3
    # at least one event per clip, even at the lowest rate in a short clip: each row decays from a
    # loud onset (a white floor alone would have blocks within ~1 dB of each other)
    y = jax.jit(lambda k: noise.transients(k, (6, SR // 2), sr=SR, min_rate=0.3, max_rate=0.3))(jax.random.key(1))
    blocks = np.sqrt(np.mean(np.asarray(y, np.float64).reshape(6, -1, 400) ** 2, -1))
    assert np.all(blocks.max(-1) > 3 * blocks.min(-1)), blocks.max(-1) / blocks.min(-1)


def test_babble_with_one_talker_is_a_scaled_excerpt():
    speech = _speech()[:2 * SR]
    x = np.asarray(jax.jit(lambda k, s: noise.babble(k, s, (3, N), n_talkers=1, min_talkers=1, level_db=10.0))(
        jax.random.key(0), speech), np.float64)
    stream = np.tile(speech.astype(np.float64), 2)
    energy = np.concatenate([[0.0], np.cumsum(stream ** 2)])
    norm = np.sqrt(energy[N:N + len(speech)] - energy[:len(speech)] + 1e-9)  # of stream[o:o + N]
    for row in x:
        # locate the excerpt by normalised cross-correlation, then compare after scaling
        c = np.fft.irfft(np.fft.rfft(stream) * np.conj(np.fft.rfft(row, len(stream))), len(stream))
        o = int(np.argmax(c[: len(speech)] / norm))
        ex = stream[o:o + N]
        np.testing.assert_allclose(row, ex / np.sqrt(np.mean(ex ** 2)), atol=1e-4)


def test_crowd_talker_count_varies():
    """min_talkers < n_talkers: rows with one talker are excerpts, others are sums (fewer excerpt fits)."""
    speech = _speech()[:2 * SR]
    one = jax.jit(lambda k, s: noise.babble(k, s, (64, 200), n_talkers=12, min_talkers=1, level_db=0.0))
    x = np.asarray(one(jax.random.key(0), speech), np.float64)
    stream = np.tile(speech.astype(np.float64), 2)
    win = np.lib.stride_tricks.sliding_window_view(stream, 200)[: len(speech)]
    win = win / np.sqrt(np.mean(win ** 2, -1, keepdims=True) + 1e-12)
    best = np.max(win @ x.T, axis=0) / 200  # 1.0 where a row is a single excerpt
    single = best > 0.999
    assert 1 <= single.sum() <= 20  # about 1 in 12 rows
    # the default keeps every talker: no row is a lone excerpt
    y = np.asarray(jax.jit(lambda k, s: noise.babble(k, s, (64, 200)))(jax.random.key(0), speech), np.float64)
    assert np.max(win @ y.T) / 200 < 0.99


# ------------------------------------------------------------------ errors


def test_bad_kinds_are_rejected_with_the_allowed_names():
    speech = jnp.ones(100)
    with pytest.raises(ValueError, match="kinds must be one of") as e:
        noise.noise_bank(jax.random.key(0), speech, n=2, samples=8, sr=SR, kinds=("white", "rain"))
    for k in noise.KINDS:
        assert repr(k) in str(e.value)
    with pytest.raises(ValueError, match="kinds"):
        noise.noise_bank(jax.random.key(0), speech, n=2, samples=8, sr=SR, kinds="white")
    with pytest.raises(ValueError, match="kinds"):
        noise.noise_bank(jax.random.key(0), speech, n=2, samples=8, sr=SR, kinds=())
    with pytest.raises(ValueError, match="kinds must be one of"):
        noise.mixture(jax.random.key(0), speech, (8,), sr=SR, kinds=("mixture", "white"))
    with pytest.raises(ValueError, match="at least two distinct"):
        noise.mixture(jax.random.key(0), speech, (8,), sr=SR, kinds=("white", "white"))


@pytest.mark.parametrize("call", [
    lambda k, s, shp: noise.random_colored(k, shp),
    lambda k, s, shp: noise.speech_shaped(k, s, shp),
    lambda k, s, shp: noise.transients(k, shp, sr=SR),
    lambda k, s, shp: noise.mixture(k, s, shp, sr=SR),
    lambda k, s, shp: noise.music(k, shp, sr=SR),
    lambda k, s, shp: noise.machine(k, shp, sr=SR),
    lambda k, s, shp: noise.traffic(k, shp, sr=SR),
    lambda k, s, shp: noise.babble(k, s, shp, min_talkers=2),
    lambda k, s, shp: noise.hum(k, shp, sr=SR, drift=0.01),
])
def test_non_int_shapes_are_rejected(call):
    k, s = jax.random.key(0), jnp.ones(100)
    with pytest.raises(TypeError, match="shape must be an int"):
        call(k, s, (2, 100.5))
    with pytest.raises(TypeError, match="shape must be an int"):
        call(k, s, ("3", 100))
    with pytest.raises(ValueError, match="shape"):
        call(k, s, (2, 0))
    with pytest.raises(ValueError, match="shape"):
        call(k, s, ())


def test_bad_arguments():
    k, s = jax.random.key(0), jnp.ones(100)
    with pytest.raises(TypeError, match="samples must be an int"):
        noise.noise_bank(k, s, n=2, samples=8.0, sr=SR, kinds=("white",))
    with pytest.raises(ValueError, match="min_talkers must be <= n_talkers"):
        noise.babble(k, s, (8,), n_talkers=3, min_talkers=4)
    with pytest.raises(ValueError, match="level_db"):
        noise.babble(k, s, (8,), level_db=-1.0)
    with pytest.raises(ValueError, match="drift"):
        noise.hum(k, (8,), sr=SR, drift=-0.1)
    with pytest.raises(TypeError, match="drift"):
        jax.jit(lambda d: noise.hum(k, (8,), sr=SR, drift=d))(0.01)
    with pytest.raises(ValueError, match="speech must be a 1-D"):
        noise.speech_shaped(k, jnp.ones((2, 10)), (8,))
    with pytest.raises(TypeError, match="speech"):
        noise.speech_shaped(k, jnp.ones(10, jnp.int16), (8,))
    with pytest.raises(ValueError, match="max_rate must be >= min_rate"):
        noise.transients(k, (8,), sr=SR, min_rate=2.0, max_rate=1.0)
    with pytest.raises(ValueError, match="sr must be a positive int"):
        noise.music(k, (8,), sr=0)
    with pytest.raises(ValueError, match="n_harmonics"):
        noise.music(k, (8,), sr=SR, n_harmonics=2)
