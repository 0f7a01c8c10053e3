#!/usr/bin/env python3
"""Regenerate the speech corpus shipped in jaxspec/enhance/data/speech/ (the demo, `jaxspec train`'s
default and the tests use it).

    scripts/make_corpus.py [--out DIR] [--python PY] [--jobs N]

  --out     where to write (default: jaxspec/enhance/data/speech next to this script); the directory
            is rebuilt in a temporary sibling and swapped in at the end.
  --python  re-run this script under PY (default: the running interpreter; if it lacks numpy, scipy
            or soundfile and the repository has .venv/bin/python, that one is used).
  --jobs    synthesis processes (default 2, at most 2: the synthesisers are single-threaded).

Takes about a minute with 2 processes (53 s on a 2-core machine). Needs a Python with numpy, scipy and soundfile, and
Debian's synthesisers and voices:

  apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-italp16k \\
      festvox-itapc16k festvox-czech-dita festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj \\
      festvox-suopuhe-mv festvox-ru festvox-hi-nsk festvox-mr-nsk festvox-te-nsk festvox-us-slt-hts \\
      festvox-ca-ona-hts

The shipped files were made on Debian 12 with espeak-ng 1.51, festival 2.5.0 and flite 2.2 (the
versions are recorded in manifest.json). The output is deterministic for given program and voice
versions: every choice comes from fixed seeds, and the synthesisers themselves are deterministic.

Design
------
Three splits (manifest.json, field "split"), so that the example's evaluation says something honest:

* train: espeak-ng (formant synthesis) and festival's concatenative voices.
    - espeak-ng, English: 8 accents (en-us, en-us-nyc, en-gb, en-gb-scotland, en-gb-x-rp,
      en-gb-x-gbclan, en-gb-x-gbcwmd, en-029) x 44 voice variants (+m1..+m7, +f1..+f5, the klatt
      variants and named ones such as +Alex, +belinda, +grandpa), drawn at random per clip;
      speed -s 120..200 words/min, pitch -p 25..75.
    - espeak-ng, 14 other languages with text written in them: de, fr, es, it, nl, pl, pt, sv, cs,
      ru, fi, hi, mr, te (random variant, speed and pitch as above).
    - festival diphone voices kal_diphone, ked_diphone (English), lp_diphone, pc_diphone (Italian),
      czech_dita, czech_machac, czech_ph (Czech), hy_fi_mv_diphone, suo_fi_lj_diphone (Finnish),
      hindi_NSK_diphone, marathi_NSK_diphone, telugu_NSK_diphone (Devanagari / Telugu script), and
      the unit-selection voice msu_ru_nsh_clunits (Russian); Duration_Stretch 0.8..1.3 (the
      clunits voice ignores it: rate 1.0).
    - English: 48 hand-written sentences plus 115 generated ones (below), each spoken by 1-3
      voices (1 with probability 0.85, 2: 0.12, 3: 0.03); 72% espeak-ng, 28% festival kal/ked.
      Other languages: 9 sentences each, one voice each (festival for half of them where the
      language has a festival voice).
* heldout (in-distribution): 34 English sentences and 1 sentence per other language that are never
  in training, each spoken once by a voice that does speak in training (same engine, same voice
  name, its own speed/pitch draw). 48 clips.
* mismatched: voices AND synthesis methods never in training: flite's clustergen voices awb, rms
  and slt (English) and festival's two HTS (statistical parametric) voices cmu_us_slt_arctic_hts
  (English) and upc_ca_ona_hts (Catalan text; Catalan is in no other split). 48 English sentences
  (12 per English voice) and 12 Catalan ones, none of them in train or heldout. 60 clips.
  flite's own speed: duration_stretch 0.85..1.2; HTS: hts_engine's speed "-r" 0.8..1.2.
  Left out on purpose: flite's kal/kal16 (the same diphone database as festival's kal_diphone,
  which trains, so they would leak) and awb_time (a limited-domain clock voice).

Voices checked: every installed festival voice synthesises its own language. hindi_NSK_diphone,
marathi_NSK_diphone and telugu_NSK_diphone segfault (exit 139) on English / Latin-script text, so
they only get text in Devanagari / Telugu script, which works; msu_ru_nsh_clunits and the two HTS
voices ignore Duration_Stretch (the HTS voices take hts_engine's "-r" instead). No voice had to
be dropped. flite kal, kal16 and awb_time are not used (see mismatched above). If a synthesiser
fails on a clip, the clip is left out and the failure printed (none did for the shipped files).

Result (the shipped files): train 314 clips / 15.5 min (289 distinct sentences, 215 voices),
heldout 48 clips / 2.6 min, mismatched 60 clips / 3.4 min; clips 1.6-5.8 s; 23.5 MB.

Text: every sentence was written for this corpus (no third-party text). The 48 hand-written
English sentences are those of the previous espeak-only corpus; the generated English sentences
come from the templates and word lists below with a fixed seed (4-16 words: statements,
questions, requests, names, digits, times and years); each other language has 10 sentences (12
for Catalan). Festival's voices read their own 8-bit encodings (Czech ISO-8859-2, Italian and
Finnish ISO-8859-1, Catalan ISO-8859-15); the script encodes each text file accordingly.

Processing per clip: synthesise to WAV, read with soundfile, down-mix to mono, resample to
16 kHz with scipy.signal.resample_poly, trim leading/trailing silence to 50 ms (10 ms frames,
energy threshold -40 dB below the loudest frame; padded with zeros where the synthesiser left
less), peak-normalise to a level drawn uniformly in -12..-1 dBFS (seeded per clip), store as
16-bit FLAC in {split}/{engine}_{voice}_{index}.flac. A clip must last 1.5-6 s: a clip outside
that range is synthesised again up to twice with the rate scaled towards the range (the manifest
records the rate actually used), and left out if it still does not fit.

manifest.json: top-level "sample_rate", "generator", "tools" (program versions), "license",
"split" (a description) and "clips"; each clip has "file" (relative to the manifest), "split",
"seconds", "text", "engine", "voice", "method" (formant / diphone / unit-selection / clustergen /
hts), "language", "rate" (speaking rate relative to the engine's default: espeak-ng words/min / 175,
festival and flite 1 / duration stretch, HTS the "-r" factor; > 1 is faster), "pitch" (espeak-ng
-p, else null), "level_dbfs", "sentence" (an id shared by all clips of one text) and "synth" (the
synthesiser options).

Licences
--------
The sentences, this script and the manifest are part of jaxspec (Apache-2.0). The audio is the
output of free synthesisers and voices: espeak-ng (GPL-3+), festival 2.5 (permissive, University
of Edinburgh / CMU), flite 2.2 (permissive, CMU), and the festival voices kal/ked diphone
(permissive, OGI / Edinburgh), lp/pc diphone (GPL-2+, ISTC-CNR), czech_dita and czech_machac
(GPL-3+, Brailcom), czech_ph (GPL-2+, Brailcom), suopuhe Finnish voices (LGPL-2+), msu_ru_nsh
(BSD-like, N. Shmyrev), the NSK Indic voices (GPL-2+), cmu_us_slt_arctic_hts (BSD-3-clause, CMU
ARCTIC) and upc_ca_ona_hts (LGPL-2.1+, UPC). A program's licence does not normally extend to
what it outputs; concatenative (diphone / unit-selection) voices do splice short pieces of their
recorded databases into the output, and all of those databases are under the free licences just
listed, which allow redistribution. The corpus is distributed with jaxspec on that basis; see
/usr/share/doc/<package>/copyright for the exact terms.
"""

