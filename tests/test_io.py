"""Audio and spectrogram files: round trips, stereo -> mono, clear errors, atomic writes."""

from __future__ import annotations

import functools
import os
import warnings

import jax
import numpy as np
import pytest
import soundfile as sf

import jaxspec as js


def _tone(n=4000, sr=8000, f=440.0, amp=0.5):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def test_float_pcm16_round_trip_within_one_lsb(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, 3000).astype(np.float32)
    x[:3] = [1.0, -1.0, 0.0]
    p = tmp_path / "a.wav"
    js.save(p, x, 8000)
    assert sf.info(str(p)).subtype == "PCM_16"
    y, sr = js.load(p)
    assert sr == 8000 and y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1 / 32768
    assert np.all(np.abs(y) <= 1.0)
    # integer PCM written by another tool is scaled to [-1, 1]
    sf.write(str(tmp_path / "i.wav"), np.array([32767, -32768, 16384, 0], np.int16), 8000, subtype="PCM_16")
    z, _ = js.load(tmp_path / "i.wav", dtype="float64")
    np.testing.assert_allclose(z, [32767 / 32768, -1.0, 0.5, 0.0])
    assert z.dtype == np.float64


def test_stereo_to_mono_and_channel_layout(tmp_path):
    left, right = _tone(f=440.0), _tone(f=660.0, amp=0.25)
    p = tmp_path / "st.flac"
    js.save(p, np.stack([left, right]), 8000, subtype="PCM_24")
    assert sf.info(str(p)).channels == 2
    mono, _ = js.load(p)
    assert mono.shape == (4000,)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=2 / 2 ** 23)
    both, _ = js.load(p, mono=False)
    assert both.shape == (2, 4000)
    np.testing.assert_allclose(both, np.stack([left, right]), atol=1 / 2 ** 23)
    part, _ = js.load(p, offset=0.1, duration=0.2)
    np.testing.assert_allclose(part, mono[800:2400], atol=1e-7)


def test_load_resamples_with_the_library_resampler(tmp_path):
    p = tmp_path / "r.wav"
    js.save(p, _tone(n=8000, sr=8000, f=300.0), 8000, subtype="FLOAT")
    y, sr = js.load(p, sr=16000)
    assert sr == 16000 and y.shape == (16000,) and y.dtype == np.float32
    ref = _tone(n=16000, sr=16000, f=300.0)
    np.testing.assert_allclose(y[200:-200], ref[200:-200], atol=5e-3)


def test_clipping_is_explicit(tmp_path):
    x = np.array([0.5, 1.5, -2.0, 0.0], np.float32)
    with pytest.warns(UserWarning, match=r"save: clipping 2 samples beyond \[-1, 1\] \(peak 2\)"):
        js.save(tmp_path / "c.wav", x, 8000)
    y, _ = js.load(tmp_path / "c.wav")
    np.testing.assert_allclose(y, [0.5, 1.0, -1.0, 0.0], atol=1 / 32768)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        js.save(tmp_path / "c2.wav", x, 8000, clip="clip")
        js.save(tmp_path / "f.wav", x, 8000, subtype="FLOAT")  # float files keep > 1 as is
    np.testing.assert_allclose(js.load(tmp_path / "f.wav")[0], x)
    with pytest.raises(ValueError, match="save: 2 samples exceed"):
        js.save(tmp_path / "c3.wav", x, 8000, clip="raise")
    assert not (tmp_path / "c3.wav").exists()


def test_load_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(FileNotFoundError, match=f"load: no such file: '{missing}'"):
        js.load(missing)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    with pytest.raises(ValueError, match=f"load: could not read '{text}' as audio"):
        js.load(text)
    good = tmp_path / "good.wav"
    js.save(good, _tone(), 8000)
    data = good.read_bytes()
    for cut, name in [(len(data) - 1001, "trunc.wav"), (44, "header_only.wav")]:
        bad = tmp_path / name
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"load: '{bad}' is not a complete WAV file.*truncated"):
            js.load(bad)
    short = tmp_path / "tiny.wav"
    short.write_bytes(data[:30])
    with pytest.raises(ValueError, match=f"load: could not read '{short}' as audio"):
        js.load(short)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        js.load(tmp_path)


