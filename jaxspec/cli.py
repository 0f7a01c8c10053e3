"""The ``jaxspec`` command line: ``jaxspec --version``, ``jaxspec tour`` (more commands are added
by the training example). ``main(argv) -> int`` is what tests call; ``main_entry`` is the console
script."""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxspec", description="Spectral processing for speech enhancement in JAX.")
    p.add_argument("--version", action="version", version=f"jaxspec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    tour = sub.add_parser("tour", help="print what an STFT of a generated chirp looks like and round-trip it")
    tour.set_defaults(func=_tour)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status.

    Args:
      argv: command-line arguments without the program name; default ``sys.argv[1:]``.

    Returns:
      ``int`` exit status (0 on success).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


def main_entry() -> None:
    sys.exit(main())