from __future__ import annotations

import argparse
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
DEFAULT_OUT = os.path.join(REPO, "jaxspec", "enhance", "data", "speech")
SR = 16000
SEED = 20250611
MIN_SECONDS, MAX_SECONDS = 1.5, 6.0
MAX_JOBS = 2

# ------------------------------------------------------------------------------------------ voices

ESPEAK_EN_ACCENTS = ["en-us", "en-us-nyc", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                     "en-gb-x-gbcwmd", "en-029"]
ESPEAK_VARIANTS = [  # whisper, croak, robots and other effects left out
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Alex", "Andy", "Annie", "Lee", "Michael", "Mike", "adam",
    "anika", "aunty", "belinda", "benjamin", "caleb", "david", "ed", "edward", "grandma", "grandpa",
    "john", "linda", "max", "norbert", "paul", "quincy", "rob", "robert", "shelby", "steph", "zac",
]
ESPEAK_LANG = {"de": "de", "fr": "fr-fr", "es": "es", "it": "it", "nl": "nl", "pl": "pl", "pt": "pt",
               "sv": "sv", "cs": "cs", "ru": "ru", "fi": "fi", "hi": "hi", "mr": "mr", "te": "te"}
FESTIVAL_TRAIN = {  # language -> festival voices that train (all checked to work)
    "en": ["kal_diphone", "ked_diphone"],
    "it": ["lp_diphone", "pc_diphone"],
    "cs": ["czech_dita", "czech_machac", "czech_ph"],
    "fi": ["hy_fi_mv_diphone", "suo_fi_lj_diphone"],
    "ru": ["msu_ru_nsh_clunits"],
    "hi": ["hindi_NSK_diphone"],
    "mr": ["marathi_NSK_diphone"],
    "te": ["telugu_NSK_diphone"],
}
FESTIVAL_ENCODING = {"czech_dita": "iso-8859-2", "czech_machac": "iso-8859-2", "czech_ph": "iso-8859-2",
                     "lp_diphone": "iso-8859-1", "pc_diphone": "iso-8859-1",
                     "hy_fi_mv_diphone": "iso-8859-1", "suo_fi_lj_diphone": "iso-8859-1",
                     "upc_ca_ona_hts": "iso-8859-15"}
FESTIVAL_NO_RATE = {"msu_ru_nsh_clunits"}  # ignores Duration_Stretch
MISMATCHED_EN = [("flite", "awb"), ("flite", "rms"), ("flite", "slt"), ("festival-hts", "cmu_us_slt_arctic_hts")]
MISMATCHED_CA = ("festival-hts", "upc_ca_ona_hts")
PER_MISMATCHED_EN_VOICE = 12

N_EN_TRAIN_GENERATED = 115
N_EN_HELDOUT = 34
VOICES_PER_SENTENCE = ([1, 2, 3], [0.85, 0.12, 0.03])
P_FESTIVAL_EN = 0.28
P_FESTIVAL_OTHER = 0.5

RANGES = {  # rate parameter ranges: first synthesis, and the limits of a duration retry
    "espeak-ng": ((120, 200), (95, 250)),       # words per minute (-s)
    "festival": ((0.8, 1.3), (0.65, 1.6)),      # Duration_Stretch
    "flite": ((0.85, 1.2), (0.7, 1.5)),         # duration_stretch
    "festival-hts": ((0.8, 1.2), (0.65, 1.5)),  # hts_engine -r (speed factor)
}


def method_of(engine: str, voice: str) -> str:
    if engine == "espeak-ng":
        return "formant"
    if engine == "flite":
        return "clustergen"
    if engine == "festival-hts":
        return "hts"
    return "unit-selection" if voice.endswith("_clunits") else "diphone"


