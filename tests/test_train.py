"""The training loop: the jitted step, orbax checkpoints, exact resume (also after SIGINT), the
non-finite guard, tampered and partial checkpoints, config validation, multi-device and
multi-process runs matching one device."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxspec.enhance import checkpoints as ckpt
from jaxspec.enhance import input_pipeline as ip
from jaxspec.enhance import train
from jaxspec.enhance.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Tiny shapes: 0.25 s crops, a 32-unit DNN, two cheap noise kinds (test_model.py covers all of them).
# The tests reuse these configs so the step compiles once per config (make_train_step is cached).
TINY = TrainConfig(steps=4, batch_size=4, segment_seconds=0.25, n_fft=256, hop_length=64, context=1, hidden=32,
                   layers=1, noise_clips=4, noise_seconds=0.5, noise_kinds=("white", "pink"), warmup_steps=1, log_every=2,
                   checkpoint_every=2, model="dnn", feature_norm="utterance", augment=False, speaker_augment=False, reverb_prob=0.0, level_range=None)
FIT = TINY.replace(steps=30, lr=1e-2, warmup_steps=1, loss="sa")
QUIET = dict(log=lambda s: None)


def _params(model):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


def _raw(cfg, n=4, seed=0):
    rng = np.random.default_rng(seed)
    speech = ip.Corpus(ip.scan(ip.shipped_speech("train")[:8])[0], sr=cfg.sr)
    clean = np.stack([speech.crop(np.random.default_rng(i), 8000) for i in range(n)])
    t = np.arange(8000) / cfg.sr
    noise = (0.5 * rng.standard_normal((n, 8000)) + np.sin(2 * np.pi * 120 * t)).astype(np.float32)
    return jnp.asarray(clean), jnp.asarray(noise)


def test_loss_decreases_over_30_steps():
    model = train.make_model(FIT, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(model, FIT)
    step = train.make_train_step(FIT)
    clean, noise = _raw(FIT)
    key = jax.random.key(0)  # one fixed batch: the same crops and SNRs every step
    out = [step(model, opt, clean, noise, key) for _ in range(30)]
    losses = [float(m["loss"]) for m in out]
    assert all(np.isfinite(losses)) and all(bool(m["ok"]) for m in out)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


@pytest.mark.parametrize("target,loss,augment", [("cirm", "mask", False), ("psm", "sisdr", True)])
def test_other_targets_losses_and_augmentation_take_finite_steps(target, loss, augment):
    cfg = TINY.replace(target=target, loss=loss, augment=augment)
    model = train.make_model(cfg, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(model, cfg)
    m = train.make_train_step(cfg)(model, opt, *_raw(cfg), jax.random.key(0))
    assert np.isfinite(float(m["loss"])) and np.isfinite(float(m["grad_norm"]))


def test_reverberant_step_targets_the_early_reflections():
    cfg = TINY
    clean, noise = _raw(cfg)
    rir = np.zeros((4, 1600), np.float32)
    rir[:, 0] = 1.0  # a unit impulse: reverberant speech == early target == dry speech
    c1, n1, y1 = train.make_mixtures(jax.random.key(0), clean, noise, cfg)
    c2, n2, y2 = train.make_mixtures(jax.random.key(0), clean, noise, cfg, jnp.asarray(rir))
    np.testing.assert_allclose(c2, c1, atol=1e-5)
    np.testing.assert_allclose(y2, y1, atol=1e-5)
    rir[:, 1400] = 0.7  # a late echo (87 ms): in the mixture, not in the target
    c3, _, y3 = train.make_mixtures(jax.random.key(0), clean, noise, cfg, jnp.asarray(rir))
    np.testing.assert_allclose(c3, c1, atol=1e-5)
    assert float(jnp.max(jnp.abs(y3 - y1))) > 0.01


def test_clean_share_rows_are_clean_and_the_level_drift_survives_the_snr():
    clean, noise = _raw(TINY, n=8)
    cfg = TINY.replace(clean_share=0.5, augment=True)
    target, interference, mixture = train.make_mixtures(jax.random.key(3), clean, noise, cfg)
    quiet = np.asarray(jnp.max(jnp.abs(interference), axis=-1)) < 1e-6
    assert 1 <= quiet.sum() <= 7  # Bernoulli(0.5) over 8 rows, for this key
    np.testing.assert_allclose(mixture[quiet], target[quiet], atol=1e-6)
    g = np.asarray(train.gain_drift(jax.random.key(0), (3, 4 * 16000), 16000))
    db = 20 * np.log10(g)
    assert np.all(np.abs(db) <= train.GAIN_DRIFT_DB + 1e-4)
    assert np.ptp(db, axis=-1).min() > 1.0  # it moves within a segment ...
    assert np.abs(np.diff(db, axis=-1)).max() < 2 * train.GAIN_DRIFT_DB / 16000 + 1e-4  # ... smoothly


def test_a_non_finite_batch_is_skipped_and_leaves_the_model_unchanged():
    cfg = TINY
    model = train.make_model(cfg, rngs=nnx.Rngs(0))
    opt = train.make_optimizer(model, cfg)
    step = train.make_train_step(cfg)
    clean, noise = _raw(cfg)
    before = _params(model)
    m = step(model, opt, clean, noise.at[1, 100].set(jnp.nan), jax.random.key(0))
    assert not bool(m["ok"])
    for a, b in zip(before, _params(model)):
        np.testing.assert_array_equal(a, b)
    assert int(opt.step.value) == 0
    m = step(model, opt, clean, noise, jax.random.key(0))  # and training goes on
    assert bool(m["ok"]) and int(opt.step.value) == 1


def test_run_checkpoints_resume_and_determinism(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ra = train.run(TINY, a, **QUIET)  # 4 steps, checkpoints at 2 and 4
    assert ra["step"] == 4 and len(ra["losses"]) == 4 and all(np.isfinite(l) for _, l in ra["losses"])
    assert ckpt.steps(a) == [2, 4]
    with open(os.path.join(a, "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [2, 4]
    # the same run in two sittings (stop at 2, resume to 4) ends with identical parameters
    train.run(TINY, b, until=2, **QUIET)
    assert ckpt.steps(b) == [2]
    rb = train.run(TINY.replace(log_every=1, checkpoint_every=1), b, **QUIET)  # cadence may change on resume
    assert rb["step"] == 4
    for x, y in zip(_params(ra["model"]), _params(rb["model"])):
        np.testing.assert_array_equal(x, y)
    # a different config in the same workdir is refused rather than silently mixed
    with pytest.raises(ckpt.ConfigMismatch, match="different config"):
        train.run(TINY.replace(lr=1e-2), b, **QUIET)
    # keep_checkpoints bounds the directory
    assert len(ckpt.steps(b)) == TINY.keep_checkpoints


def test_checkpoint_round_trip_gives_identical_outputs_and_no_pickle(tmp_path):
    cfg = TINY
    model = train.make_model(cfg, rngs=nnx.Rngs(3))
    opt = train.make_optimizer(model, cfg)
    train.make_train_step(cfg)(model, opt, *_raw(cfg), jax.random.key(1))  # non-trivial optimiser state
    ckpt.save(str(tmp_path), model, opt, cfg, 1)
    model2, opt2, cfg2, step, data = ckpt.restore_latest(str(tmp_path), train._build, **QUIET)
    assert cfg2 == cfg and step == 1
    x = jax.random.normal(jax.random.key(0), (2, 2000)) * 0.1
    enhance = nnx.jit(lambda m, v: train.enhance_waveform(m, v, cfg))
    for u, v in zip(enhance(model, x), enhance(model2, x)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    for u, v in zip(jax.tree.leaves(nnx.state(opt)), jax.tree.leaves(nnx.state(opt2))):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    for root, _, files in os.walk(tmp_path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                head = fh.read(2)
            assert head != b"\x80\x04" and not f.endswith((".pkl", ".pickle")), f  # no pickle protocol 4 anywhere
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load(str(tmp_path / "nowhere"))


def _meta_file(workdir, step):
    return os.path.join(workdir, "checkpoints", str(step), "meta", "metadata")


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("two"))
    train.run(TINY, wd, **QUIET)
    return wd


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("fault,message", [("damaged", "/4: damaged (state/"),
                                           ("unfinished", "/4: incomplete (no state_files.json")])
def test_partial_or_corrupt_latest_checkpoint_falls_back_with_a_message(two_checkpoints, tmp_path, fault, message):
    wd = _copy(two_checkpoints, str(tmp_path / "wd"))
    # a write killed inside orbax leaves its temporary directory: never taken for a checkpoint
    shutil.copytree(os.path.join(wd, "checkpoints", "4"), os.path.join(wd, "checkpoints", "6.orbax-checkpoint-tmp-123"))
    if fault == "damaged":  # the latest checkpoint's array store truncated on disk
        state = os.path.join(wd, "checkpoints", "4", "state")
        for root, _, files in os.walk(state):
            for f in files:
                if f != "_METADATA" and "commit" not in f:
                    with open(os.path.join(root, f), "r+b") as fh:
                        fh.truncate(3)
    else:  # killed after orbax committed the step but before the trainer recorded it as complete
        os.remove(os.path.join(wd, "checkpoints", "4", "state_files.json"))
    logs = []
    model, cfg, step = train.load(wd, log=logs.append)
    assert step == 2 and any("skipped checkpoint" in l and message in l and "using step 2" in l for l in logs), logs
    # resuming from the fall-back sets the bad step aside and reproduces the uninterrupted run
    logs.clear()
    res = train.run(TINY, wd, log=logs.append)
    assert any("moved the unusable checkpoint of step 4" in l for l in logs), logs
    ref = train.load(two_checkpoints, **QUIET)[0]
    for x, y in zip(_params(res["model"]), _params(ref)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("tamper,match", [
    ("step", r"checkpoints/4: step 99 does not fit"),
    ("config", r"checkpoints/4: its arrays do not have the shapes the config's model needs"),
    ("bad_config", r"checkpoints/4: lr must be finite"),
])
def test_tampered_checkpoints_are_refused_naming_the_file(two_checkpoints, tmp_path, tamper, match):
    wd = _copy(two_checkpoints, str(tmp_path / "wd"))
    shutil.rmtree(os.path.join(wd, "checkpoints", "2"))  # no fall-back: the tampered one is all there is
    with open(_meta_file(wd, 4)) as f:
        meta = json.load(f)
    if tamper == "step":
        meta["step"] = 99
    elif tamper == "config":
        meta["config"]["hidden"] = 48
    else:
        meta["config"]["lr"] = float("inf")
    with open(_meta_file(wd, 4), "w") as f:
        json.dump(meta, f)
    with pytest.raises(ckpt.CheckpointError, match=match):
        train.load(wd, **QUIET)


def test_nan_weights_are_refused_on_save_and_on_load(tmp_path):
    import orbax.checkpoint as ocp

    cfg = TINY
    model, opt = train._build(cfg)
    w = nnx.state(model, nnx.Param)
    leaf = jax.tree.leaves(w)[0]
    nnx.update(model, jax.tree.map(lambda x: x.at[(0,) * x.ndim].set(jnp.nan) if x is leaf else x, w))
    with pytest.raises(ValueError, match="non-finite parameters"):
        ckpt.save(str(tmp_path), model, opt, cfg, 2)
    assert ckpt.steps(str(tmp_path)) == []
    # written behind the trainer's back: refused when loaded
    mngr = ocp.CheckpointManager(ckpt.checkpoint_dir(str(tmp_path)), options=ocp.CheckpointManagerOptions(create=True))
    state = {"model": nnx.to_pure_dict(nnx.state(model)), "optimizer": nnx.to_pure_dict(nnx.state(opt))}
    mngr.save(2, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                         meta=ocp.args.JsonSave({"step": 2, "config": cfg.to_dict(), "data": {}})))
    mngr.wait_until_finished()
    mngr.close()
    with pytest.raises(ckpt.CheckpointError, match=r"checkpoints/2: incomplete \(no state_files.json"):
        train.load(str(tmp_path), **QUIET)
    ckpt.write_digest(os.path.join(ckpt.checkpoint_dir(str(tmp_path)), "2"))
    with pytest.raises(ckpt.CheckpointError, match=r"checkpoints/2: array .* holds NaN"):
        train.load(str(tmp_path), **QUIET)


@pytest.mark.parametrize("change,exc,match", [
    (dict(lr=float("inf")), ValueError, "lr must be finite"),
    (dict(lr=float("nan")), ValueError, "lr must be finite"),
    (dict(lr=-1e-3), ValueError, "lr must be > 0"),
    (dict(lr=10.0), ValueError, "lr must be <= 1"),
    (dict(lr="0.001"), TypeError, "lr must be a real number"),
    (dict(snr_low=-1000.0), ValueError, "snr_low must be >= -50"),
    (dict(snr_high=float("nan")), ValueError, "snr_high must be finite"),
    (dict(steps="100"), TypeError, "steps must be a positive int"),
    (dict(steps=0), ValueError, "steps must be a positive int"),
    (dict(batch_size=2.0), TypeError, "batch_size must be a positive int"),
    (dict(noise_kinds="white"), TypeError, "noise_kinds must be a non-empty list"),
    (dict(noise_kinds=["white", "rain"]), ValueError, "noise_kinds has 'rain'"),
    (dict(hop_length=256, n_fft=256), ValueError, "NOLA"),
    (dict(clip_norm=float("inf")), ValueError, "clip_norm must be finite"),
    (dict(augment="yes"), TypeError, "augment must be true or false"),
    (dict(speech=3), TypeError, "speech must be a path"),
    (dict(valid_speech="x"), ValueError, "valid_speech and valid_noise go together"),
    (dict(segment_seconds=0.0), ValueError, "segment_seconds must be > 0"),
    (dict(fresh_noise=1), TypeError, "fresh_noise must be true or false"),
    (dict(fresh_noise=True, noise="noise_dir"), ValueError, "fresh_noise must be false with noise files"),
    (dict(fresh_noise=True, task="dereverb"), ValueError, "fresh_noise must be false"),
])
def test_config_rejects_what_cannot_train(change, exc, match):
    with pytest.raises(exc, match=match):
        TINY.replace(**change)


def test_run_stops_after_too_many_non_finite_steps_keeping_the_last_finite_checkpoint(tmp_path, monkeypatch):
    wd = str(tmp_path / "w")
    cfg = TINY.replace(steps=8, max_bad_steps=2, log_every=1, checkpoint_every=2)
    train.run(cfg, wd, until=2, **QUIET)  # a good checkpoint at step 2
    real = train.loss_from_waves
    monkeypatch.setattr(train, "loss_from_waves", lambda *a: real(*a) * jnp.nan)
    train.make_train_step.cache_clear()  # retrace the step with the poisoned loss
    try:
        with pytest.raises(train.TrainingStopped, match=r"3 steps in a row.*at step 5\).*the last finite checkpoint is kept"):
            train.run(cfg, wd, **QUIET)
    finally:
        train.make_train_step.cache_clear()
    # step 4's checkpoint holds the skipped steps' unchanged (finite) parameters; nothing after it
    assert ckpt.steps(wd) == [2, 4]
    model = train.load(wd, **QUIET)[0]
    assert all(np.all(np.isfinite(p)) for p in _params(model))


# -- processes: SIGINT and resume; two processes vs one ----------------------------------------------

RESUME_CFG = dict(steps=800, batch_size=2, sr=8000, segment_seconds=0.125, n_fft=128, hop_length=32, context=1,
                  hidden=16, layers=1, noise_clips=4, noise_seconds=0.5, noise_kinds=["white", "pink"],
                  warmup_steps=10, log_every=40, checkpoint_every=200, model="dnn", feature_norm="utterance",
                  augment=False, speaker_augment=False, reverb_prob=0.0, level_range=None)


def _cli(args, cache=None, **kw):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    if cache:  # processes of one test compile the same programs: share JAX's persistent cache
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return subprocess.Popen([sys.executable, "-m", "jaxspec.cli", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_sigint_then_resume_matches_an_uninterrupted_run(tmp_path):
    cfg_path = str(tmp_path / "c.json")
    with open(cfg_path, "w") as f:
        json.dump(RESUME_CFG, f)
    full, cut, cache = str(tmp_path / "full"), str(tmp_path / "cut"), tmp_path / "jax-cache"
    ref = _cli(["train", "--config", cfg_path, "--workdir", full], cache)
    out, _ = ref.communicate(timeout=600)
    assert ref.returncode == 0, out
    p = _cli(["train", "--config", cfg_path, "--workdir", cut], cache)
    log = os.path.join(cut, "metrics.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline:  # interrupt once a few hundred steps are done, between checkpoints
        if os.path.exists(log) and sum(1 for _ in open(log)) >= 6:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 130, out
    stopped = ckpt.steps(cut)[-1]
    assert 240 <= stopped < 800, (stopped, out)
    assert f"interrupted at step {stopped}:" in out, out  # saved where it stopped, not at the last 200 mark
    r = _cli(["train", "--config", cfg_path, "--workdir", cut], cache)
    out, _ = r.communicate(timeout=600)
    assert r.returncode == 0 and f"resuming from step {stopped}" in out, out
    a, b = train.load(full, **QUIET)[0], train.load(cut, **QUIET)[0]
    for x, y in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(x, y)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    cfg_path = str(tmp_path / "c.json")
    with open(cfg_path, "w") as f:
        json.dump(dict(RESUME_CFG, steps=3, batch_size=4, log_every=1, checkpoint_every=3), f)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    port = _free_port()
    cache = tmp_path / "jax-cache"
    procs = [_cli(["train", "--config", cfg_path, "--workdir", two, "--coordinator", f"127.0.0.1:{port}",
                   "--num-processes", "2", "--process-id", str(i)], cache) for i in range(2)]
    single = _cli(["train", "--config", cfg_path, "--workdir", one], cache)
    outs = [q.communicate(timeout=300)[0] for q in procs + [single]]
    assert all(q.returncode == 0 for q in procs + [single]), outs
    assert "on 2 cpu device(s) in 2 processes" in outs[0]
    a, b = train.load(one, **QUIET)[0], train.load(two, **QUIET)[0]
    for x, y in zip(_params(a), _params(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


SHARDED = textwrap.dedent("""
    import jax, numpy as np
    from flax import nnx
    from jax.sharding import PartitionSpec as P
    from jaxspec.enhance import train
    from jaxspec.enhance.config import TrainConfig
    assert jax.device_count() == 4, jax.devices()
    cfg = TrainConfig(batch_size=8, segment_seconds=0.25, n_fft=256, hop_length=64, context=1, hidden=32, layers=1,
                      warmup_steps=1, steps=4, model="dnn", feature_norm="utterance", augment=False,
                      speaker_augment=False, reverb_prob=0.0, level_range=None)
    rng = np.random.default_rng(0)
    clean = (0.1 * rng.standard_normal((8, 6000))).astype(np.float32)
    noise = rng.standard_normal((8, 7000)).astype(np.float32)
    step = train.make_train_step(cfg)
    def two_steps(sharded):
        model = train.make_model(cfg, rngs=nnx.Rngs(0))
        opt = train.make_optimizer(model, cfg)
        c, n = clean, noise
        if sharded:
            mesh = train.make_mesh()
            train.replicate(model, mesh); train.replicate(opt, mesh)
            c, n = train.shard_batch(clean, mesh), train.shard_batch(noise, mesh)
            assert len(c.sharding.device_set) == 4 and c.sharding.spec == P("batch")
        losses = [float(step(model, opt, c, n, jax.random.key(i))["loss"]) for i in range(2)]
        return losses, [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]
    l1, p1 = two_steps(False)
    l4, p4 = two_steps(True)
    np.testing.assert_allclose(l1, l4, rtol=1e-5)
    for a, b in zip(p1, p4):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # the spectral part runs on each device's rows: no gather of the batch, every FFT on 8 / 4 rows
    import re
    from jax.sharding import NamedSharding
    mesh = train.make_mesh()
    def step_hlo(cfg, clean, noise):  # compiled loss and gradient of one step on the sharded batch
        graphdef, state = nnx.split(train.make_model(cfg, rngs=nnx.Rngs(0)))
        state = jax.device_put(state, NamedSharding(mesh, P()))
        def loss_and_grad(state, c, n, key):
            m = nnx.merge(graphdef, state)
            target, interference, mixture = train.make_mixtures(key, c, n, cfg)
            return nnx.value_and_grad(train.loss_from_waves)(m, target, interference, mixture, cfg)
        c, n = train.shard_batch(clean, mesh), train.shard_batch(noise, mesh)
        return jax.jit(loss_and_grad).lower(state, c, n, jax.random.key(0)).compile().as_text()
    text = step_hlo(cfg, clean, noise)
    assert "all-gather" not in text and "all-to-all" not in text, "the step gathers the batch"
    lead = [int(m.group(1).split(",")[0]) for m in re.finditer(r"= [a-z0-9]+\[([0-9,]*)\]\{[^}]*\} fft\(", text)]
    assert lead and set(lead) == {2}, lead
    # the default step (causal GRU, speaker and room augmentation, level) with 8 rows per device:
    # the augmentation picks its rows within each device's share, so nothing is gathered either
    gcfg = TrainConfig(batch_size=32, segment_seconds=0.25, hidden=32, steps=4)
    text = step_hlo(gcfg, np.tile(clean, (4, 1)), np.tile(noise, (4, 1)))
    assert "all-gather" not in text and "all-to-all" not in text, "the default step gathers the batch"
    print("SHARDED_OK", l1, l4, len(lead), "ffts")
