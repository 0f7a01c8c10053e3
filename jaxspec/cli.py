"""The ``jaxspec`` command line. ``main(argv) -> int`` is what tests call; ``main_entry`` is the
console script. A thin layer over :mod:`jaxspec.enhance`:

    jaxspec --version
    jaxspec tour                                   # what an STFT looks like
    jaxspec demo [--steps N] [--out DIR]           # train on the shipped corpus, evaluate, figure
    jaxspec train --workdir DIR [--config FILE] [--steps N] [--speech SRC --noise SRC [--rir SRC]]
                  [--valid-speech SRC --valid-noise SRC] [--workers N] [--threads N] [--skip-bad-files]
                  [--coordinator HOST:PORT --num-processes N --process-id I]
    jaxspec enhance IN.wav -o OUT.wav [--checkpoint DIR] [--griffin-lim N]
    jaxspec make-pairs --out DIR --examples N [--config FILE] [--speech/--noise/--rir SRC]

Every error in what the user gave (arguments, config, data, checkpoint, files) is one line on
stderr and exit status 2; a run stopped by non-finite training is 1; an interrupted run (Ctrl-C,
after saving a checkpoint) is 130. Set ``JAXSPEC_DEBUG=1`` to see the traceback of an error.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from ._version import __version__


def _tour(args: argparse.Namespace) -> int:
    import jax.numpy as jnp
    import numpy as np

    import jaxspec as js

    sr, seconds = 16000, 1.0
    t = np.arange(int(sr * seconds)) / sr
    f0, f1 = 100.0, 4000.0  # linear chirp, 100 Hz -> 4 kHz
    x = jnp.asarray(0.5 * np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / seconds * t * t)), jnp.float32)
    n_fft, hop = 512, 128
    S = js.stft(x, n_fft=n_fft, hop_length=hop)
    freqs = np.asarray(js.frequencies(sr=sr, n_fft=n_fft))
    times = np.asarray(js.frame_times(S.shape[-1], sr=sr, hop_length=hop))
    mag = np.asarray(js.magnitude(S))
    print(f"jaxspec {__version__}: STFT of a 1 s linear chirp, 100 Hz -> 4 kHz at {sr} Hz")
    print(f"  signal {tuple(x.shape)} float32 -> STFT {tuple(S.shape)} {S.dtype} (freq, frames); "
          f"n_fft={n_fft}, hop_length={hop}, window='hann', center=True")
    print("  peak frequency by frame (should rise linearly):")
    for i in range(0, S.shape[-1], S.shape[-1] // 8):
        k = int(mag[:, i].argmax())
        expect = f0 + (f1 - f0) * times[i] / seconds
        bar = "#" * int(40 * freqs[k] / (sr / 2))
        print(f"    t={times[i]:5.3f} s  peak {freqs[k]:7.1f} Hz (chirp {expect:7.1f} Hz)  {bar}")
    y = js.istft(S, n_fft=n_fft, hop_length=hop, length=x.shape[-1])
    err = float(jnp.max(jnp.abs(y - x)))
    print(f"  round trip istft(stft(x)): max abs error {err:.2e} (float32)")
    return 0 if err < 1e-4 else 1


DEFAULT_OUT = "demo_out"
USER_ERRORS = (OSError, ValueError, TypeError)


class UsageError(Exception):
    """A command-line error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump; main() turns it into exit status 2
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _load_config(path: str | None, **overrides):
    from .enhance.config import TrainConfig

    cfg = TrainConfig.from_json(path) if path else TrainConfig()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return cfg.replace(**changes) if changes else cfg


SET_TITLES = {"heldout": "in-distribution held-out set (unseen sentences; training voices, engines and noise families)",
              "mismatched": "mismatched held-out set (voices, engines and noise families never seen in training)",
              "real": "real unseen speakers (recorded voices never in training; babble of a disjoint speaker pool)"}


