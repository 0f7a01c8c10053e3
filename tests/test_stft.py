"""STFT/iSTFT: parity with librosa and torch, round trip, dtypes, and one test per bad input."""

from __future__ import annotations

import functools
import itertools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

import jaxspec as js
from tests._reference import definition_stft, envelope_mask, librosa_istft, librosa_stft

# The grid of the foundation issue: odd/even sizes, hops that do and don't divide n_fft, a window
# shorter than n_fft, center on/off and both pad modes, three windows.
N_FFTS = (256, 400, 511, 512)
WINDOWS = ("hann", "hamming", "blackman")
LENGTH = 2400


def _grid(n_fft):
    for hop, wl, center, pad_mode in itertools.product((n_fft // 4, 100, 160), (None, n_fft - 16), (True, False),
                                                        ("constant", "reflect")):
        if not center and pad_mode == "reflect":
            continue  # pad_mode only matters when center=True
        for window in WINDOWS:
            yield dict(n_fft=n_fft, hop_length=hop, win_length=wl, center=center, pad_mode=pad_mode, window=window)


def _signal(dtype, batch=(2,), n=LENGTH, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, batch + (n,)).astype(dtype)


def _reference_stft(x, cfg):
    """librosa.stft, except its last frame for reflect padding, which is checked against the
    definition instead (librosa's tail-frame shortcut departs from it; see _reference.py)."""
    ref = librosa_stft(x, **cfg)
    if cfg["center"] and cfg["pad_mode"] == "reflect":
        ref[..., -1] = definition_stft(x, **cfg)[..., -1]
    return ref


# float32: relative error of the max magnitude <= 1e-4; float64: <= 1e-10.
@pytest.mark.parametrize("n_fft", N_FFTS)
def test_stft_matches_librosa_float32(n_fft):
    x = _signal(np.float32)
    worst = 0.0
    for cfg in _grid(n_fft):
        ours = np.asarray(js.stft(x, **cfg))
        ref = _reference_stft(x, cfg)
        assert ours.shape == ref.shape, cfg
        assert ours.dtype == np.complex64
        assert ours.shape[-1] == js.n_frames(LENGTH, n_fft=n_fft, hop_length=cfg["hop_length"], center=cfg["center"])
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        worst = max(worst, err)
        assert err <= 1e-4, (cfg, err)
    assert worst > 0  # the comparison really compared two computations


@pytest.mark.parametrize("n_fft", N_FFTS)
def test_stft_matches_librosa_float64(n_fft, x64):
    x = _signal(np.float64)
    for cfg in _grid(n_fft):
        ours = np.asarray(js.stft(x, **cfg))
        assert ours.dtype == np.complex128
        ref = _reference_stft(x, cfg)
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        assert err <= 1e-10, (cfg, err)


def test_librosa_tail_frame_quirk_is_real():
    """Documents why _reference_stft patches one frame: librosa's last reflect-padded frame differs
    from the definition, and torch agrees with the definition (and with us)."""
    torch = pytest.importorskip("torch")
    x = _signal(np.float32, batch=())
    cfg = dict(n_fft=256, hop_length=160, win_length=None, center=True, pad_mode="reflect", window="hamming")
    lib, dfn = librosa_stft(x, **cfg), definition_stft(x, **cfg)
    w = torch.from_numpy(js.get_window("hamming", win_length=256).astype(np.float32))
    tor = torch.stft(torch.from_numpy(x), 256, 160, window=w, center=True, pad_mode="reflect", return_complex=True).numpy()
    ours = np.asarray(js.stft(x, **cfg))
    np.testing.assert_allclose(ours, dfn, atol=1e-4)
    np.testing.assert_allclose(tor, dfn, atol=1e-4)
    np.testing.assert_allclose(lib[..., :-1], dfn[..., :-1], atol=1e-4)


@pytest.mark.parametrize("n_fft", N_FFTS)
def test_istft_matches_librosa(n_fft):
    """Same output as librosa.istft where the window-sum-square envelope is well conditioned
    (>= 1e-3 of its max); elsewhere both divide rounding noise by ~1e-30 (center=False edges)."""
    x = _signal(np.float32)
    for cfg in _grid(n_fft):
        if cfg["pad_mode"] == "reflect":
            continue
        kw = {k: v for k, v in cfg.items() if k != "pad_mode"}
        S = librosa_stft(x, **cfg)
        for length in (None, LENGTH, LENGTH - 37):
            ours = np.asarray(js.istft(S, length=length, **kw))
            ref = librosa_istft(S, length=length, **kw)
            assert ours.shape == ref.shape, (cfg, length)
            ok = envelope_mask(n_frames=S.shape[-1], length=ours.shape[-1], **{k: v for k, v in kw.items()})
            np.testing.assert_allclose(ours[..., ok], ref[..., ok], atol=1e-5, err_msg=str((cfg, length)))


@pytest.mark.parametrize("n_fft", N_FFTS)
def test_round_trip_float32(n_fft):
    """istft(stft(x)) == x to 1e-5 absolute for peak-1 float32 signals (well-conditioned samples;
    with center=True and hop <= n_fft // 4 that is every sample)."""
    x = _signal(np.float32)
    for cfg in _grid(n_fft):
        kw = {k: v for k, v in cfg.items() if k != "pad_mode"}
        y = np.asarray(js.istft(js.stft(x, **cfg), length=LENGTH, **kw))
        ok = envelope_mask(n_frames=js.n_frames(LENGTH, n_fft=n_fft, hop_length=cfg["hop_length"], center=cfg["center"]),
                           length=LENGTH, **kw)
        if cfg["center"] and cfg["hop_length"] <= n_fft // 4:
            assert ok.all()
        np.testing.assert_allclose(y[..., ok], x[..., ok], atol=1e-5, err_msg=str(cfg))


def test_round_trip_float64(x64):
    x = _signal(np.float64)
    for n_fft, hop in ((512, 128), (511, 100), (400, 160)):
        y = js.istft(js.stft(x, n_fft=n_fft, hop_length=hop), n_fft=n_fft, hop_length=hop, length=LENGTH)
        assert y.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(y), x, atol=1e-12)