# ------------------------------------------------------------------------------------------- text

HANDWRITTEN_EN = [
    "The boat drifted slowly toward the northern shore.",
    "Please hand me the blue cup on the shelf.",
    "A cold wind swept across the empty square.",
    "She counted seven lanterns along the garden path.",
    "We will meet again when the bridge is repaired.",
    "The baker sold every loaf before noon.",
    "Turn left at the old mill and keep walking.",
    "His letter arrived three days after the storm.",
    "The children built a tower out of pebbles.",
    "Bright sparks rose from the blacksmith's forge.",
    "Nobody noticed the clock had stopped at midnight.",
    "Fresh paint covered the fence by the station.",
    "The recipe calls for two spoons of honey.",
    "A small dog barked at the passing train.",
    "They planted tomatoes in the sunny corner.",
    "The museum closes early on public holidays.",
    "Heavy rain flooded the road to the village.",
    "Read the instructions before you open the box.",
    "The violin player tuned each string with care.",
    "Our neighbour grows pumpkins the size of wheels.",
    "The pilot announced a short delay for fuel.",
    "Soft snow muffled the sound of our footsteps.",
    "Keep the receipt in case the kettle breaks.",
    "The fisherman mended his net on the pier.",
    "A yellow kite caught in the tall oak tree.",
    "Five students solved the puzzle in ten minutes.",
    "The library lends maps as well as books.",
    "Warm bread smells best on a winter morning.",
    "The engine coughed twice and then fell silent.",
    "Leave your muddy boots outside the kitchen door.",
    "The tide will turn in about an hour.",
    "Her grandfather repaired radios for fifty years.",
    "A narrow staircase leads up to the attic.",
    "The market sells cheese, olives and dried figs.",
    "Thunder rolled across the valley after dark.",
    "Write your name at the top of each page.",
    "The cat slept all afternoon in a cardboard box.",
    "We followed the river until the path ended.",
    "The orchestra rehearsed the final movement again.",
    "A quiet voice called from the back of the hall.",
    "The gardener trimmed the hedge into a neat square.",
    "Bring a torch because the cellar has no light.",
    "The train to the coast leaves at half past nine.",
    "Green apples were piled high on the wooden cart.",
    "He whistled a tune while sweeping the yard.",
    "The lighthouse keeper logged every passing ship.",
    "Our team won the match in the final minute.",
    "The parcel was wrapped in brown paper and string.",
]