def _fmt_table(results: dict, snrs, *, families: bool = False) -> list[str]:
    """Rows of one evaluation set: every method at every SNR, and per noise family if asked."""
    lines = []
    has_pesq = "pesq" in results[f"{snrs[0]:g}"]["noisy"]
    head = f"{'input SNR':>9}  {'noise':<10} {'method':<11} {'SI-SDR':>7} {'SI-SDRi':>8} {'STOI':>6}" + (
        f" {'PESQ':>5}" if has_pesq else "")
    lines += [head, "-" * len(head)]

    def rows(snr, label, table):
        for method in ("noisy", "baseline", "enhanced", "oracle_irm"):
            d = table[method]
            line = f"{snr:>6g} dB  {label:<10} {method:<11} {d['si_sdr']:7.2f} {d['si_sdr_i']:8.2f} {d['stoi']:6.3f}"
            lines.append(line + (f" {d['pesq']:5.2f}" if has_pesq else ""))

    for snr in snrs:
        rows(snr, "all", results[f"{snr:g}"])
        if families:
            for fam, table in results[f"{snr:g}"]["families"].items():
                rows(snr, fam, table)
    return lines


def _family_bars(axes, title: str, stats: dict) -> None:
    """Two bar charts of one set's per-family results: median SI-SDR improvement (bars from the
    25th to the 75th percentile) and the change of the median STOI from the noisy input's."""
    import numpy as np

    fams = list(stats)
    methods = (("baseline", "spectral gate", "0.6"), ("enhanced", "model", "C3"), ("oracle_irm", "oracle IRM", "C0"))
    x = np.arange(len(fams))
    w = 0.8 / len(methods)
    for k, (m, label, color) in enumerate(methods):
        q = np.asarray([stats[f][m]["si_sdr_i"] for f in fams])  # (families, 3): q25, median, q75
        axes[0].bar(x + (k - 1) * w, q[:, 1], w, yerr=[q[:, 1] - q[:, 0], q[:, 2] - q[:, 1]], color=color,
                    label=label, capsize=2, error_kw={"lw": 0.6})
        d = [stats[f][m]["stoi"][1] - stats[f]["noisy"]["stoi"][1] for f in fams]
        axes[1].bar(x + (k - 1) * w, d, w, color=color, label=label)
    for ax, ylabel in zip(axes, ("SI-SDR improvement (dB)", "STOI change")):
        ax.set_xticks(x, fams, fontsize=8)
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_ylabel(ylabel, fontsize=9)
    axes[0].set_title(title, fontsize=10)
    axes[0].legend(fontsize=8, ncol=3)


