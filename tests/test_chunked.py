"""Enhancement block by block (jaxspec.enhance.chunked) against whole-file enhancement.

As in ``test_enhance_anyrate.py`` the models are small and untrained (with measured feature
statistics): these tests are about the path (state carried, chunk bookkeeping, resampling,
files), not about quality.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf
from flax import nnx

import jaxspec as js
from jaxspec.enhance import chunked, train
from jaxspec.enhance import evaluate as ev
from jaxspec.enhance.config import TrainConfig
from jaxspec.enhance.models import make_model, n_features

GRU = TrainConfig(model="gru", feature_norm="fixed", context=1, hidden=24, layers=2, n_fft=256, hop_length=128)
DNN = TrainConfig(model="dnn", feature_norm="fixed", context=0, hidden=32, layers=1, n_fft=256, hop_length=128)
BAND = TrainConfig(model="band", feature_norm="running", hidden=32, layers=1, n_fft=256, hop_length=128,
                   floor_gate=True)
UNET = TrainConfig(model="unet", feature_norm="utterance", unet_channels=(4, 8), n_fft=256, hop_length=128, target="irm")


def _measured(cfg):
    m = make_model(cfg, rngs=nnx.Rngs(0))
    if cfg.feature_norm == "fixed":
        keys = jax.random.split(jax.random.key(1), 3)
        train.measure_features(m, cfg, (js.stft(jax.random.normal(k, (2, 8000)) * 0.1, n_fft=cfg.n_fft,
                                                hop_length=cfg.hop_length) for k in keys))
    return m


@pytest.fixture(scope="module")
def gru():
    return _measured(GRU)


@pytest.fixture(scope="module")
def band():
    return _measured(BAND)


def _signal(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    return (0.1 * x * (1 + np.sin(np.arange(shape[-1]) / 3000.0))).astype(np.float32)  # a varying level


def _blocks(x, n):
    return (x[:, i:i + n] for i in range(0, x.shape[-1], n))


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("block_frames", [1, 7, 64])
def test_streamed_gru_equals_enhance_array(gru, block_frames):
    x = _signal((1, 16000 * 2 + 77))
    ref = ev.enhance_array(gru, x, 16000, GRU)
    for read in (100, 5000):  # input blocks that do not line up with the model's blocks
        y = np.concatenate(list(chunked.enhance_blocks(gru, GRU, 16000, 1, _blocks(x, read), block_frames=block_frames)), -1)
        assert y.shape == ref.shape
        assert _rel(y, ref) <= 1e-5, (block_frames, read, _rel(y, ref))


def test_streamed_gru_in_blocks_shorter_than_a_hop(gru):
    x = _signal((1, 16000 + 77), 9)
    ref = ev.enhance_array(gru, x, 16000, GRU)
    y = np.concatenate(list(chunked.enhance_blocks(gru, GRU, 16000, 1, _blocks(x, 160), block_samples=160)), -1)
    assert y.shape == ref.shape and _rel(y, ref) <= 1e-5, _rel(y, ref)


@pytest.mark.parametrize("sr", [48000, 8000])
def test_streamed_gru_at_other_rates_equals_enhance_array(gru, sr):
    x = _signal((2, int(sr * 1.7) + 5), 1)
    ref = ev.enhance_array(gru, x, sr, GRU)  # resampled, and above 16 kHz the high band passed at the mask's gain
    y = np.concatenate(list(chunked.enhance_blocks(gru, GRU, sr, 2, _blocks(x, 4410), block_frames=7,
                                                   resample_seconds=0.3)), -1)
    assert y.shape == ref.shape and _rel(y, ref) <= 1e-5, _rel(y, ref)


def test_gru_step_with_no_real_frame_keeps_its_state(gru):
    feats = jnp.asarray(np.random.default_rng(2).standard_normal((2, n_features(GRU), 5)), jnp.float32)
    c0 = jnp.asarray(np.random.default_rng(3).standard_normal(gru.initial_carry((2,)).shape), jnp.float32)
    step = nnx.jit(lambda m, f, c, n: m.step(f, c, n_valid=n))
    np.testing.assert_array_equal(np.asarray(step(gru, feats, c0, 0)[1]), np.asarray(c0))
    _, c2 = step(gru, feats, c0, 2)
    np.testing.assert_allclose(np.asarray(c2), np.asarray(gru.step(feats[..., :2], c0)[1]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sr,block_frames,read", [(16000, 1, 5000), (16000, 7, 100), (48000, 7, 4410)])
def test_streamed_band_model_equals_enhance_array(band, sr, block_frames, read):
    """The band model is causal (running means, past frames of the deep filter): streamed in
    blocks it gives the whole file's numbers, at its own rate and resampled."""
    assert ev.streamable(BAND)
    x = _signal((2, int(sr * 1.6) + 77), 3)
    ref = ev.enhance_array(band, x, sr, BAND)
    y = np.concatenate(list(chunked.enhance_blocks(band, BAND, sr, 2, _blocks(x, read), block_frames=block_frames,
                                                   resample_seconds=0.3)), -1)
    assert y.shape == ref.shape and _rel(y, ref) <= 1e-5, _rel(y, ref)
    assert float(np.std(ref)) > 0


