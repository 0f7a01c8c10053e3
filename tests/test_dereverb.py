"""Dereverberation in the example: the U-Net, reverberant steps, the held-out RIR family, spectrogram-pair
datasets on disk (round trip, training from them, refusals), and enhance with a dereverberation checkpoint."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf
from flax import nnx

import jaxspec as js
from jaxspec import cli
from jaxspec.enhance import evaluate, pairs, train
from jaxspec.enhance.config import TrainConfig
from jaxspec.enhance.models import MaskUNet, make_model

TINY = TrainConfig(task="dereverb", model="unet", unet_channels=(4, 8, 8), steps=2, batch_size=2, sr=8000,
                   segment_seconds=0.5, n_fft=128, hop_length=32, rir_seconds=0.25, rt60_low=0.2, rt60_high=0.4,
                   warmup_steps=1, log_every=1, checkpoint_every=2, feature_norm="utterance", augment=False,
                   speaker_augment=False, reverb_prob=0.0, level_range=None, noise_kinds=("white", "pink"))


@pytest.mark.parametrize("head,shape", [("sigmoid", (3, 65, 19)), ("cirm", (3, 2, 65, 19))])
def test_unet_shapes_any_size_and_leading_dims(head, shape):
    model = MaskUNet(65, channels=(4, 8, 8), head=head, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (3, 65, 19))  # odd sizes: padded to 4 and cropped
    y = nnx.jit(lambda m, v: m(v))(model, x)
    assert y.shape == shape and bool(jnp.all(jnp.isfinite(y)))
    if head == "sigmoid":
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert nnx.eval_shape(lambda m, v: m(v), model, x[0]).shape == shape[1:]
    y2 = nnx.jit(lambda m, v: m(v))(model, x.reshape(3, 1, 65, 19))
    np.testing.assert_allclose(y2.reshape(y.shape), y, atol=1e-5)
    with pytest.raises(ValueError, match="channels"):
        MaskUNet(65, channels=(4,), rngs=nnx.Rngs(0))


@pytest.mark.parametrize("task,model", [("dereverb", "unet"), ("denoise+dereverb", "dnn")])
def test_reverberant_tasks_take_finite_steps_and_learn(task, model):
    cfg = TINY.replace(task=task, model=model, lr=1e-2, hidden=16, layers=1)
    m = make_model(cfg, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(m, cfg)
    step = train.make_train_step(cfg)
    rng = np.random.default_rng(0)
    t = np.arange(cfg.segment) / cfg.sr
    clean = jnp.asarray((np.sin(2 * np.pi * 220 * t) * (rng.random((2, 1)) + 0.5)
                         * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32))
    noise = jnp.asarray(rng.standard_normal((2, cfg.segment)).astype(np.float32))
    target, interference, mixture = train.make_mixtures(jax.random.key(0), clean, noise, cfg)
    np.testing.assert_allclose(target + interference, mixture, atol=1e-6)
    assert float(jnp.sum(interference ** 2)) > 1e-3 * float(jnp.sum(target ** 2))  # the reverb is there
    losses = [float(step(m, opt, clean, noise, jax.random.key(0))["loss"]) for _ in range(12)]
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < np.mean(losses[:3]), losses


def test_heldout_rirs_are_a_different_family_with_the_stated_rt60():
    sr = 16000
    h = evaluate.heldout_rirs(4, sr=sr, rt60=(0.3, 0.9))
    assert h.shape == (4, sr) and np.allclose(np.max(np.abs(h), axis=1), 1.0)
    for i, want in enumerate(np.linspace(0.3, 0.9, 4)):
        edc = np.cumsum(h[i, ::-1] ** 2)[::-1]
        edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
        t5, t25 = np.argmax(edc_db < -5) / sr, np.argmax(edc_db < -25) / sr
        rt = 3.0 * (t25 - t5)  # T20 from the Schroeder curve (the high band decays faster: a bit shorter)
        assert 0.55 * want < rt < 1.15 * want, (want, rt)
    assert not np.allclose(h, evaluate.heldout_rirs(4, sr=sr, seed=8))


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pairs"))
    pairs.write(d, TINY, examples=5, shard_size=3, log=lambda s: None)
    return d


def test_pairs_round_trip_matches_the_pipeline(pair_dir):
    with open(os.path.join(pair_dir, "pairs.json")) as f:
        h = json.load(f)
    assert h["examples"] == 5 and [s["count"] for s in h["shards"]] == [4, 1] and h["dtype"] == "float16"
    src = pairs.PairSource(pair_dir)
    assert len(src) == 5
    x, y = src[4]
    assert x.dtype == np.float16 and x.shape == (65, 1 + TINY.segment // 32, 2)
    # example 4 = row 0 of step 2 of the training pipeline: rebuild it and compare
    from jaxspec.enhance import input_pipeline as ip

    speech, noise, rirs = train.build_sources(TINY, log=lambda s: None)
    b = ip.StepBatches(seed=TINY.seed, segment=TINY.segment, rows=range(2), speech=speech, noise=noise)(2)
    target, _, mixture = train.make_mixtures(jax.random.fold_in(jax.random.key(TINY.seed), 2), jnp.asarray(b["clean"]),
                                             jnp.asarray(b["noise"]), TINY)
    istft = lambda S: np.asarray(js.istft(S, n_fft=128, hop_length=32, length=TINY.segment))
    for stored, wave in ((x, mixture[0]), (y, target[0])):
        rec = istft(pairs.from_channels_last(stored))
        err = np.sum((rec - np.asarray(wave)) ** 2) / np.sum(np.asarray(wave) ** 2)
        assert 10 * np.log10(err) < -50, 10 * np.log10(err)  # float16 storage: better than -50 dB


def test_train_from_pairs_and_refusals(pair_dir, tmp_path):
    res = train.run(TINY.replace(pairs=pair_dir), str(tmp_path / "w"), log=lambda s: None)
    assert res["step"] == 2 and all(np.isfinite(l) for _, l in res["losses"])
    with pytest.raises(ValueError, match=r"was made with n_fft=128, hop_length=32.*the config has n_fft=256, hop_length=64"):
        train.run(TINY.replace(pairs=pair_dir, n_fft=256, hop_length=64), str(tmp_path / "w2"), log=lambda s: None)
    with pytest.raises(FileNotFoundError, match="no pairs.json"):
        pairs.PairSource(str(tmp_path))
    with pytest.raises(ValueError, match="already holds a dataset"):
        pairs.write(pair_dir, TINY, examples=1, log=lambda s: None)
    bad = tmp_path / "bad"
    bad.mkdir()
    with open(os.path.join(pair_dir, "pairs.json")) as f:
        h = json.load(f)
    h["examples"] = 6
    (bad / "pairs.json").write_text(json.dumps(h))
    for s in h["shards"]:
        for k in ("input", "target"):
            os.link(os.path.join(pair_dir, s[k]), bad / s[k])
    with pytest.raises(ValueError, match="the shards hold 5 examples, the header says 6"):
        pairs.PairSource(str(bad))


def test_cli_make_pairs_train_dereverb_and_enhance_with_griffin_lim(tmp_path, capsys):
    cfg_path = str(tmp_path / "c.json")
    TINY.to_json(cfg_path)
    assert cli.main(["make-pairs", "--out", str(tmp_path / "p"), "--examples", "3", "--config", cfg_path]) == 0
    assert "wrote 3 pairs (dereverb" in capsys.readouterr().out
    wd = str(tmp_path / "w")
    assert cli.main(["train", "--config", cfg_path, "--workdir", wd]) == 0
    assert "training unet for dereverb" in capsys.readouterr().out
    sr = 22050
    x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(int(0.4 * sr)) / sr)).astype(np.float32)
    sf.write(str(tmp_path / "in.wav"), x, sr)
    for extra in ([], ["--griffin-lim", "4"]):
        out = str(tmp_path / f"out{len(extra)}.wav")
        assert cli.main(["enhance", str(tmp_path / "in.wav"), "-o", out, "--checkpoint", wd] + extra) == 0
        y, sr2 = sf.read(out)
        assert sr2 == sr and y.shape == x.shape and np.all(np.isfinite(y))


def test_cli_demo_dereverb_scores_each_clip_as_enhance_would(tmp_path, capsys):
    cfg_path = str(tmp_path / "c.json")
    TINY.to_json(cfg_path)
    out = str(tmp_path / "demo")
    assert cli.main(["demo", "--config", cfg_path, "--out", out, "--eval-clips", "2"]) == 0
    printed = capsys.readouterr().out
    assert "unseen RIR family" in printed and "oracle_irm" in printed
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)["metrics"]
    assert set(evaluate.DEREVERB_METHODS) <= set(metrics)
    assert all(np.isfinite(metrics[m][k]) for m in evaluate.DEREVERB_METHODS for k in ("si_sdr", "si_sdr_i", "stoi"))
    assert metrics["reverberant"]["si_sdr_i"] == 0.0
    # every clip is enhanced alone at its own length (as `jaxspec enhance` does), so the zero padding
    # of a batch of clips cannot enter a model that normalises over the utterance
    model, cfg, _ = train.load(out, log=lambda s: None)
    r = evaluate.evaluate_dereverb(model, cfg, n_clips=2, griffin_lim_iters=2)
    ex = r["examples"]
    assert ex["lengths"][0] != ex["lengths"][1]
    for i, n in enumerate(ex["lengths"]):
        alone = evaluate.enhance_array(model, ex["reverberant"][None, i, :n], cfg.sr, cfg)[0]
        np.testing.assert_allclose(ex["model"][i, :n], alone, atol=1e-6)
        assert not np.any(ex["model"][i, n:]) and not np.any(ex["model_griffin_lim_init"][i, n:])
    assert os.path.exists(os.path.join(out, "wavs", "ex0_model.wav"))