def _figure(path: str, ex: dict, cfg, families: tuple[str, dict] | None = None) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (no figure: matplotlib is not installed; pip install 'jaxspec[demo]')")
        return False
    import numpy as np

    import jaxspec as js

    i = 0
    n = int(ex["lengths"][i])
    sr, hop = cfg.sr, cfg.hop_length
    t = np.arange(n) / sr
    spec = lambda x: np.asarray(js.amplitude_to_db(js.magnitude(js.stft(x[:n], n_fft=cfg.n_fft, hop_length=hop)), ref=1.0, top_db=80.0))
    frames = -(-n // hop)
    panels = [("clean", spec(ex["clean"][i])), (f"noisy ({ex['snr']:g} dB)", spec(ex["noisy"][i])),
              ("estimated mask", np.asarray(ex["mask"][i])[:, :frames]), ("enhanced", spec(ex["enhanced"][i])),
              ("spectral-gating baseline", spec(ex["baseline"][i]))]
    rows = len(panels) + 1 + (2 if families else 0)
    fig = plt.figure(figsize=(9, 13 + (5 if families else 0)))
    grid = fig.add_gridspec(rows, 1)
    axes = [fig.add_subplot(grid[0])]
    axes += [fig.add_subplot(grid[k], sharex=axes[0]) for k in range(1, len(panels) + 1)]
    axes[0].plot(t, ex["noisy"][i][:n], color="0.7", lw=0.5, label="noisy")
    axes[0].plot(t, ex["clean"][i][:n], color="C0", lw=0.5, label="clean")
    axes[0].plot(t, ex["enhanced"][i][:n], color="C3", lw=0.5, alpha=0.8, label="enhanced")
    axes[0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[0].set_ylabel("amplitude")
    axes[0].set_title(f"a clip of the {ex['set']} set, {ex['families'][i]} noise")
    vmax = max(p.max() for name, p in panels if name != "estimated mask")
    extent = [0, n / sr, 0, sr / 2000]
    for ax, (name, img) in zip(axes[1:], panels):
        is_mask = name == "estimated mask"
        im = ax.imshow(img, origin="lower", aspect="auto", extent=extent, cmap="magma" if not is_mask else "viridis",
                       vmin=0.0 if is_mask else vmax - 80, vmax=1.0 if is_mask else vmax, interpolation="nearest")
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, pad=0.01, label="mask" if is_mask else "dB")
    axes[-1].set_xlabel("time (s)")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    if families:
        _family_bars([fig.add_subplot(grid[len(panels) + 1]), fig.add_subplot(grid[len(panels) + 2])], *families)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _demo(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    import numpy as np

    import jaxspec as js

    from .enhance import evaluate, train

    t0 = time.perf_counter()
    cfg = _load_config(args.config, steps=args.steps)
    out = args.out
    os.makedirs(out, exist_ok=True)
    what = {"dnn": "a frame-wise DNN", "gru": "a causal GRU", "unet": "a U-Net", "band": "a causal band / deep-filter"}[cfg.model]
    print(f"jaxspec demo: training {what} mask estimator ({cfg.task}) for {cfg.steps} steps, then evaluating on "
          f"the held-out sets (output in {out}/)")
    res = train.run(cfg, out, resume=False)
    t_train = time.perf_counter() - t0
    print(f"trained in {t_train:.0f} s ({res['steps_per_s']:.2f} steps/s); evaluating ...")
    if cfg.task != "denoise":
        return _demo_dereverb(res["model"], cfg, out, args, t0, t_train, res)
    snrs = tuple(args.snrs)
    # trained on real speech: scored on it first (its clips give the examples and the figure), then on the others
    sets = (evaluate.REAL_SET,) + evaluate.SETS if cfg.corpus == "real" else evaluate.SETS
    ev = evaluate.evaluate(res["model"], cfg, sets=sets, snrs=snrs, n_clips=args.eval_clips,
                           with_pesq=not args.no_pesq)
    ex = ev.pop("examples")
    lines = []
    for split in sets:
        lines += ["", SET_TITLES[split] + ":"] + _fmt_table(ev[split], snrs, families=split != "heldout")
    print("\n".join(lines))
    summary = {}
    for split in sets:
        if "0" not in ev[split]:  # the summary is at 0 dB input
            continue
        zero = ev[split]["0"]
        oracle_gain = zero["oracle_irm"]["si_sdr_i"]
        share = zero["enhanced"]["si_sdr_i"] / oracle_gain if oracle_gain > 0 else float("nan")
        worse = [f for f, t in zero["families"].items()
                 if t["enhanced"]["si_sdr_i"] < 0 or t["enhanced"]["stoi"] < t["noisy"]["stoi"]]
        summary[split] = {"enhanced_vs_oracle_at_0db": share,
                          "stoi_gain_at_0db": zero["enhanced"]["stoi"] - zero["noisy"]["stoi"],
                          "families_worse_than_noisy_at_0db": worse}
        if "pesq" in zero["noisy"]:
            summary[split]["pesq_gain_at_0db"] = zero["enhanced"]["pesq"] - zero["noisy"]["pesq"]
        if split == evaluate.REAL_SET and set(zero["family_stats"]) - set(evaluate.NOT_HEADLINE):
            summary[split]["headline_medians_at_0db"] = h = evaluate.headline(zero)
            print(f"{split}: mean over families ({', '.join(evaluate.NOT_HEADLINE)} aside) of the median SI-SDRi: "
                  f"model {h['enhanced']['si_sdr_i']:.2f}, spectral gate {h['baseline']['si_sdr_i']:.2f}, "
                  f"oracle IRM {h['oracle_irm']['si_sdr_i']:.2f} dB")
        print(f"{split}: at 0 dB the model gets {100 * share:.0f}% of the oracle IRM's SI-SDR improvement "
              f"({zero['enhanced']['si_sdr_i']:.2f} of {oracle_gain:.2f} dB), STOI "
              f"{summary[split]['stoi_gain_at_0db']:+.3f}"
              + (f", PESQ {summary[split]['pesq_gain_at_0db']:+.2f}" if "pesq_gain_at_0db" in summary[split] else "")
              + (f"; worse than the noisy input on: {', '.join(worse)}" if worse else "; better than the noisy input "
                 "on every noise family"))
    wav_dir = os.path.join(out, "wavs")
    os.makedirs(wav_dir, exist_ok=True)
    for i in range(min(3, len(ex["lengths"]))):
        n = int(ex["lengths"][i])
        for name in ("clean", "noisy", "baseline", "oracle_irm"):
            js.save(os.path.join(wav_dir, f"ex{i}_{name}.wav"), np.clip(ex[name][i][:n], -1, 1), cfg.sr)
        # the enhanced example is what `jaxspec enhance` makes of the noisy file above
        evaluate.enhance_file(res["model"], cfg, os.path.join(wav_dir, f"ex{i}_noisy.wav"),
                              os.path.join(wav_dir, f"ex{i}_enhanced.wav"))
    fig = os.path.join(out, "demo.png")
    fam_set = next((sp for sp in (evaluate.REAL_SET, "mismatched") if sp in sets and "0" in ev[sp]), None)
    fam = (f"per noise family, {fam_set} set at 0 dB (median, quartiles)", ev[fam_set]["0"]["family_stats"]) if fam_set else None
    made = _figure(fig, ex, cfg, fam)
    total = time.perf_counter() - t0
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"config": cfg.to_dict(), "metrics": ev, "summary": summary, "train_seconds": t_train,
                   "steps_per_s": res["steps_per_s"], "total_seconds": total}, f, indent=1)
    print(f"wrote {out}/metrics.json, {wav_dir}/ex*_*.wav" + (f", {fig}" if made else "")
          + f"; checkpoint in {out}/checkpoints (used by `jaxspec enhance`). Total {total:.0f} s.")
    return 0