def test_save_errors(tmp_path):
    x = _tone()
    with pytest.raises(TypeError, match=r"save: x must be a floating-point array, got dtype int16 \(convert"):
        js.save(tmp_path / "a.wav", (x * 32767).astype(np.int16), 8000)
    with pytest.raises(ValueError, match="save: x has NaN or inf samples"):
        js.save(tmp_path / "a.wav", np.array([0.0, np.nan], np.float32), 8000)
    with pytest.raises(ValueError, match="save: cannot tell the audio format from the extension of"):
        js.save(tmp_path / "a.xyz", x, 8000)
    with pytest.raises(ValueError, match="save: subtype 'PCM_99' is not valid for WAV files"):
        js.save(tmp_path / "a.wav", x, 8000, subtype="PCM_99")
    with pytest.raises(ValueError, match=r"save: x of shape \(4000, 2\) has 4000 channels"):
        js.save(tmp_path / "a.wav", np.stack([x, x], axis=1), 8000)
    with pytest.raises(FileNotFoundError, match="save: the directory of"):
        js.save(tmp_path / "no" / "a.wav", x, 8000)
    assert sorted(os.listdir(tmp_path)) == []


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    js.save(target, _tone(), 8000)
    before = target.read_bytes()

    def broken_write(fh, data, sr, **kw):  # writes half a file, then fails (disk full, killed, ...)
        fh.write(b"RIFF" + b"\0" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(sf, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        js.save(target, _tone(amp=0.1), 8000)
    with pytest.raises(OSError, match="disk full"):
        js.save(tmp_path / "new.wav", _tone(), 8000)
    assert target.read_bytes() == before             # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]  # no new file, no temporary left over
    monkeypatch.undo()
    js.save(target, _tone(amp=0.1), 8000)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask  # the usual mode, not mkstemp's 0600


# -- spectrograms ---------------------------------------------------------------------------------

def test_spectrogram_round_trip_inverts_to_the_waveform(tmp_path):
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 3001)).astype(np.float32)
    kw = dict(n_fft=400, hop_length=100, win_length=320, window="hamming", center=True)
    S = jax.jit(functools.partial(js.stft, **kw))(x)
    p = tmp_path / "s.npz"
    js.save_spectrogram(p, S, sr=16000, length=3001, speaker="p225", snr_db=[0.0, 5.0], clean_rms=np.array([0.1, 0.2]), **kw)
    spec = js.load_spectrogram(p)
    assert spec.S.dtype == np.complex64 and spec.S.shape == S.shape
    np.testing.assert_array_equal(spec.S, np.asarray(S))
    assert spec.sr == 16000 and spec.length == 3001
    assert spec.stft == dict(kw, normalized=False)
    assert spec.meta["speaker"] == "p225" and spec.meta["snr_db"] == [0.0, 5.0]
    np.testing.assert_array_equal(spec.meta["clean_rms"], [0.1, 0.2])
    y = jax.jit(functools.partial(js.istft, **spec.stft, length=spec.length))(spec.S)
    np.testing.assert_allclose(np.asarray(y), x, atol=1e-5)
    # defaults are resolved and stored; parametric and array windows survive
    js.save_spectrogram(p, np.zeros((129, 5), np.complex64), window=("kaiser", 8.0))
    s2 = js.load_spectrogram(p)
    assert s2.stft == dict(n_fft=256, hop_length=64, win_length=256, window=("kaiser", 8.0), center=True,
                           normalized=False) and s2.sr is None
    w = js.get_window("hann", win_length=256) ** 0.5
    js.save_spectrogram(p, np.zeros((129, 5), np.complex64), window=w, length=3001)
    s3 = js.load_spectrogram(p)
    np.testing.assert_array_equal(s3.stft["window"], w)
    assert s3.stft["window"].dtype == np.float64 and s3.length == 3001