""")


def test_sharded_step_matches_single_device():
    # the suite's XLA flags (conftest) plus 4 host devices
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", SHARDED], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "SHARDED_OK" in r.stdout, r.stdout + r.stderr


FRESH = TINY.replace(fresh_noise=True, steps=2, checkpoint_every=2)


def test_fresh_noise_is_new_every_step_balanced_and_band_limited():
    cfg = FRESH
    babble = jnp.asarray(np.random.default_rng(0).standard_normal(cfg.sr).astype(np.float32))
    band = jnp.asarray([3400.0, 8000.0, 3400.0, 8000.0])
    make = jax.jit(lambda k: train.fresh_noise(k, babble, band, cfg))
    a, b = np.asarray(make(jax.random.key(0))), np.asarray(make(jax.random.key(1)))
    np.testing.assert_array_equal(a, np.asarray(make(jax.random.key(0))))  # a function of the key
    assert a.shape == (4, cfg.segment) and np.all(np.isfinite(a))
    assert np.all(np.abs(a - b).max(-1) > 0.1)  # every row new for a new key: no bank
    P = np.abs(np.fft.rfft(a, axis=-1)) ** 2
    f = np.fft.rfftfreq(cfg.segment, 1 / cfg.sr)
    above = P[:, f > 3400 + ip.BAND_EDGE_HZ].sum(-1) / P[:, f < 3400].sum(-1)
    assert np.all(above[[0, 2]] < 1e-6) and np.all(above[[1, 3]] > 1e-3)  # limited to its row's band only
    # white (flat) and pink (falling) rows both drawn: the pool holds each kind equally often
    tilt = [P[r, (f > 300) & (f < 1000)].mean() / P[r, (f > 2000) & (f < 3000)].mean() for r in range(4)]
    assert min(tilt) < 2.0 < max(tilt)
    with pytest.raises(ValueError, match="needs band and babble"):
        train.make_mixtures(jax.random.key(0), jnp.zeros((4, 8000)), None, cfg)


def test_a_run_with_fresh_noise_is_deterministic_and_has_no_noise_bank(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "noise_bank", lambda *a, **k: pytest.fail("fresh_noise must not build a bank"))
    logs = []
    ra = train.run(FRESH, str(tmp_path / "a"), log=logs.append)
    rb = train.run(FRESH, str(tmp_path / "b"), **QUIET)
    assert ra["losses"] == rb["losses"] and len(ra["losses"]) == 2 and np.all(np.isfinite([v for _, v in ra["losses"]]))
    assert any("noise generated in every step (white/pink)" in line for line in logs)
    b = ip.StepBatches(seed=0, segment=800, rows=range(2), speech=ip.Corpus(ip.scan(ip.shipped_speech("train")[:2])[0],
                                                                            sr=FRESH.sr), noise=None)(0)
    assert set(b) == {"clean", "band"} and np.all(b["band"] == FRESH.sr / 2)