def _demo_dereverb(model, cfg, out, args, t0, t_train, res) -> int:
    import json
    import os
    import time

    import numpy as np

    import jaxspec as js

    from .enhance import evaluate

    ev = evaluate.evaluate_dereverb(model, cfg, n_clips=args.eval_clips)
    ex = ev.pop("examples")
    print(f"held-out speech, unseen RIR family (RT60 {ev['rt60'][0]:.1f}-{ev['rt60'][-1]:.1f} s), against the "
          "early-reflection target:")
    print(f"  {'method':<24} {'SI-SDR':>7} {'SI-SDRi':>8} {'STOI':>6}")
    for name in evaluate.DEREVERB_METHODS:
        d = ev[name]
        print(f"  {name:<24} {d['si_sdr']:7.2f} {d['si_sdr_i']:8.2f} {d['stoi']:6.3f}")
    wav_dir = os.path.join(out, "wavs")
    os.makedirs(wav_dir, exist_ok=True)
    for i in range(min(3, len(ex["lengths"]))):
        n = int(ex["lengths"][i])
        for name in ("target",) + evaluate.DEREVERB_METHODS:
            js.save(os.path.join(wav_dir, f"ex{i}_{name}.wav"), np.clip(ex[name][i][:n], -1, 1), cfg.sr)
    total = time.perf_counter() - t0
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"config": cfg.to_dict(), "metrics": ev, "train_seconds": t_train,
                   "steps_per_s": res["steps_per_s"], "total_seconds": total}, f, indent=1)
    print(f"wrote {out}/metrics.json and {wav_dir}/ex*_*.wav; checkpoints in {out}/checkpoints. Total {total:.0f} s.")
    return 0


def _distributed(args: argparse.Namespace) -> None:
    given = [args.coordinator is not None, args.num_processes is not None, args.process_id is not None]
    if not any(given):
        return
    if not all(given):
        raise UsageError("jaxspec train: --coordinator, --num-processes and --process-id go together")
    if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
        raise UsageError(f"jaxspec train: --process-id must be in [0, --num-processes), got {args.process_id} "
                         f"of {args.num_processes}")
    import jax

    if jax.config.jax_platforms in (None, "", "cpu") or jax.default_backend() == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # collectives across CPU processes
    jax.distributed.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)


def _train(args: argparse.Namespace) -> int:
    _distributed(args)
    from .enhance import train

    cfg = _load_config(args.config, steps=args.steps, speech=args.speech, noise=args.noise, rir=args.rir,
                       valid_speech=args.valid_speech, valid_noise=args.valid_noise, workers=args.workers, threads=args.threads,
                       skip_bad_files=True if args.skip_bad_files else None)
    try:
        res = train.run(cfg, args.workdir, resume=not args.no_resume)
    except train.TrainingStopped as e:
        print(f"jaxspec train: {e}", file=sys.stderr)
        return 1
    if res["interrupted"]:
        return 130
    print(f"done: step {res['step']}, checkpoints in {args.workdir}/checkpoints")
    return 0


