"""The example's input pipeline on a user corpus: ~50 generated files of mixed rates, lengths,
channel counts and formats (two corrupt, one empty, one with a NaN sample), lazy crops, resampling,
determinism, worker processes, and ``jaxspec train --speech/--noise/--rir`` on it; and the
shipped corpus's manifest (honest splits, every file present, 16 kHz mono, stated lengths)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from jaxspec import cli
from jaxspec.enhance import input_pipeline as ip
from jaxspec.enhance.config import TrainConfig

RATES = (8000, 16000, 22050, 44100, 48000)


def _tone(sr, seconds, f, channels, rng):
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(len(t))
    x = np.stack([x * (1 + 0.1 * c) for c in range(channels)], axis=1) if channels > 1 else x
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """speech/ (24 good files in nested dirs + 2 corrupt + 1 empty), noise/ (20 files + a NaN one
    in float WAV), rir/ (4 files), and a list file naming some speech files by relative path."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for kind, n in (("speech", 24), ("noise", 20)):
        for i in range(n):
            sr = RATES[i % len(RATES)]
            d = root / kind / f"group{i % 3}"
            d.mkdir(parents=True, exist_ok=True)
            ext = (".wav", ".flac", ".ogg")[i % 3]
            seconds = (0.1, 0.4, 1.7, 3.0)[i % 4]  # some shorter than a crop: they are looped
            x = _tone(sr, seconds, 200 + 40 * i, 1 + i % 2, rng)
            sf.write(str(d / f"{kind}{i:02d}{ext}"), x, sr)
    (root / "speech" / "corrupt1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    (root / "speech" / "corrupt2.flac").write_bytes(b"fLaC" + bytes(50))
    sf.write(str(root / "speech" / "empty.wav"), np.zeros((0,), np.float32), 16000)
    (root / "speech" / "notes.txt").write_text("not audio, not listed")
    bad = _tone(16000, 1.0, 300, 1, rng)
    bad[::700] = np.nan  # any crop finds one
    (root / "badnoise").mkdir()
    sf.write(str(root / "badnoise" / "nan.wav"), bad, 16000, subtype="FLOAT")
    for i in range(4):
        sr = RATES[i]
        t = np.arange(int(0.3 * sr)) / sr
        h = np.exp(-t / 0.05) * rng.standard_normal(len(t))
        h[: int(0.002 * sr)] = 0.0
        h[int(0.002 * sr)] = 3.0
        (root / "rir").mkdir(exist_ok=True)
        sf.write(str(root / "rir" / f"rir{i}.wav"), (h / 4).astype(np.float32), sr)
    good = sorted(p for p in (root / "speech").rglob("*") if p.suffix in (".wav", ".flac", ".ogg") and "group" in str(p))
    (root / "speech_list.txt").write_text("# my speech\n\n" + "\n".join(os.path.relpath(p, root) for p in good[:10]) + "\n")
    return root


def test_sources_index_headers_and_report_bad_files(corpus):
    paths = ip.list_audio(str(corpus / "speech"))
    assert len(paths) == 27 and all(p.endswith((".wav", ".flac", ".ogg")) for p in paths)
    with pytest.raises(ip.BadAudioFile, match=r"corrupt1\.wav.*--skip-bad-files"):
        ip.scan(paths)
    logs = []
    files, skipped = ip.scan(paths, skip_bad=True, log=logs.append)
    assert len(files) == 24 and sorted(os.path.basename(p) for p, _ in skipped) == ["corrupt1.wav", "corrupt2.flac", "empty.wav"]
    assert "skipped 3 bad file(s) of 27" in logs[0]
    assert {f.sr for f in files} == set(RATES) and {f.channels for f in files} == {1, 2}
    listed = ip.list_audio(str(corpus / "speech_list.txt"))
    assert len(listed) == 10 and all(os.path.isfile(p) for p in listed)
    with pytest.raises(FileNotFoundError, match="no such directory or list file"):
        ip.list_audio(str(corpus / "nowhere"))
    (corpus / "emptydir").mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="has no audio files"):
        ip.list_audio(str(corpus / "emptydir"))