WORDS = {
    "name": ["Anna", "Ben", "Clara", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi",
             "Lena", "Marco", "Nadia", "Oscar", "Priya", "Rosa", "Samir", "Tessa", "Umar", "Vera", "Walter",
             "Yuki", "Zoe", "Mrs Patel", "Mister Okafor", "Doctor Lindqvist", "Aunt Maria", "Uncle Joe",
             "Captain Reyes", "Professor Adams", "Maya", "Tom", "Lucy", "Pablo", "Ingrid", "Kenji",
             "Fatima", "Liam", "Chloe"],
    "place": ["library", "station", "harbour", "market", "bakery", "museum", "post office", "hospital",
              "stadium", "garden centre", "airport", "cinema", "school", "swimming pool", "town hall",
              "pharmacy", "bookshop", "theatre", "hardware store", "fire station"],
    "room": ["kitchen", "attic", "cellar", "hallway", "bathroom", "garage", "office", "living room",
             "spare bedroom", "classroom", "waiting room", "laundry"],
    "plural": ["apples", "envelopes", "candles", "batteries", "blankets", "tickets", "lemons", "notebooks",
               "pencils", "jars of honey", "umbrellas", "folding chairs", "postcards", "light bulbs",
               "tea towels", "flower pots", "paper cups", "tennis balls", "onions", "bread rolls"],
    "noun": ["kettle", "bicycle", "spare key", "paper map", "umbrella", "radio", "ladder", "suitcase", "lamp",
             "clock", "camera", "laptop", "wheelbarrow", "guitar", "telescope", "blender", "printer", "scarf",
             "sewing machine", "toolbox"],
    "adj": ["quiet", "crowded", "muddy", "bright", "narrow", "dusty", "freezing", "noisy", "tidy", "gloomy",
            "cosy", "enormous", "tiny", "shiny", "broken", "ancient", "brand new", "slippery", "peaceful",
            "chaotic"],
    "animal": ["goat", "parrot", "hedgehog", "puppy", "owl", "donkey", "tortoise", "rabbit", "seagull",
               "kitten", "fox", "squirrel"],
    "relative": ["grandmother", "grandfather", "cousin", "aunt", "uncle", "sister", "brother", "neighbour",
                 "godmother", "stepfather"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "when": ["tomorrow morning", "next Tuesday", "this weekend", "on Friday night", "after lunch",
             "before dinner", "tonight", "early next week", "at the end of the month"],
    "time": ["7:30", "6:45", "9:15", "noon", "midnight", "half past eight", "a quarter to ten", "ten o'clock",
             "11:20", "five in the afternoon"],
    "vp": ["water the plants", "lock the back door", "feed the cat", "charge your phone", "pack the sandwiches",
           "sign the form", "switch off the oven", "return the library books", "buy some milk",
           "wash the dishes", "fix the bicycle chain", "post the letter", "write down the address",
           "open the windows", "close the gate", "check the tyres", "wake the children", "book the tickets",
           "sweep the porch", "empty the bins"],
    "geo": ["river", "lake", "forest", "motorway", "coast", "old quarry", "hills", "harbour wall",
            "railway line", "football ground"],
    "settlement": ["village", "town", "fishing port", "mountain village", "farming town", "city suburb"],
    "season": ["winter", "summer", "spring", "autumn"],
    "weather": ["the rain stopped", "the sun came out", "the fog lifted", "the power went out",
                "the snow began to fall", "the wind dropped", "the storm passed", "the bell rang"],
    "past": ["ran outside", "opened every window", "lit a few candles", "went for a long walk",
             "made hot chocolate", "played cards in the kitchen", "counted the boats in the bay",
             "finished the puzzle"],
    "ordinal": ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"],
    "count": ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"],
    "dir": ["left", "right"],
    "landmark": ["church", "petrol station", "roundabout", "big oak tree", "second bridge", "traffic lights",
                 "bakery", "old mill"],
    "substance": ["sugar", "flour", "honey", "salt", "cocoa", "cinnamon", "rice", "oats"],
    "vessel": ["bowl", "pot", "pan", "jug", "mug", "jar"],
    "problem": ["starts leaking", "stops working", "makes that noise again", "falls over", "gets stuck"],
    "container": ["cupboard", "blue box", "basket", "drawer", "wooden crate", "old suitcase"],
    "veg": ["carrots", "beans", "potatoes", "leeks", "strawberries", "courgettes", "cabbages", "peppers"],
    "person": ["porter", "student", "volunteer", "visitor", "waiter", "player", "climber"],
    "building": ["barn", "school", "chapel", "warehouse", "water tower", "lighthouse", "farmhouse"],
    "vfin": ["fall apart", "disappear", "sell out", "break down", "become popular", "fill up"],
}

TEMPLATES = [
    "{name} bought {count} {plural} at the {place} on {day}.",
    "Did {name} remember to {vp} before {time}?",
    "Please {vp} before you leave for the {place}.",
    "The {place} opens at {time} on {day}s.",
    "Why is the {room} always so {adj} in {season}?",
    "{name} and {name2} walked {num} kilometres to the {place}.",
    "We need {count} more {plural} for the party {when}.",
    "The bus to the {place} was {num} minutes late again.",
    "I think {name} left the {noun} in the {room}.",
    "Have you ever seen such a {adj} {animal}?",
    "My {relative} was born in {year} in a small {settlement} near the {geo}.",
    "Turn {dir} after the {landmark} and the {place} is on your {dir2}.",
    "A {animal} in the {room} woke everyone at {time}.",
    "Could you {vp} while I {vp2}?",
    "{name} scored {num} points in the last game of the {season}.",
    "Room {room_no} is on the {ordinal} floor, next to the lift.",
    "Nobody expected the {adj} {noun} to {vfin} so quickly.",
    "When {weather}, we {past}.",
    "There are {count} {plural} on the table, but only {count2} {plural2}.",
    "Call me at {time} if the {noun} {problem}.",
    "How many {plural} does the {place} need by {day}?",
    "{name} says the {adj} {noun} costs {num} dollars.",
    "In {year}, the {place} moved to a {adj} building by the {geo}.",
    "Wait, is that {name}'s {noun} or mine?",
    "The {ordinal} train leaves at {time}, so please hurry.",
    "Listen carefully, the {noun} in the {room} is {adj}.",
    "{name} read {num} pages of a {adj} novel before falling asleep.",
    "Yes, the {plural} are in the {container} under the stairs.",
    "Where did you put the {noun} that {name} gave you?",
    "After {count} long weeks, the road along the {geo} finally reopened.",
    "Our {relative} grows {veg} and {veg2} behind the {building}.",
    "Put {count} spoons of {substance} in the {vessel} and stir gently.",
    "It is {num} degrees outside, so {vp} {when}.",
    "The {adj} {noun} by the window belongs to {name}.",
    "Is the {place} still open, or should we come back on {day}?",
    "{name} won't be here until {time}, sorry.",
    "Somebody left a {adj} {noun} on the steps of the {place} last night.",
    "The {num} {plural} we ordered arrived {count} days late.",
    "Tell {name} that the meeting has moved to {time} on {day}.",
    "From the top of the hill you can see the {geo} and the old {building}.",
    "Oh no, I forgot to {vp} again!",
    "Each {person} carried {count} {plural} up the {adj} staircase.",
    "Does anyone know why the {place} is so {adj} today?",
    "{name} has lived next to the {building} for {num} years.",
    "Honestly, I would rather {vp} than sit in that {adj} {room}.",
    "The {animal} ate {count} of our {veg} last night.",
    "Bring the {noun} to the {room} and wait for {name}.",
    "On {day} the {place} sold {num} tickets in an hour.",
]

OTHER = {  # language -> sentences written for this corpus; the last one of each is held out
    "de": ["Der Zug nach Hamburg fährt um acht Uhr ab.", "Kannst du mir bitte das Salz reichen?",
           "Im Garten blühen schon die ersten Rosen.",
           "Meine Schwester arbeitet seit drei Jahren in einer Bäckerei.",
           "Morgen soll es den ganzen Tag regnen.", "Wir haben im Wald einen kleinen Fuchs gesehen.",
           "Die Bibliothek ist am Sonntag geschlossen.", "Wie viel kostet eine Tasse Kaffee hier?",
           "Nach dem Essen gehen wir am Fluss spazieren.", "Der alte Hund schläft gern vor dem Ofen."],
    "fr": ["Le boulanger ouvre sa boutique avant le lever du soleil.",
           "Est-ce que tu as vu mes clés quelque part ?",
           "Nous partirons en vacances au bord de la mer.", "Le chat dort toute la journée sur le canapé.",
           "Il faut acheter du pain et du fromage pour ce soir.", "La réunion commence à neuf heures précises.",
           "Ma grand-mère cultive des tomates dans son jardin.", "Il a plu pendant trois jours sans s'arrêter.",
           "Le musée présente une nouvelle exposition de peinture.",
           "Les enfants jouent au ballon dans la cour."],
    "es": ["El tren llega a la estación a las cinco.", "¿Dónde has dejado las llaves del coche?",
           "Mi hermano cocina una paella deliciosa los domingos.", "Hace mucho calor en el centro de la ciudad.",
           "Los niños juegan en el parque hasta la noche.", "Necesito comprar leche, pan y dos manzanas.",
           "La biblioteca abre a las nueve de la mañana.", "Ayer vimos una película muy divertida.",
           "Vamos a pintar la cocina de color amarillo.", "El perro de los vecinos ladra todas las noches."],
    "it": ["Il treno per Roma parte alle sette e mezza.", "Domani andiamo al mare con i nostri amici.",
           "La nonna prepara la pasta fresca ogni domenica.", "Hai visto il mio ombrello nero?",
           "Il negozio all'angolo vende frutta e verdura.", "Questa estate ha fatto molto caldo in città.",
           "Il gatto dorme sulla sedia vicino alla finestra.",
           "Vorrei un caffè e un bicchiere d'acqua, per favore.",
           "Mio fratello suona la chitarra da dieci anni.", "La strada per il paese è piena di curve."],
    "nl": ["De trein naar Amsterdam vertrekt om tien uur.", "Wil je nog een kopje thee?",
           "Mijn buurman fietst elke dag naar zijn werk.", "Het heeft de hele nacht geregend.",
           "In de winkel verkopen ze verse kaas en brood.", "De kinderen spelen buiten in de tuin.",
           "Waar heb je die mooie jas gekocht?", "Morgen gaan we met de boot naar het eiland.",
           "Het museum is op maandag gesloten.", "De kat ligt te slapen op de vensterbank."],
    "pl": ["Pociąg do Krakowa odjeżdża o ósmej rano.", "Czy możesz zamknąć okno w kuchni?",
           "Moja siostra mieszka w małym domu nad jeziorem.", "Jutro będzie padać przez cały dzień.",
           "Kupiliśmy chleb, mleko i trochę sera.", "Dzieci bawią się w parku po szkole.",
           "Gdzie jest najbliższa apteka?", "W niedzielę pojedziemy do babci na obiad.",
           "Biblioteka jest otwarta do siódmej wieczorem.", "Pies sąsiadów szczeka każdej nocy."],
    "pt": ["O comboio para Lisboa parte às nove horas.", "Podes passar-me o sal, por favor?",
           "A minha avó faz um bolo de laranja delicioso.", "Choveu muito durante a noite.",
           "As crianças brincam na praia até ao pôr do sol.", "Preciso de comprar pão e fruta no mercado.",
           "O museu está fechado à segunda-feira.", "Onde deixaste as chaves do carro?",
           "Amanhã vamos visitar os nossos primos.", "O gato dorme no sofá o dia inteiro."],
    "sv": ["Tåget till Stockholm går klockan sju.", "Vill du ha en kopp kaffe till?",
           "Min bror bor i ett rött hus vid sjön.", "Det har snöat hela natten.",
           "Barnen leker i parken efter skolan.", "Vi måste köpa mjölk och bröd i affären.",
           "Var har du lagt nycklarna?", "På sommaren badar vi i havet varje dag.",
           "Biblioteket stänger klockan fem i dag.", "Katten sover i solen på trappan."],
    "cs": ["Vlak do Prahy odjíždí v osm hodin ráno.", "Můžeš mi prosím podat sůl?",
           "Moje babička peče ten nejlepší koláč.", "Celou noc pršelo a foukal silný vítr.",
           "Děti si hrají na zahradě za domem.", "Musíme koupit chleba, mléko a máslo.",
           "Kde je nejbližší lékárna?", "V sobotu pojedeme na výlet do hor.",
           "Knihovna je v pondělí zavřená.", "Kočka spí celý den na gauči."],
    "ru": ["Поезд в Москву отправляется в восемь часов.", "Ты не видел мои ключи?",
           "Моя бабушка печет очень вкусные пироги.", "Всю ночь шел сильный дождь.",
           "Дети играют в парке после школы.", "Нам нужно купить хлеб, молоко и сыр.",
           "Где находится ближайшая аптека?", "В субботу мы поедем на дачу.",
           "Мой брат играет на гитаре уже десять лет.", "Кошка спит на диване весь день."],
    "fi": ["Juna Helsinkiin lähtee kello kahdeksan.", "Voisitko ojentaa minulle suolan?",
           "Isoäitini leipoo maailman parasta pullaa.", "Koko yön satoi lunta.",
           "Lapset leikkivät puistossa koulun jälkeen.", "Meidän pitää ostaa maitoa ja leipää.",
           "Missä on lähin apteekki?", "Lauantaina menemme mökille järven rantaan.",
           "Veljeni on soittanut kitaraa kymmenen vuotta.", "Kissa nukkuu sohvalla koko päivän."],
    "hi": ["आज मौसम बहुत अच्छा है।", "ट्रेन सुबह आठ बजे दिल्ली के लिए निकलती है।",
           "क्या आप मुझे पानी का एक गिलास देंगे?", "मेरी दादी बहुत स्वादिष्ट खाना बनाती हैं।",
           "कल पूरी रात बारिश होती रही।", "बच्चे स्कूल के बाद पार्क में खेलते हैं।",
           "हमें बाजार से दूध और रोटी लानी है।", "सबसे पास वाली दवा की दुकान कहाँ है?",
           "रविवार को हम अपने दोस्तों से मिलेंगे।", "मेरा भाई दस साल से गिटार बजा रहा है।"],
    "mr": ["आज हवामान खूप छान आहे.", "गाडी सकाळी सात वाजता पुण्याला निघते.",
           "तुम्ही मला थोडे पाणी द्याल का?", "माझी आजी खूप छान स्वयंपाक करते.",
           "काल रात्रभर पाऊस पडत होता.", "मुले शाळेनंतर बागेत खेळतात.",
           "आम्हाला बाजारातून दूध आणि भाजी आणायची आहे.", "सर्वात जवळचे औषधाचे दुकान कुठे आहे?",
           "रविवारी आम्ही मित्रांना भेटणार आहोत.", "माझा भाऊ दहा वर्षांपासून गिटार वाजवतो."],
    "te": ["ఈ రోజు వాతావరణం చాలా బాగుంది.", "రైలు ఉదయం ఎనిమిది గంటలకు బయలుదేరుతుంది.",
           "నాకు కొంచెం నీళ్ళు ఇస్తారా?", "మా అమ్మమ్మ చాలా రుచిగా వంట చేస్తుంది.",
           "నిన్న రాత్రంతా వర్షం పడింది.", "పిల్లలు బడి తర్వాత పార్కులో ఆడుకుంటారు.",
           "మనం బజారు నుండి పాలు కొనాలి.", "దగ్గరలో మందుల దుకాణం ఎక్కడ ఉంది?",
           "ఆదివారం మేము స్నేహితులను కలుస్తాము.", "పిల్లి రోజంతా కిటికీ దగ్గర నిద్రపోతుంది."],
}

CATALAN = [  # mismatched only
    "Avui fa molt bon temps a la platja.", "El tren cap a Girona surt a les vuit del matí.",
    "Em pots passar la sal, si us plau?", "La meva àvia fa el millor pa de pessic del poble.",
    "Ha plogut tota la nit sense parar.", "Els nens juguen al parc després de l'escola.",
    "Hem de comprar llet, pa i una mica de formatge.", "On és la farmàcia més propera?",
    "El gat dorm al sofà tot el dia.", "Dissabte anirem d'excursió a la muntanya.",
    "La biblioteca tanca a les set del vespre.", "El meu germà toca la guitarra des de fa deu anys.",
]


def generated_english(rng: random.Random, n: int, exclude: set[str]) -> list[str]:
    """``n`` distinct sentences of 4-16 words from TEMPLATES, none in ``exclude``."""
    out, seen = [], set(exclude)
    while len(out) < n:
        template = rng.choice(TEMPLATES)
        fill = {}
        for slot in re.findall(r"{(\w+)}", template):
            if slot == "num":
                fill[slot] = str(rng.randint(3, 95))
            elif slot == "year":
                fill[slot] = str(rng.randint(1950, 2023))
            elif slot == "room_no":
                fill[slot] = str(rng.randint(101, 520))
            else:
                base = slot.rstrip("0123456789")
                taken = {v for k, v in fill.items() if k.rstrip("0123456789") == base}
                fill[slot] = rng.choice([w for w in WORDS[base] if w not in taken])
        s = template.format(**fill)
        s = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", s)
        s = s[0].upper() + s[1:]
        if s not in seen and 4 <= len(s.split()) <= 16:
            seen.add(s)
            out.append(s)
    return out


# ------------------------------------------------------------------------------------------- plan

def draw_rate(rng: random.Random, engine: str, voice: str):
    if engine == "festival" and voice in FESTIVAL_NO_RATE:
        return 1.0
    lo, hi = RANGES[engine][0]
    return rng.randint(lo, hi) if engine == "espeak-ng" else round(rng.uniform(lo, hi), 2)


def make_plan() -> list[dict]:
    rng = random.Random(SEED)
    pool = generated_english(rng, N_EN_TRAIN_GENERATED + N_EN_HELDOUT + PER_MISMATCHED_EN_VOICE * len(MISMATCHED_EN),
                             set(HANDWRITTEN_EN))
    en_mismatched = pool[:PER_MISMATCHED_EN_VOICE * len(MISMATCHED_EN)]
    en_heldout = pool[len(en_mismatched):len(en_mismatched) + N_EN_HELDOUT]
    en_train = HANDWRITTEN_EN + pool[len(en_mismatched) + N_EN_HELDOUT:]

    clips = []

    def add(split, engine, voice, language, text, sentence, pitch=None):
        clips.append({"split": split, "engine": engine, "voice": voice, "language": language, "text": text,
                      "sentence": sentence, "param": draw_rate(rng, engine, voice), "pitch": pitch,
                      "level_dbfs": round(rng.uniform(-12.0, -1.0), 2)})

    def espeak_voice(language):
        base = rng.choice(ESPEAK_EN_ACCENTS) if language == "en" else ESPEAK_LANG[language]
        return f"{base}+{rng.choice(ESPEAK_VARIANTS)}"

    def train_voice(language):
        p = P_FESTIVAL_EN if language == "en" else P_FESTIVAL_OTHER
        if language in FESTIVAL_TRAIN and rng.random() < p:
            return "festival", rng.choice(FESTIVAL_TRAIN[language])
        return "espeak-ng", espeak_voice(language)

    # train
    for k, text in enumerate(en_train):
        n = rng.choices(*VOICES_PER_SENTENCE)[0]
        used = set()
        while len(used) < n:
            ev = train_voice("en")
            if ev in used:
                continue
            used.add(ev)
            add("train", *ev, "en", text, f"en-t{k:03d}", rng.randint(25, 75) if ev[0] == "espeak-ng" else None)
    for lang, sentences in OTHER.items():
        for k, text in enumerate(sentences[:-1]):
            ev = train_voice(lang)
            add("train", *ev, lang, text, f"{lang}-t{k:02d}", rng.randint(25, 75) if ev[0] == "espeak-ng" else None)

    # heldout: unseen sentences, voices that train
    trained = {}  # language -> (engine, voice) of every train clip: drawn in proportion to training use
    for c in clips:
        trained.setdefault(c["language"], []).append((c["engine"], c["voice"]))
    for k, text in enumerate(en_heldout):
        ev = rng.choice(trained["en"])
        add("heldout", *ev, "en", text, f"en-h{k:03d}", rng.randint(25, 75) if ev[0] == "espeak-ng" else None)
    for lang, sentences in OTHER.items():
        ev = rng.choice(trained[lang])
        add("heldout", *ev, lang, sentences[-1], f"{lang}-h00", rng.randint(25, 75) if ev[0] == "espeak-ng" else None)

    # mismatched: unseen sentences, voices and synthesis methods
    for k, text in enumerate(en_mismatched):
        add("mismatched", *MISMATCHED_EN[k // PER_MISMATCHED_EN_VOICE], "en", text, f"en-m{k:03d}")
    for k, text in enumerate(CATALAN):
        add("mismatched", *MISMATCHED_CA, "ca", text, f"ca-m{k:02d}")

    counters = {}
    for c in clips:
        i = counters[c["split"]] = counters.get(c["split"], -1) + 1
        safe = re.sub(r"[^A-Za-z0-9_-]", "-", c["voice"])
        c["file"] = f"{c['split']}/{c['engine']}_{safe}_{i:04d}.flac"
    return clips


# -------------------------------------------------------------------------------------- synthesis

def synth_command(clip: dict, param, txt: str, wav: str) -> tuple[list[str], str]:
    """The command that writes ``wav`` from text file ``txt``, and a short description of its options."""
    engine, voice = clip["engine"], clip["voice"]
    if engine == "espeak-ng":
        opts = ["-v", voice, "-s", str(int(param)), "-p", str(clip["pitch"])]
        return ["espeak-ng", "-b", "1", *opts, "-w", wav, "-f", txt], "espeak-ng " + " ".join(opts)
    if engine == "flite":
        opts = ["-voice", voice, "--setf", f"duration_stretch={param}"]
        return ["flite", *opts, "-f", txt, "-o", wav], "flite " + " ".join(opts)
    evals = [f"(voice_{voice})"]
    if engine == "festival-hts":
        evals.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {param}))))')
    elif voice not in FESTIVAL_NO_RATE:
        evals.append(f"(Parameter.set 'Duration_Stretch {param})")
    cmd = ["text2wave"]
    for e in evals:
        cmd += ["-eval", e]
    return cmd + ["-o", wav, txt], "text2wave " + " ".join(f"-eval '{e}'" for e in evals)


