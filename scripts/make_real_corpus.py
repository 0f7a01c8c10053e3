#!/usr/bin/env python3
"""Build the real-speech corpus shipped in jaxspec/enhance/data/real/ from recordings of human
speakers in Debian's package archive.

    scripts/make_real_corpus.py [--out DIR] [--debs DIR] [--full] [--python PY] [--jobs N]

  --out     where to write (default: jaxspec/enhance/data/real next to this script); the directory
            is built in a temporary sibling and swapped in at the end.
  --debs    a directory holding the .deb files (default: a temporary directory, filled with
            `apt-get download`, which needs only the package registry).
  --full    keep every usable recording (about 3 hours, about 190 MB) instead of the shipped
            subset (each speaker capped, see CAPS below; about 40 MB).
  --python  re-run this script under PY (default: the running interpreter; if it lacks numpy, scipy
            or soundfile and the repository has .venv/bin/python, that one is used).
  --jobs    decoding processes (default 2).

Needs apt-get and dpkg-deb (to fetch and unpack the packages; nothing is installed), ffmpeg
(`apt-get install ffmpeg`: it decodes the G.722 files, the only wideband version of the Asterisk
prompts) and a Python with numpy, scipy and soundfile (libsndfile also decodes the raw GSM 6.10
prompts). Takes about two minutes on a 2-core machine. The output is deterministic for given
package versions (recorded in manifest.json): every choice comes from a fixed seed.

Sources (every recording is a human speaker; the licence of each package is copied into
licences/ and named per file in the manifest)
-------------------------------------------------------------------------------------------
* asterisk-core-sounds-{en,es,fr,it,ru}-g722 1.6.1: telephone prompts recorded by professional
  voice talents, in the G.722 (16 kHz, 50-7000 Hz) encoding. Speakers from the package's
  copyright file / directory names: Allison Smith (en_US *and* es_MX: one speaker in two
  languages, kept together), June Wallack (fr_CA), Carlo Flora (it_IT, male), the voice of
  ivrvoice.ru (ru_RU, female; "provided by Maxim Topal"). CC-BY-SA-3.0 (ru: CC-BY-3.0).
* asterisk-prompt-es-co 0.20070403: Colombian Spanish prompts, voice of July E. Jimenez (the
  package's LEEME), GSM 6.10 at 8 kHz. GPL-2.
* asterisk-prompt-fr-armelle 20070613: French prompts, voice actor Armelle Desjardins, GSM 6.10
  at 8 kHz. GPL-2+.
* asterisk-prompt-it-menardi-wav 1.4.22+mm20110907: Italian prompts (directory it_IT_f_Menardi;
  credits: Marco Menardi and Paola Dal Zot, "the voice"), 8 kHz WAV. CC-BY-SA-3.0.
* ktuberling-data 22.12.3: KTuberling's spoken object names (single words, 0.3-3 s), one
  directory per language. The package does not name its speakers; each language directory is
  taken as one speaker (best estimate: the words of a language were recorded for that
  translation, by its translator or a volunteer). The four Serbian directories hold identical
  files and count once; identical files inside a language are kept once. 8-48 kHz. GPL-2+.
* pocketsphinx-testdata 0.8+5prealpha: five LibriVox excerpts of "Sense and Sensibility"
  (one reader; LibriVox recordings are in the public domain) and CMU's test utterances
  (cards, goforward, numbers, something; speaker(s) not named, kept together as one group;
  the TIDIGITS file is left out: that corpus is LDC-licensed). 16 kHz. BSD-2.
* Noise (real music, for evaluation only): asterisk-moh-opsound-g722 2.03, five
  music-on-hold tracks by Macroform, Manolo Camp and Reno Project, CC-BY-SA-3.0.

Searched and not used: gcompris-qt-data 3.1 (its voices are downloaded by the application at
run time; the package has none), artikulate 22.12.3 (recordings come through KNewStuff; none in
the package), khangman, kanagram and tuxtype-data (sound effects and music only),
codec2-examples 1.0.5 (mostly codec outputs and HF-radio captures; speakers not named),
gcin-voice (Mandarin syllables, speaker not named).

Splits (manifest field "split"; one speaker is in exactly one split)
--------------------------------------------------------------------
* train: Allison (en, es), June (fr-CA), July Jimenez (es-CO), Armelle Desjardins (fr),
  KTuberling ca da es fi fr it nds nl nn pt ru uk, the CMU pocketsphinx group.
* unseen (evaluation only): Carlo Flora (it, male), KTuberling el en gl lt, the LibriVox reader
  (en).
* babble (only for babble noise, never a target): the ivrvoice.ru voice (ru), the Menardi voice
  (it), KTuberling de ga ro sl sr sv wa.

Processing per file: decode, down-mix to mono, resample to 16 kHz (scipy.signal.resample_poly),
trim leading/trailing silence to 50 ms (10 ms frames, -40 dB below the loudest frame), keep
0.25-20 s, drop exact duplicates (same decoded samples), drop non-speech prompts (tones, beeps,
silence files, the monkeys), peak-normalise to -1 dBFS, store as 16-bit FLAC in
{split}/{speaker}/{name}.flac. "bandwidth_hz" records the band the recording has (4000 for
8 kHz sources, 7000 for G.722, else half the source rate, at most 8000): a trainer can give the
noise the same band, so that a telephone-band target is never asked to keep a wideband noise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(REPO, "jaxspec", "enhance", "data", "real")
SR = 16000
SEED = 20261206
MIN_SECONDS, MAX_SECONDS = 0.25, 20.0
PEAK_DBFS = -1.0
MUSIC_SECONDS = 20.0  # shipped excerpt of each music track (--full: whole tracks)

LICENCES = {
    "CC-BY-SA-3.0": "Creative Commons Attribution-ShareAlike 3.0",
    "CC-BY-3.0": "Creative Commons Attribution 3.0",
    "GPL-2": "GNU General Public License version 2",
    "GPL-2+": "GNU General Public License version 2 or later",
    "BSD-2": "BSD 2-clause (Carnegie Mellon University)",
    "public-domain": "public domain (LibriVox)",
}

AST = "usr/share/asterisk/sounds"
# (package, glob under the unpacked package, decoder, language, speaker, speaker note, sex, licence)
SOURCES = [
    ("asterisk-core-sounds-en-g722", f"{AST}/en_US_f_Allison/**/*.g722", "g722", "en", "allison",
     "Allison Smith (package copyright file)", "f", "CC-BY-SA-3.0"),
    ("asterisk-core-sounds-es-g722", f"{AST}/es_MX_f_Allison/**/*.g722", "g722", "es", "allison",
     "Allison Smith (package copyright file; the same voice as the English prompts)", "f", "CC-BY-SA-3.0"),
    ("asterisk-core-sounds-fr-g722", f"{AST}/fr_CA_f_June/**/*.g722", "g722", "fr", "june",
     "June Wallack (package copyright file)", "f", "CC-BY-SA-3.0"),
    ("asterisk-core-sounds-it-g722", f"{AST}/it_IT_m_Carlo/**/*.g722", "g722", "it", "carlo",
     "Carlo Flora (package copyright file)", "m", "CC-BY-SA-3.0"),
    ("asterisk-core-sounds-ru-g722", f"{AST}/ru_RU_f_IvrvoiceRU/**/*.g722", "g722", "ru", "ivrvoice-ru",
     "the ivrvoice.ru voice, provided by Maxim Topal (package copyright file; directory ru_RU_f_IvrvoiceRU)",
     "f", "CC-BY-3.0"),
    ("asterisk-prompt-es-co", f"{AST}/es/**/*.gsm", "gsm", "es", "july-jimenez",
     "July E. Jimenez (package LEEME)", "f", "GPL-2"),
    ("asterisk-prompt-fr-armelle", f"{AST}/fr/**/*.gsm", "gsm", "fr", "armelle-desjardins",
     "Armelle Desjardins (package copyright file)", "f", "GPL-2+"),
    ("asterisk-prompt-it-menardi-wav", f"{AST}/it_IT_f_Menardi/**/*.wav", "sndfile", "it", "menardi",
     "Paola Dal Zot per the credits ('the voice'; directory it_IT_f_Menardi)", "f", "CC-BY-SA-3.0"),
    ("pocketsphinx-testdata", "usr/share/pocketsphinx/test/data/librivox/*.wav", "sndfile", "en",
     "librivox-reader", "the LibriVox reader of Sense and Sensibility ch. 1 (one reader)", None, "public-domain"),
    ("pocketsphinx-testdata", "usr/share/pocketsphinx/test/data/cards/*.wav", "sndfile", "en", "cmu-test",
     "CMU test utterances (speakers not named; one group)", None, "BSD-2"),
    ("pocketsphinx-testdata", "usr/share/pocketsphinx/test/data/*.raw", "raw16k", "en", "cmu-test",
     "CMU test utterances (speakers not named; one group)", None, "BSD-2"),
]
KTUBERLING = ("ktuberling-data", "usr/share/ktuberling/sounds")
KTUBERLING_SAME = {"sr@latin": "sr", "sr@ijekavian": "sr", "sr@ijekavianlatin": "sr"}
MUSIC = ("asterisk-moh-opsound-g722", "usr/share/asterisk/moh/*.g722", "CC-BY-SA-3.0")
PACKAGES = sorted({s[0] for s in SOURCES} | {KTUBERLING[0], MUSIC[0]})

SPLITS = {
    "train": ["allison", "june", "july-jimenez", "armelle-desjardins", "cmu-test"]
             + [f"ktuberling-{k}" for k in ("ca", "da", "es", "fi", "fr", "it", "nds", "nl", "nn", "pt", "ru", "uk")],
    "unseen": ["carlo", "librivox-reader"] + [f"ktuberling-{k}" for k in ("el", "en", "gl", "lt")],
    "babble": ["ivrvoice-ru", "menardi"] + [f"ktuberling-{k}" for k in ("de", "ga", "ro", "sl", "sr", "sv", "wa")],
}
# seconds kept per speaker in the shipped subset (a seeded random choice of whole recordings)
CAPS = {"allison": 300, "june": 210, "july-jimenez": 150, "armelle-desjardins": 150, "carlo": 180,
        "ivrvoice-ru": 100, "menardi": 100}
CAP_KTUBERLING = {"train": 45, "unseen": 45, "babble": 30}
NOT_SPEECH = re.compile(r"(^|/)(silence/.*|beep|beeperr|(ascending|descending)-2tone|tt-monkeys.*)$")


def speaker_split(speaker: str) -> str:
    for split, speakers in SPLITS.items():
        if speaker in speakers:
            return split
    raise KeyError(f"speaker {speaker!r} has no split")


# ------------------------------------------------------------------------------------------- audio

def decode(path: str, decoder: str):
    """(samples float64 mono, source rate)."""
    import numpy as np
    import soundfile as sf

    if decoder == "g722":
        r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "g722", "-i", path,
                            "-f", "s16le", "-acodec", "pcm_s16le", "-"], capture_output=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"ffmpeg failed on {path}: {r.stderr.decode('utf-8', 'replace')[-200:]}")
        return np.frombuffer(r.stdout, "<i2").astype(np.float64) / 32768.0, 16000
    if decoder == "gsm":
        x, sr = sf.read(path, format="RAW", subtype="GSM610", samplerate=8000, channels=1, dtype="float64")
        return x, sr
    if decoder == "raw16k":
        x, sr = sf.read(path, format="RAW", subtype="PCM_16", samplerate=16000, channels=1, endian="LITTLE",
                        dtype="float64")
        return x, sr
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    return x.mean(axis=1), sr


def bandwidth(decoder: str, sr: int) -> int:
    if decoder == "g722":
        return 7000
    return int(min(sr // 2, SR // 2))


def process(x, sr: int):
    """Resample to 16 kHz, trim silence to 50 ms, peak-normalise; None if silent."""
    import numpy as np
    from scipy.signal import resample_poly

    if len(x) == 0:
        return None
    if sr != SR:
        g = math.gcd(int(sr), SR)
        x = resample_poly(x, SR // g, int(sr) // g)
    x = x - x.mean()
    hop = SR // 100
    n = len(x) // hop
    if n < 3:
        return None
    e = 10 * np.log10(np.mean(x[:n * hop].reshape(n, hop) ** 2, axis=1) + 1e-20)
    if e.max() < -90:
        return None
    on = np.flatnonzero(e > e.max() - 40.0)
    pad = SR // 20
    lo = max(on[0] * hop - pad, 0)
    hi = min((on[-1] + 1) * hop + pad, len(x))
    y = x[lo:hi]
    return y / np.abs(y).max() * 10 ** (PEAK_DBFS / 20)


def render(job):
    """Decode and process one file: a manifest entry without its split/file, plus the samples."""
    import numpy as np

    path, decoder = job
    try:
        x, sr = decode(path, decoder)
    except Exception as e:  # noqa: BLE001 -- reported per file, the corpus goes on
        return {"error": f"{path}: {e}"}
    if not np.all(np.isfinite(x)):
        return {"error": f"{path}: non-finite samples"}
    y = process(x, sr)
    if y is None:
        return {"error": f"{path}: silent"}
    q = np.round(y * 32767).astype(np.int16)
    return {"samples": q, "source_rate": int(sr), "bandwidth_hz": bandwidth(decoder, sr),
            "hash": hashlib.sha1(q.tobytes()).hexdigest()}


# ------------------------------------------------------------------------------------------- packages

def fetch(debs: str) -> dict:
    """apt-get download every package missing from ``debs``; unpack each; {package: (dir, version)}."""
    os.makedirs(debs, exist_ok=True)
    have = {os.path.basename(p).split("_")[0] for p in glob.glob(os.path.join(debs, "*.deb"))}
    missing = [p for p in PACKAGES if p not in have]
    if missing:
        r = subprocess.run(["apt-get", "download", *missing], cwd=debs, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"make_real_corpus.py: apt-get download failed:\n{r.stderr[-2000:]}")
    out = {}
    for p in PACKAGES:
        debs_p = sorted(glob.glob(os.path.join(debs, f"{p}_*.deb")))
        if not debs_p:
            sys.exit(f"make_real_corpus.py: {p}: no .deb in {debs}")
        deb = debs_p[-1]
        version = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        root = os.path.join(debs, "x", p)
        if not os.path.isdir(root):
            os.makedirs(root + ".tmp", exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", deb, root + ".tmp"], check=True)
            os.rename(root + ".tmp", root)
        out[p] = (root, version)
    return out


def collect(pkgs: dict) -> list[dict]:
    """Every candidate recording, with its speaker, in a fixed order."""
    items = []
    for package, pattern, decoder, language, speaker, note, sex, licence in SOURCES:
        root = pkgs[package][0]
        for path in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
            rel = os.path.relpath(path, root)
            if os.path.islink(path) or "tidigits" in rel:
                continue
            stem = os.path.splitext(rel.split("/sounds/", 1)[-1].split("/", 1)[-1])[0]
            if NOT_SPEECH.search(stem):
                continue
            items.append(dict(path=path, source=rel, decoder=decoder, package=package, language=language,
                              speaker=speaker, speaker_note=note, sex=sex, license=licence))
    root = pkgs[KTUBERLING[0]][0]
    base = os.path.join(root, KTUBERLING[1])
    for lang in sorted(os.listdir(base)):
        d = os.path.join(base, lang)
        if not os.path.isdir(d) or lang in KTUBERLING_SAME:
            continue
        for path in sorted(glob.glob(os.path.join(d, "*"))):
            items.append(dict(path=path, source=os.path.relpath(path, root), decoder="sndfile", package=KTUBERLING[0],
                              language=lang, speaker=f"ktuberling-{lang}",
                              speaker_note=f"KTuberling's {lang} words (speaker not named; one per language assumed)",
                              sex=None, license="GPL-2+"))
    return items


# ------------------------------------------------------------------------------------------- main

def reexec(python: str | None):
    """Run under ``python`` (or the repository's .venv when this interpreter lacks the libraries)."""
    if python is None:
        import importlib.util

        if all(importlib.util.find_spec(m) for m in ("numpy", "scipy", "soundfile")):
            return
        python = os.path.join(REPO, ".venv", "bin", "python")
        if not os.path.exists(python):
            sys.exit("make_real_corpus.py: needs numpy, scipy and soundfile (or --python PY)")
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return
    args = list(sys.argv[1:])
    if "--python" in args:
        i = args.index("--python")
        del args[i:i + 2]
    args = [a for a in args if not a.startswith("--python=")]
    os.execv(python, [python, os.path.abspath(__file__), *args])


def name_of(item: dict) -> str:
    stem = os.path.splitext(item["source"])[0]
    stem = stem.split("/sounds/", 1)[-1] if "/sounds/" in stem else stem
    parts = [p for p in stem.split("/") if p not in ("usr", "share", "pocketsphinx", "test", "data")]
    if item["package"].startswith("asterisk"):
        parts = parts[1:] if len(parts) > 1 else parts  # drop the language directory
        parts = [item["language"], *parts]
    elif item["package"] == KTUBERLING[0]:
        parts = parts[-1:]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    ap.add_argument("--debs", default=None, help="directory of .deb files (default: a temporary one)")
    ap.add_argument("--full", action="store_true", help="keep every usable recording (no per-speaker cap)")
    ap.add_argument("--python", default=None, help="run under this Python (needs numpy, scipy, soundfile)")
    ap.add_argument("--jobs", type=int, default=2, help="decoding processes (default 2)")
    args = ap.parse_args(argv)
    reexec(args.python)
    import numpy as np
    import soundfile as sf

    for tool in ("apt-get", "dpkg-deb", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"make_real_corpus.py: {tool} not found (ffmpeg: apt-get install ffmpeg)")
    t0 = time.time()
    tmp_debs = None if args.debs else tempfile.mkdtemp(prefix="jaxspec-debs-")
    try:
        pkgs = fetch(args.debs or tmp_debs)
        items = collect(pkgs)
        print(f"{len(items)} candidate recordings from {len(pkgs)} packages", flush=True)
        with concurrent.futures.ProcessPoolExecutor(max(1, args.jobs)) as ex:
            results = list(ex.map(render, [(it["path"], it["decoder"]) for it in items], chunksize=16))
        # ---- keep: decodable, long enough, not a duplicate of a recording already kept
        seen, kept, dropped = set(), [], {"error": 0, "length": 0, "duplicate": 0}
        for it, r in zip(items, results):
            if "error" in r:
                dropped["error"] += 1
                print("left out:", r["error"], file=sys.stderr)
                continue
            seconds = len(r["samples"]) / SR
            if not MIN_SECONDS <= seconds <= MAX_SECONDS:
                dropped["length"] += 1
                continue
            if r["hash"] in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(r["hash"])
            kept.append((it, r))
        # ---- shipped subset: per speaker, a seeded random choice of whole recordings up to its cap
        rng = random.Random(SEED)
        by_speaker: dict[str, list] = {}
        for it, r in kept:
            by_speaker.setdefault(it["speaker"], []).append((it, r))
        chosen = []
        for speaker in sorted(by_speaker):
            group = by_speaker[speaker]
            rng.shuffle(group)
            split = speaker_split(speaker)
            cap = math.inf if args.full else CAPS.get(speaker, CAP_KTUBERLING[split]
                                                       if speaker.startswith("ktuberling-") else math.inf)
            total = 0.0
            for it, r in group:
                seconds = len(r["samples"]) / SR
                if total + seconds > cap and total > 0:
                    continue
                total += seconds
                chosen.append((split, it, r))
        out = os.path.abspath(args.out)
        if os.path.exists(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "manifest.json")):
            sys.exit(f"make_real_corpus.py: {out} is not empty and has no manifest.json; refusing to replace it")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp_out = tempfile.mkdtemp(prefix=".real-", dir=os.path.dirname(out))
        try:
            entries = []
            for split, it, r in sorted(chosen, key=lambda c: (c[0], c[1]["speaker"], c[1]["source"])):
                rel = f"{split}/{it['speaker']}/{name_of(it)}.flac"
                path = os.path.join(tmp_out, rel)
                if os.path.exists(path):
                    rel = rel[:-5] + f"-{r['hash'][:6]}.flac"
                    path = os.path.join(tmp_out, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                sf.write(path, r["samples"], SR, subtype="PCM_16", format="FLAC")
                entries.append({"file": rel, "split": split, "seconds": round(len(r["samples"]) / SR, 3),
                                "speaker": it["speaker"], "speaker_note": it["speaker_note"], "sex": it["sex"],
                                "language": it["language"], "package": it["package"],
                                "package_version": pkgs[it["package"]][1], "source": it["source"],
                                "source_rate": r["source_rate"], "bandwidth_hz": r["bandwidth_hz"],
                                "license": it["license"]})
            # ---- real music (evaluation noise): a fixed excerpt from the middle of each track
            music = []
            root = pkgs[MUSIC[0]][0]
            for path in sorted(glob.glob(os.path.join(root, MUSIC[1]))):
                x, sr = decode(path, "g722")
                n = len(x) if args.full else min(len(x), int(MUSIC_SECONDS * SR))
                start = (len(x) - n) // 2
                y = x[start:start + n]
                y = y / np.abs(y).max() * 10 ** (PEAK_DBFS / 20)
                rel = f"noise/music/{os.path.splitext(os.path.basename(path))[0]}.flac"
                os.makedirs(os.path.join(tmp_out, "noise", "music"), exist_ok=True)
                sf.write(os.path.join(tmp_out, rel), y.astype(np.float32), SR, subtype="PCM_16", format="FLAC")
                music.append({"file": rel, "family": "music", "seconds": round(n / SR, 3),
                              "start_seconds": round(start / SR, 3), "package": MUSIC[0],
                              "package_version": pkgs[MUSIC[0]][1],
                              "source": os.path.relpath(path, root), "license": MUSIC[2]})
            os.makedirs(os.path.join(tmp_out, "licences"))
            for p, (root, _) in pkgs.items():
                shutil.copy(os.path.join(root, "usr", "share", "doc", p, "copyright"),
                            os.path.join(tmp_out, "licences", f"{p}.copyright"))
            manifest = {
                "sample_rate": SR,
                "generator": "scripts/make_real_corpus.py" + (" --full" if args.full else ""),
                "packages": {p: v for p, (_, v) in sorted(pkgs.items())},
                "licenses": LICENCES,
                "splits": SPLITS,
                "dropped": dropped,
                "clips": entries,
                "noise": music,
            }
            with open(os.path.join(tmp_out, "manifest.json"), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1, ensure_ascii=False)
                f.write("\n")
            readme = os.path.join(out, "README.md")
            if os.path.exists(readme):
                shutil.copy(readme, os.path.join(tmp_out, "README.md"))
            if os.path.exists(out):
                shutil.rmtree(out)
            os.rename(tmp_out, out)
        except BaseException:
            shutil.rmtree(tmp_out, ignore_errors=True)
            raise
    finally:
        if tmp_debs:
            shutil.rmtree(tmp_debs, ignore_errors=True)

    for split in SPLITS:
        cs = [c for c in entries if c["split"] == split]
        print(f"{split:7s} {len(cs):5d} clips {sum(c['seconds'] for c in cs) / 60:6.1f} min, "
              f"{len({c['speaker'] for c in cs})} speakers, languages {' '.join(sorted({c['language'] for c in cs}))}")
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
    print(f"wrote {len(entries)} clips and {len(music)} music excerpts to {out}: {size / 1e6:.1f} MB in "
          f"{time.time() - t0:.0f} s (left out: {dropped})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