@pytest.mark.parametrize("rates", [(48000, 16000), (16000, 48000), (44100, 16000), (16000, 22050)])
def test_block_resampler_equals_resample(rates):
    a, b = rates
    x = _signal((2, int(a * 0.9) + 3), 2)
    ref = np.asarray(js.resample(x, orig_sr=a, target_sr=b))
    for block_seconds, read in ((0.05, 333), (0.2, 7000)):
        r = chunked.BlockResampler(a, b, 2, block_seconds=block_seconds)
        y = np.concatenate([r.push(c) for c in _blocks(x, read)] + [r.flush()], -1)
        assert y.shape == ref.shape and _rel(y, ref) <= 1e-6, (rates, block_seconds, _rel(y, ref))


def test_chunk_statistics_ignore_the_padding():
    x = _signal((1, 16000), 3)
    real = 9000
    Y_real = js.stft(x[:, :real], n_fft=256, hop_length=128)
    Y_pad = js.stft(jnp.pad(x[:, :real], ((0, 0), (0, 16000 - real))), n_fft=256, hop_length=128)
    t = jnp.arange(Y_pad.shape[-1]) * 128
    got = chunked._masked_features(Y_pad, UNET, t <= real)[..., :Y_real.shape[-1]]
    np.testing.assert_allclose(np.asarray(got), np.asarray(train.features(Y_real, UNET)), atol=2e-4)


def test_chunks_of_a_frame_local_model_equal_the_whole_file():
    """A DNN without context and with fixed statistics sees one frame at a time: chunking can only
    change the frames at chunk edges, which the fade leaves out, and the last frames of the file."""
    m = _measured(DNN)
    x = _signal((1, 16000 * 4 + 300), 4)
    ref = ev.enhance_array(m, x, 16000, DNN)
    y = np.concatenate(list(chunked.enhance_blocks(m, DNN, 16000, 1, _blocks(x, 3000), chunk_seconds=1.0,
                                                   overlap_seconds=0.25)), -1)
    assert y.shape == ref.shape
    end = ref.shape[-1] - DNN.n_fft
    assert _rel(y[:, :end], ref[:, :end]) <= 1e-5, _rel(y[:, :end], ref[:, :end])


def test_chunked_unet_deviation_from_the_whole_file():
    """The U-Net sees the future and normalises per utterance: chunks change its output. Stated
    here for 2 s chunks with 0.5 s of overlap (the default is 30 s and 2 s): SNR of the chunked
    output against the whole-file output >= 25 dB (untrained model; measured 36.8 dB)."""
    m = _measured(UNET)
    x = _signal((1, 16000 * 7), 5)
    ref = ev.enhance_array(m, x, 16000, UNET)
    y = np.concatenate(list(chunked.enhance_blocks(m, UNET, 16000, 1, _blocks(x, 4000), chunk_seconds=2.0,
                                                   overlap_seconds=0.5)), -1)
    assert y.shape == ref.shape
    assert float(js.snr(ref[0], y[0])) >= 25.0


def test_blocked_file_equals_enhance_array_and_leaves_no_temporary_file(gru, tmp_path):
    sr = 48000
    x = _signal((2, int(sr * 1.5)), 6)
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / "out.flac")
    sf.write(src, x.T, sr, subtype="FLOAT")
    info = ev.enhance_file(gru, GRU, src, dst, chunked=True, progress=False)
    y, sr2 = sf.read(dst, dtype="float32", always_2d=True)
    ref = ev.enhance_array(gru, x, sr, GRU)
    assert sr2 == sr and y.T.shape == ref.shape and info["channels"] == 2
    assert np.max(np.abs(y.T - ref)) <= 1.0 / 32768 + 1e-5 * np.max(np.abs(ref))  # 16-bit rounding
    assert sorted(os.listdir(tmp_path)) == ["in.wav", "out.flac"]


def test_an_interrupted_blocked_enhance_leaves_the_old_file(gru, tmp_path, monkeypatch):
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / "out.wav")
    sf.write(src, _signal((1, 32000), 7).T, 16000)
    sf.write(dst, np.zeros(10, np.float32), 16000)
    before = open(dst, "rb").read()
    real = chunked.enhance_blocks

    def interrupted(*args, **kw):
        for i, y in enumerate(real(*args, **kw)):
            if i == 1:
                raise KeyboardInterrupt
            yield y

    monkeypatch.setattr(chunked, "enhance_blocks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        chunked.enhance_file_blocked(gru, GRU, src, dst, progress=False, read_seconds=0.25)
    assert open(dst, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["in.wav", "out.wav"]


def test_blocked_enhance_errors_name_the_path(gru, tmp_path):
    src = str(tmp_path / "in.wav")
    sf.write(src, _signal((1, 1600), 8).T, 16000)
    with pytest.raises(OSError, match="extension"):
        chunked.enhance_file_blocked(gru, GRU, src, str(tmp_path / "out.xyz"), progress=False)
    with pytest.raises(OSError, match="nope.wav"):
        chunked.enhance_file_blocked(gru, GRU, str(tmp_path / "nope.wav"), str(tmp_path / "o.wav"), progress=False)
    with pytest.raises(OSError, match="missing"):
        chunked.enhance_file_blocked(gru, GRU, src, str(tmp_path / "missing" / "o.wav"), progress=False)
    with pytest.raises(ValueError, match="CausalEnhancer"):
        chunked.CausalEnhancer(gru, UNET, 1)
    with pytest.raises(ValueError, match="overlap"):
        chunked.ChunkEnhancer(gru, UNET, 1, chunk_seconds=1.0, overlap_seconds=1.0)
