"""jaxspec.bands against DeepFilterNet's reference (``libdf`` from PyPI ``deepfilterlib``) and its formulas.

Conventions pinned here: libdf works on ``[channels, frames, freq]`` arrays; jaxspec on
``(..., freq, frames)``, so every comparison swaps the last two axes. libdf's analysis frame
``t`` covers samples ``[(t + 1) * hop - n_fft, (t + 1) * hop)`` (zero history), scaled by
``2 * hop / n_fft**2``; its synthesis overlap-adds the unnormalised inverse FFT, delaying the
signal by ``n_fft - hop`` samples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxspec as js
from jaxspec import bands

libdf = pytest.importorskip("libdf")

CONFIGS = [(48000, 960, 32, 2), (16000, 320, 32, 1), (24000, 192, 24, 1)]


def _tf(a):
    return np.swapaxes(np.asarray(a), -1, -2)


def _signal(sr, seconds=1.0, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (tone + 0.05 * rng.standard_normal((channels, n))).astype(np.float32)


@pytest.fixture(scope="module", params=CONFIGS, ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}" for c in CONFIGS])
def df_case(request):
    sr, n_fft, nb, mb = request.param
    hop = n_fft // 2
    ref = libdf.DF(sr, n_fft, hop, nb, mb)
    x = _signal(sr)
    X_ref = ref.analysis(x)  # [C, T, F]
    return dict(sr=sr, n_fft=n_fft, hop=hop, nb=nb, mb=mb, ref=ref, x=x, X_ref=X_ref,
                widths=tuple(int(w) for w in ref.erb_widths()), alpha=bands.norm_alpha(sr=sr, hop_length=hop))


# ----------------------------------------------------------------------------- layout and STFT


@pytest.mark.parametrize("sr,n_fft,nb,mb", CONFIGS + [(8000, 256, 16, 2), (44100, 1024, 32, 2), (48000, 480, 24, 1),
                                                      (16000, 512, 20, 3)])
def test_erb_widths_equal_libdf(sr, n_fft, nb, mb):
    ours = bands.erb_widths(sr=sr, n_fft=n_fft, n_bands=nb, min_bins=mb)
    np.testing.assert_array_equal(ours, libdf.DF(sr, n_fft, n_fft // 2, nb, mb).erb_widths())
    assert ours.sum() == n_fft // 2 + 1 and ours.min() >= mb


def test_vorbis_window_equals_libdf_and_is_power_complementary():
    for n in (192, 320, 960):
        w = js.get_window("vorbis", win_length=n)
        np.testing.assert_allclose(w, libdf.DF(48000, n, n // 2, 8, 1).fft_window(), atol=1e-7)
        np.testing.assert_allclose(w[: n // 2] ** 2 + w[n // 2:] ** 2, 1.0, atol=1e-12)
    assert js.check_cola("vorbis", n_fft=320, hop_length=160) is False  # power-, not amplitude-complementary
    assert js.check_nola("vorbis", n_fft=320, hop_length=160)


def test_analysis_stft_equals_libdf_within_1e6_of_peak(df_case):
    c = df_case
    X = js.stft(c["x"], n_fft=c["n_fft"], hop_length=c["hop"], window="vorbis", normalized="forward")
    T = c["X_ref"].shape[1]
    assert T == c["x"].shape[-1] // c["hop"] and X.shape[-1] == T + 1  # libdf has no frame past the end
    err = np.abs(_tf(X[..., :T]) - c["X_ref"]).max() / np.abs(c["X_ref"]).max()
    assert err < 1e-6, err


def test_analysis_at_another_hop_by_left_padding_and_a_scale():
    sr, n_fft, hop = 48000, 960, 240
    x = _signal(sr, 0.5)
    X_ref = libdf.DF(sr, n_fft, hop, 32, 2).analysis(x)
    xp = np.pad(x, [(0, 0), (n_fft - hop, 0)])
    X = js.stft(xp, n_fft=n_fft, hop_length=hop, window="vorbis", center=False, normalized="forward")
    X = np.asarray(X) * (2 * hop / n_fft)
    assert X.shape[-1] == X_ref.shape[1]
    assert np.abs(_tf(X) - X_ref).max() / np.abs(X_ref).max() < 1e-6


def test_istft_inverts_the_libdf_analysis_and_libdf_synthesis_is_the_delayed_signal(df_case):
    c = df_case
    n, hop, x = c["n_fft"], c["hop"], c["x"]
    S = _tf(c["X_ref"])
    y = np.asarray(js.istft(S, n_fft=n, hop_length=hop, window="vorbis", normalized="forward", length=x.shape[-1]))
    keep = x.shape[-1] - hop  # the last hop lies in the frame libdf does not compute
    np.testing.assert_allclose(y[:, :keep], x[:, :keep], atol=2e-6)
    c["ref"].reset()
    y_ref = c["ref"].synthesis(c["X_ref"].copy())  # x delayed by n - hop
    d = n - hop
    np.testing.assert_allclose(y_ref[:, d:keep], y[:, : keep - d], atol=2e-6)


def test_normalized_values_and_errors():
    x = _signal(16000, 0.1)
    base = np.asarray(js.stft(x, n_fft=64, hop_length=16))
    np.testing.assert_allclose(np.asarray(js.stft(x, n_fft=64, hop_length=16, normalized="forward")), base / 64,
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(js.stft(x, n_fft=64, hop_length=16, normalized="ortho")), base / 8,
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(np.asarray(js.stft(x, n_fft=64, hop_length=16, normalized="backward")), base)
    for mode in ("forward", "ortho", True, False):
        S = js.stft(x, n_fft=64, hop_length=16, normalized=mode)
        np.testing.assert_allclose(np.asarray(js.istft(S, n_fft=64, hop_length=16, normalized=mode, length=x.shape[-1])),
                                   x, atol=1e-5)
    with pytest.raises(ValueError, match="stft: normalized must be True, False, 'backward', 'ortho' or 'forward'; got 'unit'"):
        js.stft(x, normalized="unit")
    with pytest.raises(TypeError, match="istft: normalized must be"):
        js.istft(jnp.asarray(base), n_fft=64, hop_length=16, normalized=1)


# ----------------------------------------------------------------------------- features


def test_band_power_equals_libdf_erb(df_case):
    c = df_case
    S = _tf(c["X_ref"])
    for db, tol in ((True, 1e-5), (False, 1e-6)):
        ref = libdf.erb(c["X_ref"], np.asarray(c["widths"], np.uint64), db=db)
        ours = _tf(bands.band_power(S, widths=c["widths"], db=db))
        scale = 1.0 if db else np.abs(ref).max()
        assert np.abs(ours - ref).max() / scale < tol


def test_erb_norm_and_its_carried_state_equal_libdf(df_case):
    c = df_case
    E_ref = libdf.erb(c["X_ref"], np.asarray(c["widths"], np.uint64), db=True)  # [C, T, E]
    out_ref = libdf.erb_norm(E_ref.copy(), c["alpha"])
    E = _tf(E_ref)
    out, state = bands.erb_norm(E, alpha=c["alpha"])
    np.testing.assert_allclose(_tf(out), out_ref, atol=1e-5, rtol=0)
    # libdf's state after the last frame, recovered from its output: s = E - 40 * out
    np.testing.assert_allclose(np.asarray(state), E_ref[:, -1] - 40.0 * out_ref[:, -1], atol=1e-4, rtol=0)
    # two calls with the state carried equal one call; libdf continues from our state the same way
    k = E.shape[-1] // 3
    o1, s1 = bands.erb_norm(E[..., :k], alpha=c["alpha"])
    o2, s2 = bands.erb_norm(E[..., k:], alpha=c["alpha"], state=s1)
    np.testing.assert_allclose(np.concatenate([o1, o2], -1), np.asarray(out), atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.asarray(s2), np.asarray(state), atol=1e-5, rtol=0)
    cont_ref = libdf.erb_norm(E_ref[:, k:].copy(), c["alpha"], np.asarray(s1))
    np.testing.assert_allclose(_tf(o2), cont_ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(bands.erb_norm_init(n_bands=len(c["widths"]))),
                               np.linspace(-60, -90, len(c["widths"])), atol=1e-5)


def test_erb_features_from_our_stft_equal_libdf_pipeline(df_case):
    c = df_case
    X = js.stft(c["x"], n_fft=c["n_fft"], hop_length=c["hop"], window="vorbis", normalized="forward")
    feats, _ = bands.erb_features(X[..., :-1], widths=c["widths"], alpha=c["alpha"])
    ref = libdf.erb_norm(libdf.erb(c["X_ref"], np.asarray(c["widths"], np.uint64), db=True), c["alpha"])
    np.testing.assert_allclose(_tf(feats), ref, atol=1e-5, rtol=0)


def test_unit_norm_and_its_carried_state_equal_libdf(df_case):
    c = df_case
    nb_df = min(96, c["X_ref"].shape[-1])
    low_ref = np.ascontiguousarray(c["X_ref"][..., :nb_df])
    out_ref = libdf.unit_norm(low_ref.copy(), c["alpha"])
    low = _tf(low_ref)
    out, state = bands.unit_norm(low, alpha=c["alpha"])
    np.testing.assert_allclose(_tf(out), out_ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(bands.unit_norm_init(n_bins=nb_df)), libdf.unit_norm_init(nb_df)[0], rtol=1e-6)
    # the state: s = |x|^2 / |out|^2 on the last frame (where |out| is not tiny)
    last, o_last = np.abs(low_ref[:, -1]), np.abs(out_ref[:, -1])
    ok = o_last > 1e-3
    np.testing.assert_allclose(np.asarray(state)[ok], (last[ok] / o_last[ok]) ** 2, rtol=1e-4)
    k = low.shape[-1] // 2 + 1
    o1, s1 = bands.unit_norm(low[..., :k], alpha=c["alpha"])
    o2, s2 = bands.unit_norm(low[..., k:], alpha=c["alpha"], state=s1)
    np.testing.assert_allclose(np.concatenate([o1, o2], -1), np.asarray(out), atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.asarray(s2), np.asarray(state), rtol=1e-5, atol=1e-9)
    cont_ref = libdf.unit_norm(np.ascontiguousarray(low_ref[:, k:]), c["alpha"], np.asarray(s1))
    np.testing.assert_allclose(_tf(o2), cont_ref, atol=1e-5, rtol=0)


def test_norm_alpha_matches_deepfilternet_rounding():
    assert bands.norm_alpha(sr=48000, hop_length=480) == 0.99
    assert bands.norm_alpha(sr=16000, hop_length=160) == 0.99
    assert bands.norm_alpha(sr=48000, hop_length=480, tau=0.5) == 0.98
    assert bands.norm_alpha(sr=48000, hop_length=1, tau=10.0) == 0.999998  # rounded only as far as needed


def test_running_norms_in_scan_and_per_example_alpha():
    rng = np.random.default_rng(3)
    E = (rng.standard_normal((3, 5, 12)) * 10 - 50).astype(np.float32)
    alpha = np.array([0.5, 0.9, 0.99], np.float32)
    full, s_full = bands.erb_norm(E, alpha=alpha[:, None, None])
    for i in range(3):
        one, s_one = bands.erb_norm(E[i], alpha=float(alpha[i]))
        np.testing.assert_allclose(np.asarray(full[i]), np.asarray(one), atol=1e-6)

    def step(s, e):  # one frame at a time inside lax.scan
        o, s = bands.erb_norm(e[..., None], alpha=alpha[:, None, None], state=s)
        return s, o[..., 0]

    s0 = jnp.broadcast_to(bands.erb_norm_init(n_bands=5), (3, 5))
    s_scan, o_scan = jax.lax.scan(step, s0, jnp.moveaxis(E, -1, 0))
    np.testing.assert_allclose(np.moveaxis(np.asarray(o_scan), 0, -1), np.asarray(full), atol=1e-6)
    np.testing.assert_allclose(np.asarray(s_scan), np.asarray(s_full), atol=1e-5)


# ----------------------------------------------------------------------------- gains


def test_rectangular_expansion_equals_libdf_erb_inv_exactly(df_case):
    c = df_case
    rng = np.random.default_rng(4)
    g = rng.random((2, 7, len(c["widths"]))).astype(np.float32)
    ref = libdf.erb_inv(g, np.asarray(c["widths"], np.uint64))
    np.testing.assert_array_equal(_tf(bands.expand_band_gains(_tf(g), widths=c["widths"])), ref)


def test_triangular_expansion_interpolates_between_centres():
    widths = (1, 2, 3, 4)
    g = np.array([[0.2], [0.4], [1.0], [0.5]], np.float32)
    out = np.asarray(bands.expand_band_gains(g, widths=widths, shape="triangular"))[:, 0]
    centres = np.array([0.0, 1.5, 4.0, 7.5])
    np.testing.assert_allclose(out, np.interp(np.arange(10), centres, g[:, 0]), atol=1e-7)
    ones = bands.expand_band_gains(np.ones((4, 3), np.float32), widths=widths, shape="triangular")
    np.testing.assert_allclose(np.asarray(ones), 1.0, atol=1e-7)


def _pf_torch_mask(mask, beta, eps=1e-12):  # DeepFilterNet's Mask.pf (df/modules.py), transcribed
    torch = pytest.importorskip("torch")
    m = torch.as_tensor(mask)
    m_sin = m * torch.sin(np.pi * m / 2)
    return ((1 + beta) * m / (1 + beta * m.div(m_sin.clamp_min(eps)).pow(2))).numpy()


def _pf_libdf(noisy, enh, beta, eps=1e-12):  # libdf's post_filter (libDF/src/lib.rs), transcribed
    g = np.clip(np.abs(enh) / (np.abs(noisy) + eps), eps, 1.0)
    g_sin = g * np.sin(g * np.pi / 2)
    pf = ((1 + beta) * g / (1 + beta * (g / g_sin) ** 2)) / g
    return enh * pf


def test_post_filter_equals_deepfilternet_formulas():
    rng = np.random.default_rng(5)
    with jax.enable_x64(True):
        g = rng.uniform(1e-3, 1.0, (4, 32, 10))
        for beta in (0.02, 0.3):
            np.testing.assert_allclose(np.asarray(bands.post_filter(g, beta=beta)), _pf_torch_mask(g, beta),
                                       rtol=1e-12, atol=1e-15)
            noisy = rng.standard_normal((64, 5)) + 1j * rng.standard_normal((64, 5))
            enh = noisy * rng.uniform(0.01, 1.0, noisy.shape)
            gain = np.clip(np.abs(enh) / np.abs(noisy), 0, 1)
            ours = enh * np.asarray(bands.post_filter(gain, beta=beta)) / gain
            np.testing.assert_allclose(ours, _pf_libdf(noisy, enh, beta), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(bands.post_filter(np.array([0.0, 1.0], np.float32))), [0.0, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="post_filter: beta must be in"):
        bands.post_filter(np.ones(3, np.float32), beta=-0.1)


# ----------------------------------------------------------------------------- deep filter


def _df_torch(spec, coefs, *, order, lookahead, n_bins):
    """DeepFilterNet's DF(conj=False) forward (df/multiframe.py): pad, unfold, einsum, replace the low bins.

    spec: [B, C, T, F] complex; coefs: [B, O, T, n_bins] complex.
    """
    torch = pytest.importorskip("torch")
    s = torch.as_tensor(spec)
    pad = torch.nn.ConstantPad2d((0, 0, order - 1 - lookahead, lookahead), 0.0)
    spec_u = pad(s).unfold(2, order, 1)  # [B, C, T, F, O]
    spec_f = spec_u.narrow(-2, 0, n_bins)
    cf = torch.as_tensor(coefs).view(coefs.shape[0], -1, order, coefs.shape[2], coefs.shape[3])
    low = torch.einsum("...tfn,...ntf->...tf", spec_f, cf)
    out = s.clone()
    out[..., :n_bins] = low
    return out.numpy()


@pytest.mark.parametrize("order,lookahead,n_bins", [(5, 2, 12), (1, 0, 17), (3, 0, 4), (4, 3, 9)])
def test_deep_filter_equals_deepfilternet_formula_float64(order, lookahead, n_bins):
    rng = np.random.default_rng(order * 10 + lookahead)
    B, T, F = 2, 11, 17
    spec = rng.standard_normal((B, 1, T, F)) + 1j * rng.standard_normal((B, 1, T, F))
    coefs = rng.standard_normal((B, order, T, n_bins)) + 1j * rng.standard_normal((B, order, T, n_bins))
    ref = _df_torch(spec, coefs, order=order, lookahead=lookahead, n_bins=n_bins)  # [B, 1, T, F]
    with jax.enable_x64(True):
        ours = bands.deep_filter(_tf(spec[:, 0]), np.swapaxes(coefs, -1, -2), order=order, lookahead=lookahead,
                                 n_bins=n_bins)
        assert ours.dtype == jnp.complex128
        np.testing.assert_allclose(np.asarray(ours), _tf(ref[:, 0]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("lookahead", [0, 2])
def test_deep_filter_step_with_a_ring_buffer_equals_offline(lookahead):
    rng = np.random.default_rng(7 + lookahead)
    order, n_bins, F, T = 5, 6, 9, 13
    with jax.enable_x64(True):
        S = rng.standard_normal((3, F, T)) + 1j * rng.standard_normal((3, F, T))
        c = rng.standard_normal((3, order, n_bins, T)) + 1j * rng.standard_normal((3, order, n_bins, T))
        offline = np.asarray(bands.deep_filter(S, c, lookahead=lookahead))
        # call t gets frame t and the coefficients of output frame t - lookahead; zero frames at the end
        frames = np.concatenate([S, np.zeros((3, F, lookahead))], -1)
        coefs = np.concatenate([np.zeros((3, order, n_bins, lookahead)), c], -1)

        def body(state, inp):
            frame, cf = inp
            return bands.deep_filter_step(frame, cf, state, lookahead=lookahead)[::-1]

        state = bands.deep_filter_init(n_freq=F, order=order, batch_shape=(3,), dtype=jnp.complex128)
        _, outs = jax.lax.scan(jax.jit(body), state, (jnp.moveaxis(frames, -1, 0), jnp.moveaxis(coefs, -1, 0)))
        streamed = np.moveaxis(np.asarray(outs), 0, -1)[..., lookahead:]
        np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-12)


def test_deep_filter_errors():
    S = np.zeros((17, 8), np.complex64)
    c = np.zeros((3, 6, 8), np.complex64)
    with pytest.raises(ValueError, match="deep_filter: lookahead must be < order \\(3\\), got 3"):
        bands.deep_filter(S, c, lookahead=3)
    with pytest.raises(ValueError, match="deep_filter: coefs must have shape \\(..., order, n_bins, frames\\) with order=4"):
        bands.deep_filter(S, c, order=4)
    with pytest.raises(ValueError, match="deep_filter: coefs has 7 frames but S has 8"):
        bands.deep_filter(S, c[..., :7])
    with pytest.raises(ValueError, match="deep_filter: n_bins=20 exceeds the 17 frequency bins"):
        bands.deep_filter(S, np.zeros((3, 20, 8), np.complex64))
    state = bands.deep_filter_init(n_freq=17, order=3, batch_shape=(2,))
    with pytest.raises(ValueError, match=r"deep_filter_step: state has shape \(2, 17, 3\), but frame \(17,\)"):
        bands.deep_filter_step(S[:, 0], c[..., 0], state)


# ----------------------------------------------------------------------------- targets and errors


def test_erb_irm_formula_range_and_scale_invariance():
    rng = np.random.default_rng(8)
    widths = (2, 3, 5, 7)
    S = (rng.standard_normal((2, 17, 6)) + 1j * rng.standard_normal((2, 17, 6))).astype(np.complex64)
    N = (rng.standard_normal((2, 17, 6)) + 1j * rng.standard_normal((2, 17, 6))).astype(np.complex64)
    m = np.asarray(bands.erb_irm(S, N, widths=widths))
    edges = np.cumsum((0,) + widths)
    ps = np.stack([np.mean(np.abs(S[:, a:b]) ** 2, 1) for a, b in zip(edges[:-1], edges[1:])], 1)
    pn = np.stack([np.mean(np.abs(N[:, a:b]) ** 2, 1) for a, b in zip(edges[:-1], edges[1:])], 1)
    np.testing.assert_allclose(m, np.sqrt(ps / (ps + pn)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bands.erb_irm(1e18 * S, 1e18 * N, widths=widths)), m, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bands.erb_irm(1e-18 * S, 1e-18 * N, widths=widths)), m, rtol=1e-5)
    z = np.zeros_like(S)
    np.testing.assert_array_equal(np.asarray(bands.erb_irm(z, N, widths=widths)), 0.0)
    np.testing.assert_array_equal(np.asarray(bands.erb_irm(S, z, widths=widths)), 1.0)


def test_bad_arguments_name_the_argument():
    S = np.zeros((17, 4), np.complex64)
    with pytest.raises(ValueError, match="erb_widths: n_bands=40 bands of at least min_bins=2 bins need 80 bins"):
        bands.erb_widths(sr=16000, n_fft=64, n_bands=40, min_bins=2)
    with pytest.raises(TypeError, match="erb_widths: sr must be an int"):
        bands.erb_widths(sr=16000.5, n_fft=320)
    with pytest.raises(ValueError, match=r"band_power: S must have 18 frequency rows on axis -2 \(the sum of widths, 3 bands\)"):
        bands.band_power(S, widths=(6, 6, 6))
    with pytest.raises(ValueError, match="band_power: widths must be a non-empty sequence of positive ints"):
        bands.band_power(S, widths=(17, 0))
    with pytest.raises(TypeError, match="band_power: widths must be ints"):
        bands.band_power(S, widths=(8.5, 8.5))
    with pytest.raises(ValueError, match=r"erb_norm: alpha must be in \[0, 1\]"):
        bands.erb_norm(np.zeros((3, 4), np.float32), alpha=1.5)
    with pytest.raises(ValueError, match=r"erb_norm: state must have shape \(..., 3\)"):
        bands.erb_norm(np.zeros((3, 4), np.float32), alpha=0.9, state=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="unit_norm: state of shape"):
        bands.unit_norm(S, alpha=0.9, state=np.zeros((2, 3, 17), np.float32))
    with pytest.raises(ValueError, match="expand_band_gains: shape must be one of 'rectangular', 'triangular'"):
        bands.expand_band_gains(np.ones((2, 4), np.float32), widths=(8, 9), shape="cubic")
    with pytest.raises(ValueError, match=r"expand_band_gains: gains must have shape \(..., bands, frames\) with bands = len"):
        bands.expand_band_gains(np.ones((3, 4), np.float32), widths=(8, 9))
    with pytest.raises(TypeError, match="erb_norm: E must be a real floating-point array"):
        bands.erb_norm(S, alpha=0.9)