def _enhance(args: argparse.Namespace) -> int:
    from .enhance import evaluate, train

    if args.stream and args.griffin_lim:
        raise UsageError("--stream cannot estimate the phase with --griffin-lim (it needs the whole signal)")
    if (args.rate or args.channels) and not (args.stream and args.input == "-"):
        raise UsageError("--rate and --channels describe raw PCM on stdin: use them with --stream and input '-'")
    model, cfg, step = train.load(args.checkpoint, log=lambda s: print(s, file=sys.stderr))
    if args.stream:
        from .enhance import chunked

        try:
            chunked.stream(model, cfg, args.input, args.output, block_ms=args.block_ms, rate=args.rate,
                           channels=args.channels)
        except ValueError as e:
            raise UsageError(str(e)) from None
        return 0
    info = evaluate.enhance_file(model, cfg, args.input, args.output, griffin_lim=args.griffin_lim)
    took = f" in {info['elapsed']:.1f} s, block by block" if "elapsed" in info else ""
    print(f"enhanced {args.input} ({info['channels']} channel(s), {info['seconds']:.2f} s at {info['sr']} Hz) with "
          f"the checkpoint at step {step} -> {args.output}{took}")
    return 0


def _make_pairs(args: argparse.Namespace) -> int:
    from .enhance import pairs

    cfg = _load_config(args.config, speech=args.speech, noise=args.noise, rir=args.rir)
    h = pairs.write(args.out, cfg, examples=args.examples, shard_size=args.shard_size)
    print(f"wrote {h['examples']} pairs ({cfg.task}, n_fft {cfg.n_fft}, hop {cfg.hop_length}, {cfg.segment_seconds:g} s) "
          f"in {len(h['shards'])} shard(s) to {args.out}; train on them with \"pairs\": \"{args.out}\" in the config")
    return 0


def _snr_list(text: str) -> tuple[float, ...]:
    from .enhance.config import SNR_RANGE

    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in dB, got {text!r}") from None
    lo, hi = SNR_RANGE
    if not all(math.isfinite(v) and lo <= v <= hi for v in vals):
        raise argparse.ArgumentTypeError(f"SNRs must be finite and within [{lo:g}, {hi:g}] dB, got {text!r}")
    return vals