def test_spectrogram_errors(tmp_path):
    S = np.ones((33, 4), np.complex64)
    with pytest.raises(ValueError, match=r"save_spectrogram: n_fft=100 does not match S.shape\[-2\]=33"):
        js.save_spectrogram(tmp_path / "a.npz", S, n_fft=100)
    with pytest.raises(TypeError, match="save_spectrogram: window must be a name"):
        js.save_spectrogram(tmp_path / "a.npz", S, window=lambda n: np.ones(n))
    with pytest.raises(TypeError, match="save_spectrogram: metadata 'bad' must be"):
        js.save_spectrogram(tmp_path / "a.npz", S, bad={"a": 1})
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="load_spectrogram: no such file"):
        js.load_spectrogram(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match=f"load_spectrogram: could not read '{tmp_path / 'junk.npz'}'"):
        js.load_spectrogram(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="is not a spectrogram written by jaxspec.save_spectrogram"):
        js.load_spectrogram(tmp_path / "other.npz")
    np.savez(tmp_path / "obj.npz", S=S, header=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="load_spectrogram: could not read .* as an .npz spectrogram"):
        js.load_spectrogram(tmp_path / "obj.npz")  # pickled content is refused, never unpickled


# -- failed writes, odd files and argument checks ---------------------------------------------------

def test_save_verifies_what_it_wrote(tmp_path, monkeypatch):
    """A write that fails silently (soundfile's only check is an ``assert``, skipped under
    ``python -O``) is caught by reading the file back: OSError naming the path, old file intact."""
    target = tmp_path / "out.wav"
    js.save(target, _tone(), 8000)
    before = target.read_bytes()
    real_write = sf.write

    def short_write(fh, data, sr, **kw):  # a valid header for fewer frames, no error
        real_write(fh, data[: len(data) // 2], sr, **kw)

    def truncated_write(fh, data, sr, **kw):  # the header promises every frame, the data stops early
        real_write(fh, data, sr, **kw)
        fh.truncate(fh.tell() - 1000)  # libsndfile then counts the frames present

    for broken, why in [(short_write, r"read back 2000 frames x 1 channels at 8000 Hz, wrote 4000"),
                        (truncated_write, r"read back 3500 frames x 1 channels at 8000 Hz, wrote 4000")]:
        monkeypatch.setattr(sf, "write", broken)
        with pytest.raises(OSError, match=rf"save: the file written for '{target}' is incomplete \({why}"):
            js.save(target, _tone(amp=0.1), 8000)
        monkeypatch.undo()
        assert target.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == ["out.wav"]

    def failing_assert(fh, data, sr, **kw):  # soundfile's own check, without -O
        fh.write(b"RIFF")
        raise AssertionError

    monkeypatch.setattr(sf, "write", failing_assert)
    with pytest.raises(OSError, match=rf"save: could not write '{target}' \(AssertionError"):
        js.save(target, _tone(amp=0.1), 8000)
    assert target.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["out.wav"]


_FULL_DISK = r"""
import os, resource, signal, sys
import numpy as np
import jaxspec as js
assert not __debug__  # running under python -O: soundfile's assert is gone
path = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))  # a "disk" that holds 20 kB per file
try:
    js.save(path, np.zeros(40000, np.float32) + 0.25, 8000)
except OSError as e:
    print("OSError:", e)
"""


def test_full_disk_under_python_O_keeps_the_old_file(tmp_path):
    """A real short write (RLIMIT_FSIZE) in a ``python -O`` subprocess."""
    import subprocess
    import sys

    target = tmp_path / "good.wav"
    js.save(target, _tone(), 8000)
    before = target.read_bytes()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-O", "-c", _FULL_DISK, str(target)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"OSError: save: " in out.stdout and repr(str(target)) in out.stdout, out.stdout
    assert target.read_bytes() == before
    assert js.load(target)[0].shape == (4000,)
    assert sorted(os.listdir(tmp_path)) == ["good.wav"]


def test_long_file_names_work(tmp_path):
    name = "a" * 246 + ".wav"  # 250 characters: valid on every common file system (limit 255)
    js.save(tmp_path / name, _tone(), 8000)
    assert js.load(tmp_path / name)[0].shape == (4000,)
    js.save_spectrogram(tmp_path / ("s" * 246 + ".npz"), np.zeros((33, 3), np.complex64))
    assert sorted(os.listdir(tmp_path)) == sorted([name, "s" * 246 + ".npz"])


def test_non_regular_files_are_refused_without_opening(tmp_path):
    import signal

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    old = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("load blocked on a FIFO")))
    signal.alarm(20)
    try:
        with pytest.raises(OSError, match=rf"load: '{fifo}' is not a regular file \(a FIFO\)"):
            js.load(fifo)
        with pytest.raises(OSError, match=r"load_spectrogram: .* is not a regular file \(a FIFO\)"):
            js.load_spectrogram(fifo)
        with pytest.raises(OSError, match=rf"save: '{fifo}' exists and is a FIFO; refusing to replace it"):
            js.save(fifo, _tone(), 8000)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    (tmp_path / "d.wav").mkdir()
    with pytest.raises(IsADirectoryError, match="save: .* is a directory"):
        js.save(tmp_path / "d.wav", _tone(), 8000)
    assert sorted(os.listdir(tmp_path)) == ["d.wav", "pipe.wav"]