def test_crops_are_lazy_resampled_mono_and_deterministic(corpus, monkeypatch):
    c = ip.Corpus.from_source(str(corpus / "speech"), sr=16000, skip_bad=True, log=lambda s: None)
    reads = []
    real_read = sf.read
    monkeypatch.setattr(sf, "read", lambda *a, **k: (reads.append(k.get("frames", -1)), real_read(*a, **k))[1])
    a = c.crop(np.random.default_rng([0, 1]), 4000)
    b = c.crop(np.random.default_rng([0, 1]), 4000)
    assert a.shape == (4000,) and a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    # long files are read in part: never more than the crop (at the file's rate) plus a small margin
    longest = max(f.frames for f in c.files)
    for _ in range(40):
        c.crop(np.random.default_rng(len(reads)), 4000)
    assert all(r == -1 or r <= 4000 * 48000 // 16000 + 128 for r in reads), reads
    assert max(r for r in reads) < longest
    # resampling keeps a tone's frequency: a 22.05 kHz 1 kHz tone read at 16 kHz
    sf.write(str(corpus / "tone.wav"), (0.5 * np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)).astype(np.float32), 22050)
    t = ip.Corpus(ip.scan([str(corpus / "tone.wav")])[0], sr=16000)
    x = t.crop(np.random.default_rng(0), 8000)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    assert abs(np.argmax(spec) * 16000 / len(x) - 1000) <= 2
    os.remove(corpus / "tone.wav")


def test_non_finite_samples_are_an_error_naming_the_file_or_skipped(corpus):
    c = ip.Corpus.from_source(str(corpus / "badnoise"), sr=16000)
    with pytest.raises(ip.BadAudioFile, match=r"nan\.wav: holds NaN or infinite samples"):
        c.crop(np.random.default_rng(0), 2000)
    # with skip_bad the file is left out (with a warning) and another one is read
    mixed = ip.Corpus(ip.scan([str(corpus / "badnoise" / "nan.wav"), str(corpus / "noise" / "group0" / "noise00.wav")])[0],
                      sr=16000, skip_bad=True)
    with pytest.warns(UserWarning, match="skipping.*nan.wav"):
        x = np.stack([mixed.crop(np.random.default_rng(i), 2000) for i in range(8)])
    assert np.all(np.isfinite(x)) and list(mixed.skipped) == [str(corpus / "badnoise" / "nan.wav")]


def test_step_batches_are_per_row_deterministic_and_split_over_processes(corpus):
    sp = ip.Corpus.from_source(str(corpus / "speech"), sr=8000, skip_bad=True, log=lambda s: None)
    no = ip.Corpus.from_source(str(corpus / "noise"), sr=8000)
    rirs = ip.RirSet(str(corpus / "rir"), sr=8000, length=1600)
    assert rirs.rirs.shape == (4, 1600) and np.allclose(np.max(np.abs(rirs.rirs), axis=1), 1.0)
    whole = ip.StepBatches(seed=3, segment=1000, rows=range(4), speech=sp, noise=no, rirs=rirs)(7)
    halves = [ip.StepBatches(seed=3, segment=1000, rows=ip.rows_for_process(4, p, 2), speech=sp, noise=no, rirs=rirs)(7)
              for p in range(2)]
    for k in ("clean", "noise", "rir"):
        np.testing.assert_array_equal(whole[k], np.concatenate([h[k] for h in halves]))
    other = ip.StepBatches(seed=3, segment=1000, rows=range(4), speech=sp, noise=no)(8)
    assert not np.array_equal(whole["clean"], other["clean"])
    with pytest.raises(ValueError, match="multiple of the process count"):
        ip.rows_for_process(6, 0, 4)


def test_grain_pipeline_with_workers_matches_in_process_and_starts_anywhere(corpus):
    sp = ip.Corpus.from_source(str(corpus / "speech"), sr=8000, skip_bad=True, log=lambda s: None)
    no = ip.Corpus.from_source(str(corpus / "noise"), sr=8000)
    batches = ip.StepBatches(seed=0, segment=800, rows=range(2), speech=sp, noise=no)
    inproc = [b["clean"] for b in ip.make_dataset(batches, steps=6)]
    workers = [b["clean"] for b in ip.make_dataset(batches, steps=6, workers=2)]
    resumed = [b["clean"] for b in ip.make_dataset(batches, steps=6, start=4)]
    assert len(inproc) == len(workers) == 6 and len(resumed) == 2
    for a, b in zip(inproc, workers):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(inproc[4:], resumed):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    cfg = TrainConfig(steps=3, batch_size=2, sr=8000, segment_seconds=0.25, n_fft=128, hop_length=32, context=1,
                      hidden=16, layers=1, warmup_steps=1, log_every=1, checkpoint_every=3, rir_seconds=0.2,
                      noise_kinds=("white", "pink"), model="dnn", feature_norm="utterance", augment=False, speaker_augment=False, reverb_prob=0.0, level_range=None)
    p = str(tmp_path_factory.mktemp("cfg") / "tiny.json")
    cfg.to_json(p)
    return p