_rt = functools.partial(jax.jit, static_argnames=("n_fft", "hop_length", "window", "center"))


@_rt
def _roundtrip(x, *, n_fft, hop_length, window, center):
    S = js.stft(x, n_fft=n_fft, hop_length=hop_length, window=window, center=center)
    return js.istft(S, n_fft=n_fft, hop_length=hop_length, window=window, center=center, length=x.shape[-1])


@given(
    n=st.sampled_from([300, 1000, 1601]),
    n_fft=st.sampled_from([64, 65, 128]),
    hop_div=st.sampled_from([2, 4]),
    window=st.sampled_from(["hann", "sqrt_hann", "hamming", ("kaiser", 8.0)]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(n, n_fft, hop_div, window, seed):
    """For NOLA windows and centred frames, istft(stft(x)) == x (jitted)."""
    hop = n_fft // hop_div
    assert js.check_nola(window, n_fft=n_fft, hop_length=hop)
    x = np.random.default_rng(seed).uniform(-1, 1, (n,)).astype(np.float32)
    y = _roundtrip(x, n_fft=n_fft, hop_length=hop, window=window, center=True)
    np.testing.assert_allclose(np.asarray(y), x, atol=1e-5)


def test_jit_equals_eager_on_grid_subset():
    x = _signal(np.float32)
    for n_fft in N_FFTS:
        cfg = dict(n_fft=n_fft, hop_length=100, win_length=n_fft - 16, center=True, pad_mode="reflect", window="hamming")
        f = jax.jit(functools.partial(js.stft, **cfg))
        np.testing.assert_allclose(np.asarray(f(x)), np.asarray(js.stft(x, **cfg)), rtol=1e-6, atol=1e-5)


def test_normalized_matches_torch():
    torch = pytest.importorskip("torch")
    x = _signal(np.float32, batch=(1,))
    n_fft, hop = 400, 100
    ref = torch.stft(torch.from_numpy(x), n_fft, hop, window=torch.hann_window(n_fft), center=True, pad_mode="constant",
                     normalized=True, return_complex=True).numpy()
    ours = np.asarray(js.stft(x, n_fft=n_fft, hop_length=hop, normalized=True))
    np.testing.assert_allclose(ours, ref, atol=1e-4 * np.abs(ref).max())
    y = js.istft(ours, n_fft=n_fft, hop_length=hop, normalized=True, length=LENGTH)
    np.testing.assert_allclose(np.asarray(y), x, atol=1e-5)


@pytest.mark.parametrize("n_fft,hop,center", [(256, 64, True), (256, 100, False), (511, 128, True)])
def test_gradient_matches_torch(n_fft, hop, center):
    """d/dx sum(W * |stft(x)|^2) equals torch.stft's autograd gradient."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (2, 1500)).astype(np.float32)
    F, T = n_fft // 2 + 1, js.n_frames(1500, n_fft=n_fft, hop_length=hop, center=center)
    W = rng.uniform(0, 1, (F, T)).astype(np.float32)

    def loss(x):
        return jnp.sum(W * js.power(js.stft(x, n_fft=n_fft, hop_length=hop, center=center)))

    g = np.asarray(jax.grad(loss)(x))
    xt = torch.from_numpy(x).requires_grad_(True)
    St = torch.stft(xt, n_fft, hop, window=torch.hann_window(n_fft), center=center, pad_mode="constant", return_complex=True)
    (torch.from_numpy(W) * St.abs() ** 2).sum().backward()
    gt = xt.grad.numpy()
    np.testing.assert_allclose(g, gt, atol=1e-4 * np.abs(gt).max(), rtol=1e-3)


def test_istft_length_pads_and_trims():
    x = _signal(np.float32, batch=())
    S = js.stft(x, n_fft=256, hop_length=64)
    long = js.istft(S, n_fft=256, hop_length=64, length=LENGTH + 500)
    assert long.shape == (LENGTH + 500,)
    np.testing.assert_allclose(np.asarray(long[:LENGTH]), x, atol=1e-5)
    assert np.all(np.asarray(long[LENGTH + 200:]) == 0)
    short = js.istft(S, n_fft=256, hop_length=64, length=777)
    np.testing.assert_allclose(np.asarray(short), x[:777], atol=1e-5)


def test_low_precision_inputs_compute_in_float32():
    x = _signal(np.float32, batch=())
    ref = js.stft(x, n_fft=128)
    for dt in (jnp.bfloat16, jnp.float16):
        S = js.stft(jnp.asarray(x, dt), n_fft=128)
        assert S.dtype == jnp.complex64
        np.testing.assert_allclose(np.asarray(S), np.asarray(js.stft(jnp.asarray(x, dt).astype(jnp.float32), n_fft=128)))
    assert ref.dtype == jnp.complex64


def test_array_and_tuple_windows():
    x = _signal(np.float32, batch=())
    w = np.hanning(401)[:400]  # any concrete array of length win_length
    np.testing.assert_allclose(np.asarray(js.stft(x, n_fft=512, win_length=400, window=w)),
                               librosa_stft(x, n_fft=512, hop_length=100, win_length=400, window=w), atol=1e-4)
    np.testing.assert_allclose(np.asarray(js.stft(x, n_fft=256, hop_length=64, window=("kaiser", 8.0))),
                               librosa_stft(x, n_fft=256, hop_length=64, window=("kaiser", 8.0)), atol=1e-4)


def test_frequencies_and_frame_times_match_librosa():
    import librosa

    for n_fft in (256, 511):
        np.testing.assert_allclose(np.asarray(js.frequencies(sr=16000, n_fft=n_fft)),
                                   librosa.fft_frequencies(sr=16000, n_fft=n_fft), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(js.frame_times(50, sr=16000, hop_length=160)),
                               librosa.frames_to_time(np.arange(50), sr=16000, hop_length=160), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(js.frame_times(50, sr=16000, hop_length=160, n_fft=400)),
                               librosa.frames_to_time(np.arange(50), sr=16000, hop_length=160, n_fft=400), rtol=1e-6)


def test_frame_and_overlap_add_are_adjoint():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000).astype(np.float32)
    y = rng.standard_normal((js.frame(x, frame_length=100, hop_length=30).shape)).astype(np.float32)
    lhs = float(jnp.vdot(js.frame(x, frame_length=100, hop_length=30), y))
    ola = js.overlap_add(y, hop_length=30)
    rhs = float(jnp.vdot(x[: ola.shape[-1]], ola))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)
    import librosa

    np.testing.assert_array_equal(np.asarray(js.frame(x, frame_length=100, hop_length=30)),
                                  librosa.util.frame(x, frame_length=100, hop_length=30).T)


# ---- bad input: one test per case, each message names the argument ----

def test_error_n_fft_not_positive():
    with pytest.raises(ValueError, match=r"stft: n_fft must be a positive int, got 0"):
        js.stft(np.zeros(1000, np.float32), n_fft=0)


def test_error_hop_length_not_positive():
    with pytest.raises(ValueError, match=r"stft: hop_length must be a positive int, got 0"):
        js.stft(np.zeros(1000, np.float32), n_fft=256, hop_length=0)


def test_error_win_length_too_long():
    with pytest.raises(ValueError, match=r"stft: win_length must be <= n_fft \(256\), got 300"):
        js.stft(np.zeros(1000, np.float32), n_fft=256, win_length=300)


def test_error_unknown_window():
    with pytest.raises(ValueError, match=r"stft: unknown window 'hanm'"):
        js.stft(np.zeros(1000, np.float32), n_fft=256, window="hanm")


def test_error_unknown_pad_mode():
    with pytest.raises(ValueError, match=r"stft: pad_mode must be one of 'constant', 'reflect'; got 'edge'"):
        js.stft(np.zeros(1000, np.float32), n_fft=256, pad_mode="edge")


def test_error_short_signal_without_center():
    with pytest.raises(ValueError, match=r"stft: with center=False the signal must have at least n_fft=256 samples"):
        js.stft(np.zeros(100, np.float32), n_fft=256, center=False)


def test_error_istft_n_fft_disagrees_with_freq():
    S = js.stft(np.zeros(1000, np.float32), n_fft=256)
    with pytest.raises(ValueError, match=r"istft: n_fft=512 expects S.shape\[-2\] == 257"):
        js.istft(S, n_fft=512)


def test_error_nola_violation():
    S = js.stft(np.zeros(1000, np.float32), n_fft=256, win_length=64, hop_length=128)
    with pytest.raises(ValueError, match=r"istft: .*hop_length=128 violates NOLA"):
        js.istft(S, n_fft=256, win_length=64, hop_length=128)


def test_error_integer_input():
    with pytest.raises(TypeError, match=r"stft: x must be a floating-point array, got dtype int16.*x / 32768"):
        js.stft(np.zeros(1000, np.int16), n_fft=256)


def test_error_traced_static_argument():
    with pytest.raises(TypeError, match=r"stft: n_fft fixes an output shape.*functools.partial"):
        jax.jit(lambda x, n: js.stft(x, n_fft=n))(np.zeros(1000, np.float32), 256)


def test_error_window_array_length():
    with pytest.raises(ValueError, match=r"stft: window array must have shape \(256,\)"):
        js.stft(np.zeros(1000, np.float32), n_fft=256, window=np.ones(100))


def test_error_complex_input_to_stft():
    with pytest.raises(TypeError, match=r"stft: x must be a real floating-point array"):
        js.stft(np.zeros(1000, np.complex64), n_fft=256)


# fft_impl="matmul": the DFT as one real matmul with the window folded in. Parity with the FFT
# path <= 1e-4 of the peak magnitude in float32 (measured: 7e-7), 1e-10 in float64.
# (n_fft, hop_length, win_length, window, center, normalized)
DFT_GRID = [(256, 64, None, "hann", True, False), (400, 100, 384, "hamming", True, True),
            (511, 128, None, "blackman", False, False), (512, 160, 400, "hann", True, False)]


def _dft_vs_fft(dtype, grid):
    x = _signal(dtype)
    worst = 0.0
    for n_fft, hop, wl, window, center, normalized in grid:
        kw = dict(n_fft=n_fft, hop_length=hop, win_length=wl, window=window, center=center, normalized=normalized)

        @jax.jit
        def both(x):
            S = js.stft(x, **kw)
            y = js.istft(S, **kw, length=x.shape[-1] if center else None)
            Sm = js.stft(x, **kw, fft_impl="matmul")
            ym = js.istft(S, **kw, length=x.shape[-1] if center else None, fft_impl="matmul")
            return S, Sm, y, ym

        S, Sm, y, ym = (np.asarray(a) for a in both(x))
        assert Sm.dtype == S.dtype and Sm.shape == S.shape and ym.dtype == y.dtype and ym.shape == y.shape
        if not center:  # the ends, where the window-sum-square envelope is ~0, amplify any rounding
            y, ym = y[..., n_fft // 2:-(n_fft // 2)], ym[..., n_fft // 2:-(n_fft // 2)]
        err = max(np.max(np.abs(Sm - S)) / np.max(np.abs(S)), np.max(np.abs(ym - y)) / np.max(np.abs(y)))
        worst = max(worst, float(err))
    return worst


def test_dft_matmul_matches_fft_float32():
    assert _dft_vs_fft(np.float32, DFT_GRID) <= 1e-4


def test_dft_matmul_matches_fft_float64(x64):
    assert _dft_vs_fft(np.float64, DFT_GRID[1:3]) <= 1e-10


def test_dft_matmul_gradient_matches_fft():
    x = _signal(np.float32, batch=())
    kw = dict(n_fft=256, hop_length=64)

    def loss(impl):
        def f(x):
            S = js.stft(x, **kw, fft_impl=impl)
            return jnp.sum(js.istft(S * jnp.tanh(jnp.abs(S)), **kw, length=x.shape[-1], fft_impl=impl) ** 2)
        return jax.jit(jax.grad(f))

    g_fft, g_mm = np.asarray(loss("fft")(x)), np.asarray(loss("matmul")(x))
    np.testing.assert_allclose(g_mm, g_fft, atol=1e-4 * np.max(np.abs(g_fft)), rtol=0)


def test_error_unknown_fft_impl():
    with pytest.raises(ValueError, match=r"stft: fft_impl must be one of 'fft', 'matmul'; got 'dft'"):
        js.stft(np.zeros(1000, np.float32), n_fft=256, fft_impl="dft")
    S = js.stft(np.zeros(1000, np.float32), n_fft=256)
    with pytest.raises(ValueError, match=r"istft: fft_impl must be one of 'fft', 'matmul'; got 'MATMUL'"):
        js.istft(S, n_fft=256, fft_impl="MATMUL")


@pytest.mark.parametrize("rows", [1, 5])
def test_istft_row_loop_equals_the_whole_batch_in_value_and_gradient(rows, monkeypatch):
    """On CPU the iSTFT's synthesis loops over groups of rows; with a remainder group (5 rows in
    groups of 2) and without a loop it gives the same values and gradients."""
    from jaxspec import _fft

    rng = np.random.default_rng(0)
    S = (rng.standard_normal((rows, 65, 200)) + 1j * rng.standard_normal((rows, 65, 200))).astype(np.complex64)
    kw = dict(n_fft=128, hop_length=32, length=6000)

    def run():
        f = jax.jit(lambda s: js.istft(s, **kw))
        g = jax.jit(jax.grad(lambda s: jnp.sum(js.istft(s, **kw) ** 2)))
        return np.asarray(f(S)), np.asarray(g(S))

    monkeypatch.setattr(_fft, "_ROW_FRAMES", 400)  # 2 rows of 200 frames per step
    looped = run()
    monkeypatch.setattr(_fft, "_ROW_FRAMES", 0)
    whole = run()
    for a, b in zip(looped, whole):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())
