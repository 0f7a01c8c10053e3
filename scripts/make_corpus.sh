#!/usr/bin/env bash
# Regenerate the small speech corpus shipped in jaxspec/enhance/data/speech/ (the demo and the tests use it).
#
#   scripts/make_corpus.sh [PYTHON]        # PYTHON defaults to .venv/bin/python
#
# Needs Debian's espeak-ng (`apt-get install espeak-ng`; GPL-3 program, its output is not covered by
# the GPL) and a Python with numpy, scipy and soundfile. Every sentence below was written for this
# corpus, so the audio is free of third-party rights; the generated files are released with jaxspec
# under Apache-2.0.
#
# Design:
#   * 48 short sentences (ids s00..s47), 8 espeak-ng voices (a base voice + a variant, with a fixed
#     speed and pitch each, so that the corpus has 8 distinct "speakers").
#   * Held out by sentence AND by voice: sentences s40..s47 and voices v6, v7 are never in training.
#     train   = s00..s39 x 2 of the 6 training voices each (rotating)  -> 80 clips
#     heldout = s40..s47 x both held-out voices                         -> 16 clips
#   * espeak-ng writes 22.05 kHz WAV; the clips are resampled to 16 kHz mono (polyphase, 320/441),
#     leading/trailing silence trimmed to 50 ms, peak-normalised to -3 dBFS and stored as 16-bit FLAC.
#   * manifest.json lists every clip with its split, sentence id, voice, speed, pitch and text.
#
# The output is deterministic for a given espeak-ng version (1.51 on Debian 12 made the shipped files).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-$HERE/.venv/bin/python}"
OUT="$HERE/jaxspec/enhance/data/speech"
command -v espeak-ng >/dev/null || { echo "make_corpus.sh: espeak-ng not found (apt-get install espeak-ng)" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

SENTENCES=(
  "The boat drifted slowly toward the northern shore."
  "Please hand me the blue cup on the shelf."
  "A cold wind swept across the empty square."
  "She counted seven lanterns along the garden path."
  "We will meet again when the bridge is repaired."
  "The baker sold every loaf before noon."
  "Turn left at the old mill and keep walking."
  "His letter arrived three days after the storm."
  "The children built a tower out of pebbles."
  "Bright sparks rose from the blacksmith's forge."
  "Nobody noticed the clock had stopped at midnight."
  "Fresh paint covered the fence by the station."
  "The recipe calls for two spoons of honey."
  "A small dog barked at the passing train."
  "They planted tomatoes in the sunny corner."
  "The museum closes early on public holidays."
  "Heavy rain flooded the road to the village."
  "Read the instructions before you open the box."
  "The violin player tuned each string with care."
  "Our neighbour grows pumpkins the size of wheels."
  "The pilot announced a short delay for fuel."
  "Soft snow muffled the sound of our footsteps."
  "Keep the receipt in case the kettle breaks."
  "The fisherman mended his net on the pier."
  "A yellow kite caught in the tall oak tree."
  "Five students solved the puzzle in ten minutes."
  "The library lends maps as well as books."
  "Warm bread smells best on a winter morning."
  "The engine coughed twice and then fell silent."
  "Leave your muddy boots outside the kitchen door."
  "The tide will turn in about an hour."
  "Her grandfather repaired radios for fifty years."
  "A narrow staircase leads up to the attic."
  "The market sells cheese, olives and dried figs."
  "Thunder rolled across the valley after dark."
  "Write your name at the top of each page."
  "The cat slept all afternoon in a cardboard box."
  "We followed the river until the path ended."
  "The orchestra rehearsed the final movement again."
  "A quiet voice called from the back of the hall."
  "The gardener trimmed the hedge into a neat square."
  "Bring a torch because the cellar has no light."
  "The train to the coast leaves at half past nine."
  "Green apples were piled high on the wooden cart."
  "He whistled a tune while sweeping the yard."
  "The lighthouse keeper logged every passing ship."
  "Our team won the match in the final minute."
  "The parcel was wrapped in brown paper and string."
)
# id voice speed(words/min) pitch(0-99)
VOICES=(
  "v0 en-us+f3 165 55"
  "v1 en-gb+m3 150 40"
  "v2 en-gb-scotland+f2 175 60"
  "v3 en-029+m5 140 35"
  "v4 en-us-nyc+f4 185 65"
  "v5 en-gb-x-rp+m7 160 45"
  "v6 en-gb-x-gbclan+f5 170 58"
  "v7 en-us+m2 155 38"
)
N_TRAIN_SENT=40
TRAIN_VOICES=6
PER_SENTENCE=2

rm -rf "$OUT"; mkdir -p "$OUT"
: > "$TMP/list.tsv"
for ((s = 0; s < ${#SENTENCES[@]}; s++)); do
  if ((s < N_TRAIN_SENT)); then
    split=train; picks=()
    for ((k = 0; k < PER_SENTENCE; k++)); do picks+=($(((s + k * 3) % TRAIN_VOICES))); done
  else
    split=heldout; picks=(6 7)
  fi
  for v in "${picks[@]}"; do
    read -r vid voice speed pitch <<< "${VOICES[$v]}"
    sid=$(printf "s%02d" "$s")
    name="${sid}_${vid}"
    espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$TMP/$name.wav" "${SENTENCES[$s]}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$split" "$sid" "$vid" "$voice" "$speed" "$pitch" "${SENTENCES[$s]}" >> "$TMP/list.tsv"
  done
done

"$PY" - "$TMP" "$OUT" <<'EOF'
import json, os, sys
import numpy as np, soundfile as sf
from scipy.signal import resample_poly

tmp, out = sys.argv[1:3]
SR = 16000
clips = []
for line in open(os.path.join(tmp, "list.tsv"), encoding="utf-8"):
    name, split, sid, vid, voice, speed, pitch, text = line.rstrip("\n").split("\t")
    x, sr = sf.read(os.path.join(tmp, name + ".wav"), dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    assert sr == 22050, sr
    y = resample_poly(x, 320, 441)
    env = np.abs(y) > 10 ** (-40 / 20) * np.abs(y).max()  # trim silence below -40 dB of the peak
    idx = np.flatnonzero(env)
    pad = SR // 20
    y = y[max(idx[0] - pad, 0): idx[-1] + pad]
    y = y / np.abs(y).max() * 10 ** (-3 / 20)
    sf.write(os.path.join(out, name + ".flac"), y.astype(np.float32), SR, subtype="PCM_16", compression_level=1.0)
    clips.append({"file": name + ".flac", "split": split, "sentence": sid, "voice": vid,
                  "espeak_voice": voice, "speed_wpm": int(speed), "pitch": int(pitch),
                  "seconds": round(len(y) / SR, 3), "text": text})
manifest = {
    "sample_rate": SR,
    "generator": "scripts/make_corpus.sh (espeak-ng)",
    "license": "Apache-2.0 (sentences written for jaxspec; audio synthesised with espeak-ng)",
    "split": "held out by sentence (s40-s47) and by voice (v6, v7)",
    "clips": clips,
}
with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=1)
n = {s: sum(c["split"] == s for c in clips) for s in ("train", "heldout")}
secs = {s: sum(c["seconds"] for c in clips if c["split"] == s) for s in ("train", "heldout")}
print(f"wrote {len(clips)} clips to {out}: " + ", ".join(f"{s} {n[s]} clips / {secs[s]:.0f} s" for s in n))
EOF
du -sh "$OUT"