@pytest.mark.parametrize("kw,err,msg", [
    (dict(offset=float("nan")), ValueError, r"load: offset must be a finite number of seconds >= 0, got nan"),
    (dict(offset="1"), TypeError, r"load: offset must be a number of seconds, got '1' of type str"),
    (dict(offset=-0.5), ValueError, r"load: offset must be a finite number of seconds >= 0, got -0.5"),
    (dict(offset=True), TypeError, r"load: offset must be a number of seconds"),
    (dict(duration=float("inf")), ValueError, r"load: duration must be a finite number .* \(use None to read to the end\)"),
    (dict(duration="2"), TypeError, r"load: duration must be a number of seconds or None"),
    (dict(sr=float("inf")), ValueError, r"load: sr must be a finite sample rate > 0 Hz, got inf"),
    (dict(sr="16000"), TypeError, r"load: sr must be a sample rate in Hz"),
    (dict(sr=0), ValueError, r"load: sr must be a finite sample rate > 0 Hz, got 0"),
    (dict(sr=1e10), ValueError, r"load: .* resampled from 8000 Hz to sr=1e\+10 Hz \(4000 samples\) would have 5e\+09 "
                                r"elements per example, more than the limit of 2\*\*28 .* load it in parts"),
    (dict(mono="no"), TypeError, r"load: mono must be True or False, got 'no'"),
    (dict(dtype="int16"), ValueError, r"load: dtype must be 'float32' or 'float64'"),
])
def test_load_argument_errors(tmp_path, kw, err, msg):
    p = tmp_path / "a.wav"
    js.save(p, _tone(), 8000)
    with pytest.raises(err, match=msg):
        js.load(p, **kw)


def test_load_offsets_at_and_past_the_end(tmp_path):
    p = tmp_path / "a.wav"
    js.save(p, _tone(), 8000)
    assert js.load(p, offset=10.0)[0].shape == (0,)  # past the end: empty, as librosa
    assert js.load(p, offset=np.float32(0.25), duration=np.int64(1))[0].shape == (2000,)
    assert js.load(p, sr=np.float64(16000.0))[1] == 16000


def test_save_channel_layout(tmp_path):
    """``(channels, samples)``; a 2-D array with more channels than samples is refused as ambiguous."""
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (40, 2)).astype(np.float32)
    with pytest.raises(ValueError, match=r"save: x of shape \(40, 2\) would be 40 channels of 2 samples; the layout is "
                                         r"\(channels, samples\) .* pass x.T"):
        js.save(tmp_path / "a.wav", x, 8000)
    js.save(tmp_path / "a.wav", x.T, 8000, subtype="FLOAT")
    info = sf.info(str(tmp_path / "a.wav"))
    assert (info.channels, info.frames) == (2, 40)
    np.testing.assert_array_equal(js.load(tmp_path / "a.wav", mono=False)[0], x.T)
    with pytest.raises(ValueError, match=r"save: sr=4294967296 is beyond what audio files store"):
        js.save(tmp_path / "b.wav", x.T, 2 ** 32)