def test_train_on_a_user_corpus_with_rirs_and_validation(corpus, tiny_config, tmp_path, capsys):
    wd = str(tmp_path / "run")
    args = ["train", "--config", tiny_config, "--workdir", wd, "--speech", str(corpus / "speech"),
            "--noise", str(corpus / "noise"), "--rir", str(corpus / "rir")]
    # the corrupt files stop the run with one line naming the first of them
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "corrupt1.wav" in err and "--skip-bad-files" in err
    assert cli.main(args + ["--skip-bad-files", "--valid-speech", str(corpus / "speech_list.txt"),
                            "--valid-noise", str(corpus / "noise")]) == 0
    out = capsys.readouterr().out
    assert "skipped 3 bad file(s) of 27" in out and "4 RIR(s)" in out
    with open(os.path.join(wd, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert [r["step"] for r in records] == [1, 2, 3] and records[-1]["lr"] > 0
    for r in records:
        assert np.isfinite(r["loss"]) and np.isfinite(r["grad_norm"]) and r["lr"] >= 0
        assert np.isfinite(r["valid_si_sdr"]) and r["audio_seconds_per_s"] > 0 and r["skipped_steps"] == 0
    assert os.listdir(os.path.join(wd, "checkpoints")) == ["3"]


@pytest.mark.parametrize("source,match", [
    ("nowhere", "speech .*nowhere.*: no such directory or list file"),
    ("emptydir", "speech .*emptydir.* has no audio files"),
])
def test_missing_or_empty_sources_are_one_line_errors(corpus, tiny_config, tmp_path, capsys, source, match):
    (corpus / "emptydir").mkdir(exist_ok=True)
    assert cli.main(["train", "--config", tiny_config, "--workdir", str(tmp_path / "w"),
                     "--speech", str(corpus / source)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert __import__("re").search(match, err), err


def test_nan_noise_file_stops_with_its_name(corpus, tiny_config, tmp_path, capsys):
    assert cli.main(["train", "--config", tiny_config, "--workdir", str(tmp_path / "w"),
                     "--noise", str(corpus / "badnoise")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nan.wav: holds NaN or infinite samples" in err


# ---------------------------------------------------------------- the shipped corpus


def test_shipped_corpus_splits_are_honest_and_files_match_the_manifest():
    """From manifest.json alone: held-out and mismatched texts never occur in train, mismatched
    voices (engine, voice) never train, and every clip is a readable 16 kHz mono file whose length
    is the manifest's "seconds" (within 10 ms)."""
    with open(os.path.join(ip.DATA_DIR, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    assert manifest["sample_rate"] == 16000
    clips = manifest["clips"]
    by_split = {s: [c for c in clips if c["split"] == s] for s in ("train", "heldout", "mismatched")}
    assert all(by_split.values()) and sum(map(len, by_split.values())) == len(clips)
    for split, cs in by_split.items():
        assert ip.shipped_speech(split) == [os.path.join(ip.DATA_DIR, c["file"]) for c in cs]
    with pytest.raises(ValueError, match="heldout"):
        ip.shipped_speech("test")

    train_text = {c["text"] for c in by_split["train"]}
    for split in ("heldout", "mismatched"):
        leaked = [c["text"] for c in by_split[split] if c["text"] in train_text]
        assert not leaked, f"{split} sentences also in train: {leaked[:3]}"
    train_voices = {(c["engine"], c["voice"]) for c in by_split["train"]}
    heldout_voices = {(c["engine"], c["voice"]) for c in by_split["heldout"]}
    mismatched_voices = {(c["engine"], c["voice"]) for c in by_split["mismatched"]}
    assert heldout_voices <= train_voices  # in-distribution: voices that train
    assert not mismatched_voices & train_voices, mismatched_voices & train_voices
    assert not {c["engine"] for c in by_split["mismatched"]} & {c["engine"] for c in by_split["train"]}

    for c in clips:
        path = os.path.join(ip.DATA_DIR, c["file"])
        assert os.path.isfile(path), path
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        assert sr == 16000 and x.shape[1] == 1, (path, sr, x.shape)
        assert abs(x.shape[0] / sr - c["seconds"]) <= 0.010, (path, x.shape[0] / sr, c["seconds"])
        assert np.all(np.isfinite(x)) and np.abs(x).max() > 0.1, path  # peak -12..-1 dBFS


# ---------------------------------------------------------------- the shipped real-speech corpus


def _real_manifest():
    with open(os.path.join(ip.REAL_DIR, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def test_real_corpus_splits_share_no_speaker_and_babble_is_a_disjoint_pool():
    """Each speaker is in exactly one split (manifest and directory layout agree); no babble
    speaker is a target in train or unseen; unseen speakers never train; one voice recorded in two
    languages (Allison Smith: en and es) is one speaker."""
    manifest = _real_manifest()
    clips = manifest["clips"]
    speakers = {s: {c["speaker"] for c in clips if c["split"] == s} for s in ip.REAL_SPLITS}
    assert all(speakers.values()) and sum(len([c for c in clips if c["split"] == s]) for s in ip.REAL_SPLITS) == len(clips)
    for a in ip.REAL_SPLITS:
        for b in ip.REAL_SPLITS:
            if a < b:
                assert not speakers[a] & speakers[b], (a, b, speakers[a] & speakers[b])
    for c in clips:  # the file lives in {split}/{speaker}/
        assert c["file"].split("/")[:2] == [c["split"], c["speaker"]], c["file"]
    assert {s: set(v) for s, v in manifest["splits"].items()} == speakers
    assert {c["language"] for c in clips if c["speaker"] == "allison"} == {"en", "es"}
    assert len(speakers["train"]) >= 15 and len(speakers["unseen"]) >= 5 and len(speakers["babble"]) >= 5

    for split in ip.REAL_SPLITS:
        got = ip.real_speech(split)
        assert [g["path"] for g in got] == [os.path.join(ip.REAL_DIR, c["file"]) for c in clips if c["split"] == split]
        assert all(g["speaker"] in speakers[split] for g in got)
    with pytest.raises(ValueError, match="unseen"):
        ip.real_speech("heldout")
    assert ip.real_music() and all(os.path.isfile(p) for p in ip.real_music())


def test_real_corpus_files_match_the_manifest_with_licences_and_honest_bandwidths():
    """Every recording is a 16 kHz mono FLAC of the stated length at -1 dBFS peak; every licence is
    named and every package's copyright file ships; a recording's power above its stated band
    (``bandwidth_hz`` + 400 Hz) is at least 25 dB below its total power; the corpus fits in 42 MB."""
    import scipy.signal

    manifest = _real_manifest()
    assert manifest["sample_rate"] == 16000
    for p in manifest["packages"]:
        assert os.path.isfile(os.path.join(ip.REAL_DIR, "licences", f"{p}.copyright")), p
    for c in manifest["clips"] + manifest["noise"]:
        assert c["license"] in manifest["licenses"], c
        assert c["package"] in manifest["packages"], c
    narrow = 0
    for c in manifest["clips"]:
        x, sr = sf.read(os.path.join(ip.REAL_DIR, c["file"]), dtype="float64", always_2d=True)
        assert sr == 16000 and x.shape[1] == 1, c["file"]
        x = x[:, 0]
        assert abs(len(x) / sr - c["seconds"]) <= 0.001 and 0.25 <= c["seconds"] <= 20.0, c["file"]
        assert np.all(np.isfinite(x)) and abs(20 * np.log10(np.abs(x).max()) + 1.0) < 0.1, c["file"]
        if c["bandwidth_hz"] < 7000:
            f, p = scipy.signal.welch(x, sr, nperseg=512)
            above = p[f > c["bandwidth_hz"] + 400].sum() / p.sum()
            assert above < 10 ** -2.5, (c["file"], 10 * np.log10(above))
            narrow += 1
    assert narrow > 100
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(ip.REAL_DIR) for f in fs)
    assert size < 42e6, size


def _pulses(tmp_path, lengths, sr=16000):
    """Files of constant non-zero samples (1 + index) of the given lengths, so a sequence shows
    which file lies where."""
    files = []
    for i, n in enumerate(lengths):
        path = str(tmp_path / f"u{i}.wav")
        sf.write(path, np.full(n, 0.01 * (i + 1), np.float32), sr, subtype="FLOAT")
        files.append(path)
    return ip.scan(files, log=lambda s: None)[0]


def test_utterances_lay_whole_files_with_pauses_and_report_the_narrowest_band(tmp_path):
    sr = 16000
    files = _pulses(tmp_path, [3000, 5000, 8000])
    c = ip.Corpus(files, sr=sr, bands=[4000, 7000, 8000])
    rng = np.random.default_rng(5)
    for _ in range(20):
        x, band = c.utterances(rng, 4 * sr, (0.2, 0.5))
        on = x != 0
        edges = np.flatnonzero(np.diff(on.astype(int)))
        runs = np.split(np.arange(len(x)), edges + 1)
        speech = [r for r in runs if on[r[0]]]
        pauses = [r for r in runs if not on[r[0]]]
        assert len(speech) >= 2
        for r in speech:  # a whole file, unless the segment's end cuts it
            level = int(round(x[r[0]] / 0.01)) - 1
            assert np.all(x[r] == x[r[0]])
            assert len(r) == [3000, 5000, 8000][level] or r[-1] == len(x) - 1
        inner = pauses[1:] if not on[0] else pauses
        inner = [p for p in inner if p[-1] != len(x) - 1]  # a pause at the very end may be cut
        assert all(0.2 * sr - 1 <= len(p) <= 0.5 * sr + 1 for p in inner)
        levels = {int(round(x[r[0]] / 0.01)) - 1 for r in speech}
        assert band == min([4000, 7000, 8000][i] for i in levels)
    # the same generator state gives the same segment; draw() is the same path
    a = c.draw(np.random.default_rng(9), sr, pause_range=(0.1, 0.3))
    b = c.utterances(np.random.default_rng(9), sr, (0.1, 0.3))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    with pytest.raises(ValueError, match="bands"):
        ip.Corpus(files, sr=sr, bands=[4000])


def test_band_limited_speech_gets_noise_in_its_band_only(tmp_path):
    sr = 16000
    speech = ip.Corpus(_pulses(tmp_path, [sr]), sr=sr, bands=[4000])
    wide = ip.Corpus(_pulses(tmp_path, [sr]), sr=sr)
    noise = ip.ArrayCorpus(np.random.default_rng(0).standard_normal((2, 2 * sr)).astype(np.float32), sr=sr)
    for sp, narrow in ((speech, True), (wide, False)):
        b = ip.StepBatches(seed=0, segment=sr, rows=range(3), speech=sp, noise=noise, pause_range=(0.1, 0.3))(0)
        P = np.abs(np.fft.rfft(b["noise"], axis=-1)) ** 2
        f = np.fft.rfftfreq(sr, 1 / sr)
        above = P[:, f > 4400].sum(-1) / P[:, f < 4000].sum(-1)
        assert np.all(above < 1e-6) if narrow else np.all(above > 0.5)
    with pytest.raises(TypeError, match="pause_range"):
        ip.StepBatches(seed=0, segment=sr, rows=range(1), speech=noise, noise=noise, pause_range=(0.1, 0.2))


@pytest.mark.parametrize("field,value,err", [("pause_range", (0.5, 0.2), ValueError), ("pause_range", (0.1, 9.0), ValueError),
                                             ("pause_range", "0.2", TypeError), ("clean_share", 1.0, ValueError),
                                             ("clean_share", -0.1, ValueError), ("corpus", "librispeech", ValueError)])
def test_segment_options_are_validated(field, value, err):
    with pytest.raises(err, match=field):
        TrainConfig(segment_seconds=4.0, **{field: value})


def test_real_evaluation_set_is_unseen_speakers_with_every_family_and_a_fair_headline():
    from jaxspec.enhance import evaluate as ev

    cfg = TrainConfig()
    clean, noise, lengths, families = ev.real_set(cfg, n_clips=21)
    lo, hi = (t * cfg.sr for t in ev.REAL_CLIP_SECONDS)
    assert clean.shape == noise.shape and len(lengths) == len(families) == 21
    assert np.all((lengths >= lo) & (lengths <= hi))
    assert families[:7] == list(ev.REAL_KINDS) and families == list(ev.REAL_KINDS) * 3
    past = np.arange(clean.shape[1])[None, :] >= lengths[:, None]
    assert not np.any(clean[past]) and not np.any(noise[past])
    assert np.all(np.sqrt(np.mean(noise ** 2, axis=1)) > 1e-3)
    # the clips are the unseen speakers' recordings (the first clips take every speaker in turn)
    unseen = {e["speaker"] for e in ip.real_speech("unseen")}
    clips = ev._real_clips(cfg, 2024)
    assert len(clips) >= 6 * len(unseen)
    first = np.concatenate([c[: int(0.3 * cfg.sr)] for c in clips[: len(unseen)]])
    assert not np.any(first[: int(0.3 * cfg.sr)])  # every clip opens on a pause
    again = ev.real_set(cfg, n_clips=21)
    np.testing.assert_array_equal(again[0], clean)
    np.testing.assert_array_equal(again[1], noise)
    # the headline is the mean over families of the medians, traffic and brown left out
    stats = {f: {"enhanced": {"si_sdr_i": [0.0, float(i), 9.0]}} for i, f in enumerate(ev.REAL_KINDS)}
    kept = [i for i, f in enumerate(ev.REAL_KINDS) if f not in ev.NOT_HEADLINE]
    assert ev.headline({"family_stats": stats})["enhanced"]["si_sdr_i"] == pytest.approx(np.mean(kept))