def _int_at_least(minimum: int):
    """An argparse type: an int ``>= minimum``."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {v}")
        return v

    return parse


_positive_int, _count = _int_at_least(1), _int_at_least(0)


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="jaxspec", description="Spectral processing for speech enhancement in JAX.")
    p.add_argument("--version", action="version", version=f"jaxspec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    tour = sub.add_parser("tour", help="print what an STFT of a generated chirp looks like and round-trip it")
    tour.set_defaults(func=_tour)

    demo = sub.add_parser("demo", help="train a mask estimator on the shipped corpus, evaluate, write a table, wavs and a figure")
    demo.add_argument("--steps", type=_positive_int, default=None, help="training steps (default: the config's, 1500)")
    demo.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT}/)")
    demo.add_argument("--config", default=None, help="a TrainConfig JSON file (default: TrainConfig())")
    demo.add_argument("--eval-clips", type=_positive_int, default=None, help="evaluate on the first N held-out clips only")
    demo.add_argument("--no-pesq", action="store_true", help="skip PESQ (it runs on the host, clip by clip)")
    demo.add_argument("--snrs", type=_snr_list, default=(0.0, 5.0), metavar="DB[,DB...]",
                      help="input SNRs of the evaluation, comma-separated (default 0,5; the summary needs 0)")
    demo.set_defaults(func=_demo)

    src = "a directory (searched recursively for .wav/.flac/.ogg) or a text file listing paths"
    tr = sub.add_parser("train", help="train (or resume) a mask estimator in a work directory")
    tr.add_argument("--workdir", required=True, help="where checkpoints/, metrics.jsonl and train_log.json go")
    tr.add_argument("--config", default=None, help="a TrainConfig JSON file (default: TrainConfig())")
    tr.add_argument("--steps", type=_positive_int, default=None, help="override the config's step count")
    tr.add_argument("--speech", default=None, help=f"training speech: {src} (default: the shipped corpus)")
    tr.add_argument("--noise", default=None, help=f"training noise: {src} (default: generated from a key)")
    tr.add_argument("--rir", default=None, help=f"room impulse responses to reverberate the speech with: {src}")
    tr.add_argument("--valid-speech", default=None, help=f"validation speech ({src}); with --valid-noise")
    tr.add_argument("--valid-noise", default=None, help=f"validation noise ({src}); with --valid-speech")
    tr.add_argument("--workers", type=_count, default=None, help="data-loading worker processes (default: the config's, 0)")
    tr.add_argument("--threads", type=_positive_int, default=None, help="data-reading threads per process (default: the config's, 2)")
    tr.add_argument("--skip-bad-files", action="store_true", help="skip unreadable/empty/non-finite audio files instead of stopping")
    tr.add_argument("--no-resume", action="store_true", help="start from scratch even if a checkpoint exists")
    tr.add_argument("--coordinator", default=None, help="multi-process training: HOST:PORT of process 0")
    tr.add_argument("--num-processes", type=_positive_int, default=None, help="multi-process training: number of processes")
    tr.add_argument("--process-id", type=_count, default=None, help="multi-process training: this process's index")
    tr.set_defaults(func=_train)

    en = sub.add_parser("enhance", help="enhance a mono or multichannel audio file at any sample rate")
    en.add_argument("input", help="input audio file (anything soundfile reads); '-' for raw PCM on stdin with --stream")
    en.add_argument("-o", "--output", required=True, help="output file (format from the extension); '-' for raw PCM on stdout with --stream")
    en.add_argument("--checkpoint", default=DEFAULT_OUT, help=f"work directory of a training run (default {DEFAULT_OUT}/, from `jaxspec demo`)")
    en.add_argument("--griffin-lim", type=_count, default=0, metavar="N",
                    help="estimate the phase with N Griffin-Lim iterations from the enhanced magnitude "
                         "(default 0: keep the input's phase)")
    en.add_argument("--stream", action="store_true",
                    help="enhance as the input comes and write as it goes (input/output '-': raw 16-bit PCM on "
                         "stdin/stdout); prints the real-time factor")
    en.add_argument("--block-ms", type=_positive_float, default=100.0, metavar="MS",
                    help="with --stream: block length in milliseconds (default 100)")
    en.add_argument("--rate", type=_positive_int, default=None, help="with --stream and input '-': sample rate of the raw PCM")
    en.add_argument("--channels", type=_positive_int, default=None, help="with --stream and input '-': channels of the raw PCM")
    en.set_defaults(func=_enhance)

    mp = sub.add_parser("make-pairs", help="write a dataset of (input, target) spectrogram pairs for training with pairs=DIR")
    mp.add_argument("--out", required=True, help="directory for pairs.json and the .npy shards")
    mp.add_argument("--examples", type=_positive_int, required=True, help="number of pairs")
    mp.add_argument("--config", default=None, help="a TrainConfig JSON file (task, STFT, sources)")
    mp.add_argument("--speech", default=None, help=f"speech: {src} (default: the shipped corpus)")
    mp.add_argument("--noise", default=None, help=f"noise: {src} (default: generated)")
    mp.add_argument("--rir", default=None, help=f"room impulse responses: {src} (default: synthetic for dereverb tasks)")
    mp.add_argument("--shard-size", type=_positive_int, default=256, help="pairs per shard (default 256)")
    mp.set_defaults(func=_make_pairs)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status.

    Args:
      argv: command-line arguments without the program name; default ``sys.argv[1:]``.

    Returns:
      ``int`` exit status: 0 success, 1 training stopped on non-finite values, 2 an error in the
      arguments, config, data, checkpoint or files (one line on stderr), 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args))
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxspec: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        if e.name not in ("grain", "orbax", "matplotlib"):
            raise
        print(f"jaxspec: {e}; the example needs its extra: pip install 'jaxspec[enhance]'", file=sys.stderr)
        return 2
    except USER_ERRORS as e:
        if os.environ.get("JAXSPEC_DEBUG"):
            raise
        cmd = getattr(locals().get("args"), "command", None) or ""
        msg = " ".join(str(e).split())  # one line
        print(f"jaxspec {cmd}: {msg}".replace("  ", " "), file=sys.stderr)
        return 2


def main_entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