def test_save_spectrogram_validates_its_header(tmp_path):
    S = np.ones((33, 4), np.complex64)
    p = tmp_path / "a.npz"
    for kw, err, msg in [
        (dict(hop_length=0), ValueError, "save_spectrogram: hop_length must be a positive int, got 0"),
        (dict(hop_length=8.0), TypeError, "save_spectrogram: hop_length must be an int"),
        (dict(win_length=128), ValueError, r"save_spectrogram: win_length must be <= n_fft \(64\), got 128"),
        (dict(sr="abc"), TypeError, "save_spectrogram: sr must be a sample rate in Hz"),
        (dict(sr=float("nan")), ValueError, "save_spectrogram: sr must be a finite sample rate > 0 Hz"),
        (dict(center="no"), TypeError, "save_spectrogram: center must be True or False, got 'no'"),
        (dict(normalized=1), TypeError, "save_spectrogram: normalized must be True, False"),
        (dict(length=-1), ValueError, "save_spectrogram: length must be an int >= 0, got -1"),
        (dict(window="nope"), ValueError, "save_spectrogram: unknown window 'nope'"),
        (dict(window=np.ones(10)), ValueError, r"save_spectrogram: window array must have shape \(64,\)"),
        (dict(n_fft=True), ValueError, r"save_spectrogram: n_fft=True does not match"),
    ]:
        with pytest.raises(err, match=msg):
            js.save_spectrogram(p, S, **kw)
    assert os.listdir(tmp_path) == []


def _npz(path, S, header):
    import json

    np.savez(path, S=S, header=np.asarray(json.dumps(header)))


def test_load_spectrogram_validates_shape_dtype_and_header(tmp_path):
    S = np.ones((33, 4), np.complex64)
    good = {"format": "jaxspec.spectrogram", "version": 1, "sr": 16000, "length": None, "meta": {},
            "stft": {"n_fft": 64, "hop_length": 16, "win_length": 64, "window": "hann", "center": True,
                     "normalized": False}}
    p = tmp_path / "s.npz"
    _npz(p, S, good)
    assert js.load_spectrogram(p).stft["hop_length"] == 16
    no_stft = {k: v for k, v in good.items() if k != "stft"}
    cases = [
        (S, no_stft, r"the header of '{p}' lacks the STFT parameters"),
        (S, dict(good, stft=dict(good["stft"], hop_length=0)), r"'{p}' has an invalid header: load_spectrogram: hop_length must be a positive int, got 0"),
        (S, dict(good, stft=dict(good["stft"], win_length=128)), r"'{p}' has an invalid header: .*win_length must be <= n_fft"),
        (S, dict(good, stft=dict(good["stft"], n_fft=100)), r"'{p}' has an invalid header: .*n_fft=100 does not match"),
        (S, dict(good, sr="abc"), r"'{p}' has an invalid header: .*sr must be a sample rate"),
        (S, dict(good, stft=dict(good["stft"], center="no")), r"'{p}' has an invalid header: .*center must be True or False"),
        (S, dict(good, length=-3), r"'{p}' has an invalid header: .*length must be an int >= 0"),
        (S, dict(good, stft=dict(good["stft"], window=None)), r"the header of '{p}' names no window"),
        (np.ones((33, 4), np.int32), good, r"'{p}' holds S of dtype int32"),
        (np.ones(33, np.complex64), good, r"'{p}' holds S of dtype complex64 and shape \(33,\)"),
    ]
    for S_, header, msg in cases:
        _npz(p, S_, header)
        with pytest.raises(ValueError, match="load_spectrogram: .*" + msg.format(p=p)):
            js.load_spectrogram(p)


def test_headerless_raw_files_are_checked_by_size(tmp_path, monkeypatch):
    x = np.stack([_tone(), _tone(amp=0.2)])
    js.save(tmp_path / "a.raw", x, 8000, subtype="PCM_16")
    assert os.path.getsize(tmp_path / "a.raw") == 2 * 4000 * 2
    real_write = sf.write
    monkeypatch.setattr(sf, "write", lambda fh, data, sr, **kw: real_write(fh, data[:100], sr, **kw))
    with pytest.raises(OSError, match=r"save: the file written for .*a.raw' is incomplete \(400 bytes, expected 16000\)"):
        js.save(tmp_path / "a.raw", x, 8000, subtype="PCM_16")
    assert os.path.getsize(tmp_path / "a.raw") == 16000