def relative_rate(engine: str, param) -> float:
    if engine == "espeak-ng":
        return round(param / 175.0, 3)
    if engine == "festival-hts":
        return round(float(param), 3)
    return round(1.0 / float(param), 3)


def process(x, sr: int):
    """Mono, 16 kHz, leading/trailing silence trimmed to 50 ms (zero-padded where shorter)."""
    import numpy as np
    from scipy.signal import resample_poly

    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != SR:
        g = math.gcd(sr, SR)
        x = resample_poly(x, SR // g, sr // g)
    hop, pad = SR // 100, SR // 20
    n = len(x) // hop
    if n < 1:
        return None
    energy = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    if energy.max() <= 0:
        return None
    active = np.flatnonzero(energy > energy.max() * 1e-4)  # -40 dB below the loudest 10 ms frame
    y = x[active[0] * hop: (active[-1] + 1) * hop]
    before = x[max(active[0] * hop - pad, 0): active[0] * hop]
    after = x[(active[-1] + 1) * hop: (active[-1] + 1) * hop + pad]
    return np.concatenate([np.zeros(pad - len(before)), before, y, after, np.zeros(pad - len(after))])


def render(job: tuple[dict, str]) -> dict:
    """Synthesise, process and write one clip; returns its manifest entry or ``{"error": ...}``."""
    import numpy as np
    import soundfile as sf

    clip, out = job
    engine = clip["engine"]
    encoding = FESTIVAL_ENCODING.get(clip["voice"], "utf-8") if engine.startswith("festival") else "utf-8"
    param = clip["param"]
    with tempfile.TemporaryDirectory(prefix="make_corpus_") as tmp:
        txt, wav = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.wav")
        with open(txt, "w", encoding=encoding) as f:
            f.write(clip["text"] + "\n")
        for attempt in range(3):
            cmd, desc = synth_command(clip, param, txt, wav)
            try:
                r = subprocess.run(cmd, capture_output=True, timeout=120)
            except subprocess.TimeoutExpired:
                return {"error": f"{clip['file']}: {cmd[0]} timed out"}
            if r.returncode != 0 or not os.path.isfile(wav) or os.path.getsize(wav) < 100:
                return {"error": f"{clip['file']}: {desc} failed (exit {r.returncode}) "
                                 f"{r.stderr.decode('utf-8', 'replace')[-200:]!r}"}
            x, sr = sf.read(wav, dtype="float64")
            y = process(x, sr)
            if y is None:
                return {"error": f"{clip['file']}: {desc} produced silence"}
            seconds = len(y) / SR
            if MIN_SECONDS <= seconds <= MAX_SECONDS or (engine == "festival" and clip["voice"] in FESTIVAL_NO_RATE):
                break
            # speed up (or slow down) towards the middle of the allowed range and try again
            lo, hi = RANGES[engine][1]
            target = MAX_SECONDS - 0.5 if seconds > MAX_SECONDS else MIN_SECONDS + 0.3
            factor = seconds / target  # > 1: must speak faster
            if engine == "espeak-ng":
                param = int(min(max(round(param * factor), lo), hi))
            elif engine == "festival-hts":
                param = round(min(max(param * factor, lo), hi), 2)
            else:
                param = round(min(max(param / factor, lo), hi), 2)
            os.remove(wav)
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            return {"error": f"{clip['file']}: {seconds:.2f} s after retries ({desc})"}
    y = y / np.abs(y).max() * 10 ** (clip["level_dbfs"] / 20)
    path = os.path.join(out, clip["file"])
    sf.write(path, y.astype(np.float32), SR, subtype="PCM_16", format="FLAC")
    frames = sf.info(path).frames
    return {"file": clip["file"], "split": clip["split"], "seconds": round(frames / SR, 3), "text": clip["text"],
            "engine": engine, "voice": clip["voice"], "method": method_of(engine, clip["voice"]),
            "language": clip["language"], "rate": relative_rate(engine, param), "pitch": clip["pitch"],
            "level_dbfs": clip["level_dbfs"], "sentence": clip["sentence"], "synth": desc}


# ------------------------------------------------------------------------------------------- main

def tool_versions() -> dict:
    def first_line(cmd, containing=""):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = [ln.strip().split("  Data at:")[0] for ln in (r.stdout + r.stderr).splitlines()
                 if ln.strip() and containing in ln]
        return lines[0] if lines else None

    return {"espeak-ng": first_line(["espeak-ng", "--version"]),
            "festival": first_line(["festival", "--version"]),
            "flite": first_line(["flite", "--version"], "version")}


def check_tools():
    missing = [t for t in ("espeak-ng", "flite", "text2wave") if shutil.which(t) is None]
    if missing:
        sys.exit(f"make_corpus.py: not found: {', '.join(missing)} (see the apt-get line at the top of this script)")


def reexec(python: str | None):
    """Run under ``python`` (or the repository's .venv when this interpreter lacks the libraries)."""
    if python is None:
        import importlib.util

        if all(importlib.util.find_spec(m) for m in ("numpy", "scipy", "soundfile")):
            return
        python = os.path.join(REPO, ".venv", "bin", "python")
        if not os.path.exists(python):
            sys.exit("make_corpus.py: needs numpy, scipy and soundfile (or --python PY)")
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return
    args = list(sys.argv[1:])
    if "--python" in args:
        i = args.index("--python")
        del args[i:i + 2]
    args = [a for a in args if not a.startswith("--python=")]
    os.execv(python, [python, os.path.abspath(__file__), *args])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    ap.add_argument("--python", default=None, help="run under this Python (needs numpy, scipy, soundfile)")
    ap.add_argument("--jobs", type=int, default=2, help=f"synthesis processes, 1-{MAX_JOBS} (default 2)")
    args = ap.parse_args(argv)
    reexec(args.python)
    check_tools()
    jobs = min(max(args.jobs, 1), MAX_JOBS)

    t0 = time.time()
    clips = make_plan()
    out = os.path.abspath(args.out)
    if os.path.exists(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "manifest.json")):
        sys.exit(f"make_corpus.py: {out} is not empty and has no manifest.json; refusing to replace it")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp_out = tempfile.mkdtemp(prefix=".speech-", dir=parent)
    try:
        for split in ("train", "heldout", "mismatched"):
            os.makedirs(os.path.join(tmp_out, split))
        work = [(c, tmp_out) for c in clips]
        if jobs > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                results = []
                for i, r in enumerate(pool.imap(render, work, chunksize=2)):
                    results.append(r)
                    if (i + 1) % 100 == 0:
                        print(f"  {i + 1}/{len(work)} clips ({time.time() - t0:.0f} s)", flush=True)
        else:
            results = [render(w) for w in work]
        errors = [r["error"] for r in results if "error" in r]
        entries = [r for r in results if "error" not in r]
        for e in errors:
            print("left out:", e, file=sys.stderr)
        manifest = {
            "sample_rate": SR,
            "generator": "scripts/make_corpus.py (espeak-ng, festival, flite)",
            "tools": tool_versions(),
            "license": ("Apache-2.0 (sentences written for jaxspec; audio synthesised with free engines and "
                        "voices whose licences are listed in scripts/make_corpus.py)"),
            "split": ("train: espeak-ng (formant, English accents x variants and 14 other languages) and festival "
                      "diphone/unit-selection voices; heldout: sentences never in train, spoken by voices that "
                      "train (in-distribution); mismatched: sentences never in train, voices and synthesis "
                      "methods never in train (flite clustergen awb/rms/slt, festival HTS cmu_us_slt_arctic_hts "
                      "and upc_ca_ona_hts in Catalan)"),
            "clips": entries,
        }
        with open(os.path.join(tmp_out, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, ensure_ascii=False)
            f.write("\n")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp_out, out)
    except BaseException:
        shutil.rmtree(tmp_out, ignore_errors=True)
        raise

    for split in ("train", "heldout", "mismatched"):
        cs = [c for c in entries if c["split"] == split]
        voices = sorted({(c["engine"], c["voice"]) for c in cs})
        print(f"{split:10s} {len(cs):4d} clips {sum(c['seconds'] for c in cs) / 60:5.1f} min, "
              f"{len({c['text'] for c in cs})} sentences, {len(voices)} voices, "
              f"languages {' '.join(sorted({c['language'] for c in cs}))}")
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, fs in os.walk(out) for f in fs)
    print(f"wrote {len(entries)} clips ({len(errors)} left out) to {out}: {size / 1e6:.1f} MB "
          f"in {time.time() - t0:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
