"""``jaxspec`` command line smoke tests on tiny configs: demo, train, enhance, and their errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from jaxspec import cli
from jaxspec.enhance.config import TrainConfig

TINY = TrainConfig(steps=2, batch_size=4, segment_seconds=0.25, n_fft=256, hop_length=64, context=1, hidden=32,
                   layers=1, noise_clips=6, noise_seconds=0.5, warmup_steps=1, log_every=1, checkpoint_every=2,
                   noise_kinds=("white", "pink", "hum"), model="dnn", feature_norm="utterance", augment=False, speaker_augment=False, reverb_prob=0.0, level_range=None)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    p = str(tmp_path_factory.mktemp("cfg") / "tiny.json")
    TINY.to_json(p)
    return p


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def tiny_config_path(workdir):
    p = os.path.join(workdir, "tiny.json")
    TINY.to_json(p)
    return p


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_config):
    wd = str(tmp_path_factory.mktemp("train"))
    assert cli.main(["train", "--config", tiny_config, "--workdir", wd]) == 0
    return wd


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and "jaxspec" in capsys.readouterr().out
    assert cli.main([]) == 2


# `make demo`'s recipe (the band model on the real corpus, scored on the real set first), made tiny
TINY_REAL = TrainConfig(steps=2, batch_size=2, segment_seconds=1.0, n_fft=256, hop_length=128, hidden=16, layers=1,
                        noise_clips=6, noise_seconds=0.5, warmup_steps=1, log_every=1, checkpoint_every=2,
                        model="band", feature_norm="running", corpus="real", pause_range=(0.2, 0.4), clean_share=0.05,
                        stoi_weight=1.0, fresh_noise=True, augment=False, speaker_augment=False, reverb_prob=0.0,
                        level_range=None)


def test_demo_tiny(tmp_path, capsys):
    out, cfg = str(tmp_path / "demo"), str(tmp_path / "tiny_real.json")
    TINY_REAL.to_json(cfg)
    assert cli.main(["demo", "--config", cfg, "--out", out, "--eval-clips", "2", "--snrs", "0"]) == 0
    text = capsys.readouterr().out
    assert "oracle_irm" in text and "SI-SDRi" in text and "PESQ" in text
    assert "mismatched held-out set" in text and "real unseen speakers" in text
    assert text.index("real unseen speakers") < text.index("in-distribution held-out set")
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    assert set(m["summary"]["real"]) >= {"enhanced_vs_oracle_at_0db", "stoi_gain_at_0db", "headline_medians_at_0db"}
    for split in ("real", "heldout", "mismatched"):
        assert set(m["metrics"][split]) == {"0"}
        for snr in ("0",):
            row = m["metrics"][split][snr]
            assert set(row) == {"noisy", "baseline", "enhanced", "oracle_irm", "families", "family_stats"}
            for d in [row[k] for k in ("noisy", "baseline", "enhanced", "oracle_irm")]:
                assert all(np.isfinite(d[k]) for k in ("si_sdr", "si_sdr_i", "stoi", "pesq"))
            assert row["oracle_irm"]["si_sdr_i"] > 5.0
            assert len(row["families"]) == 2  # --eval-clips 2: one clip of each of the first two families
        assert set(m["summary"][split]) >= {"enhanced_vs_oracle_at_0db", "stoi_gain_at_0db", "pesq_gain_at_0db"}
    assert os.path.getsize(os.path.join(out, "demo.png")) > 10_000
    assert os.listdir(os.path.join(out, "checkpoints")) == ["2"]
    # `jaxspec enhance` on the demo's noisy example writes the demo's enhanced example, sample for sample
    wavs = os.path.join(out, "wavs")
    again = str(tmp_path / "again.wav")
    assert cli.main(["enhance", os.path.join(wavs, "ex0_noisy.wav"), "-o", again, "--checkpoint", out]) == 0
    a, sr_a = sf.read(again)
    b, sr_b = sf.read(os.path.join(wavs, "ex0_enhanced.wav"))
    assert sr_a == sr_b and np.array_equal(a, b) and np.std(b) > 0


def test_train_then_enhance_stereo_at_another_rate(trained, tmp_path):
    assert os.listdir(os.path.join(trained, "checkpoints")) == ["2"]
    sr = 22050
    t = np.arange(int(0.6 * sr)) / sr
    rng = np.random.default_rng(0)
    x = np.stack([0.3 * np.sin(2 * np.pi * 300 * t), 0.2 * np.sin(2 * np.pi * 500 * t)], axis=1)
    x = (x + 0.05 * rng.standard_normal(x.shape)).astype(np.float32)
    inp, outp = str(tmp_path / "in.wav"), str(tmp_path / "out.flac")
    sf.write(inp, x, sr)
    assert cli.main(["enhance", inp, "-o", outp, "--checkpoint", trained]) == 0
    y, sr2 = sf.read(outp)
    assert sr2 == sr and y.shape == x.shape and np.all(np.isfinite(y))
    # resuming a finished run is a no-op that still succeeds
    assert cli.main(["train", "--workdir", trained, "--steps", "2", "--config", tiny_config_path(trained)]) == 0


def test_enhance_errors(tmp_path, trained, capsys):
    inp = str(tmp_path / "in.wav")
    sf.write(inp, np.zeros(1600, np.float32), 16000)
    assert cli.main(["enhance", inp, "-o", str(tmp_path / "o.wav"), "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in _one_line(capsys)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    assert cli.main(["enhance", str(bad), "-o", str(tmp_path / "o.wav"), "--checkpoint", trained]) == 2
    assert "cannot read audio" in _one_line(capsys)


def test_enhance_stream_file_to_file(trained, tmp_path, capsys):
    sr = 22050
    x = (0.1 * np.random.default_rng(1).standard_normal((int(0.8 * sr), 2))).astype(np.float32)
    inp, outp = str(tmp_path / "in.wav"), str(tmp_path / "out.wav")
    sf.write(inp, x, sr)
    assert cli.main(["enhance", inp, "-o", outp, "--stream", "--block-ms", "50", "--checkpoint", trained]) == 0
    assert "real-time factor" in capsys.readouterr().err
    y, sr2 = sf.read(outp)
    assert sr2 == sr and y.shape == x.shape and np.all(np.isfinite(y))
    assert sorted(os.listdir(tmp_path)) == ["in.wav", "out.wav"]


_RUN_CLI = "import sys; from jaxspec import cli; sys.exit(cli.main(sys.argv[1:]))"


def test_enhance_stream_on_pipes_and_a_closed_pipe(trained):
    import subprocess
    import sys

    pcm = (np.random.default_rng(2).standard_normal(16000 * 3) * 3000).astype("<i2").tobytes()
    cmd = [sys.executable, "-c", _RUN_CLI, "enhance", "-", "-o", "-", "--stream", "--rate", "16000", "--channels", "1",
           "--checkpoint", trained]
    r = subprocess.run(cmd, input=pcm, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert len(r.stdout) == len(pcm) and b"real-time factor" in r.stderr
    # the reader is gone before the first output: the stream ends cleanly, without a traceback
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    p.stdin.write(pcm)
    p.stdin.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 0, err[-2000:]
    assert "Traceback" not in err and "output pipe closed" in err


def test_enhance_stream_usage_errors(trained, tmp_path, capsys):
    inp = str(tmp_path / "in.wav")
    sf.write(inp, np.zeros(1600, np.float32), 16000)
    assert cli.main(["enhance", inp, "-o", str(tmp_path / "o.wav"), "--rate", "16000", "--checkpoint", trained]) == 2
    assert "--rate and --channels" in _one_line(capsys)
    assert cli.main(["enhance", "-", "-o", "-", "--stream", "--checkpoint", trained]) == 2
    assert "needs --rate and --channels" in _one_line(capsys)
    assert cli.main(["enhance", inp, "-o", "x.wav", "--stream", "--griffin-lim", "4", "--checkpoint", trained]) == 2
    assert "griffin-lim" in _one_line(capsys)
    assert cli.main(["enhance", inp, "-o", "x.wav", "--stream", "--block-ms", "0", "--checkpoint", trained]) == 2
    assert "--block-ms" in _one_line(capsys)


@pytest.mark.parametrize("case,match", [
    ("typo", "config .*: unknown key\\(s\\) \\['stepz'\\]"),
    ("steps0", "argument --steps: expected a positive integer, got 0"),
    ("missing_config", "cannot read config .*nope.json"),
    ("not_json", "is not valid JSON"),
    ("lr_inf", "lr must be finite"),
    ("snr", "snr_low must be >= -50"),
    ("kinds_string", "noise_kinds must be a non-empty list"),
    ("empty_noise", "noise: .*silent.wav: the file holds no samples"),
    ("unknown_flag", "unrecognized arguments: --stepz"),
    ("half_distributed", "--coordinator, --num-processes and --process-id go together"),
])
def test_train_command_line_errors_are_one_line_and_exit_2(tmp_path, capsys, case, match):
    cfg = TINY.to_dict()
    args = ["train", "--workdir", str(tmp_path / "w")]
    p = str(tmp_path / "c.json")
    if case == "typo":
        cfg["stepz"] = 3
    elif case == "lr_inf":
        cfg["lr"] = float("inf")  # json writes Infinity
    elif case == "snr":
        cfg["snr_low"] = -1000
    elif case == "kinds_string":
        cfg["noise_kinds"] = "white"
    with open(p, "w") as f:
        json.dump(cfg, f)
    args += ["--config", p]
    if case == "not_json":
        with open(p, "w") as f:
            f.write("{steps: 3")
    if case == "steps0":
        args += ["--steps", "0"]
    elif case == "missing_config":
        args[-1] = str(tmp_path / "nope.json")
    elif case == "empty_noise":
        (tmp_path / "noise").mkdir()
        sf.write(str(tmp_path / "noise" / "silent.wav"), np.zeros((0,), np.float32), 16000)
        args += ["--noise", str(tmp_path / "noise")]
    elif case == "unknown_flag":
        args += ["--stepz", "3"]
    elif case == "half_distributed":
        args += ["--coordinator", "127.0.0.1:1234"]
    assert cli.main(args) == 2
    assert __import__("re").search(match, _one_line(capsys))


def test_enhance_refuses_a_truncated_checkpoint_in_one_line(trained, tmp_path, capsys):
    import shutil

    wd = str(tmp_path / "wd")
    shutil.copytree(trained, wd)
    for root, _, files in os.walk(os.path.join(wd, "checkpoints")):
        for f in files:
            if f == "manifest.ocdbt":
                with open(os.path.join(root, f), "r+b") as fh:
                    fh.truncate(5)
    inp = str(tmp_path / "in.wav")
    sf.write(inp, np.zeros(1600, np.float32), 16000)
    assert cli.main(["enhance", inp, "-o", str(tmp_path / "o.wav"), "--checkpoint", wd]) == 2
    err = _one_line(capsys)
    assert "no usable checkpoint" in err and "checkpoints/2: damaged (state/" in err
    assert not os.path.exists(tmp_path / "o.wav")


@pytest.mark.parametrize("snrs", ["abc", "0,nan", "100"])
def test_demo_rejects_bad_snrs_in_one_line(snrs, capsys):
    assert cli.main(["demo", "--snrs", snrs]) == 2
    assert "snrs" in _one_line(capsys)
