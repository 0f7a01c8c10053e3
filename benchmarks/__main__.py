"""Run the benchmark suites in one process and write JSON + a markdown table.

    python -m benchmarks [--cores 1] [--suite stft --suite masks] [--quick] [--out benchmarks/results]

Each ``benchmarks/bench_<name>.py`` exposes ``run(ctx) -> list[dict]`` (rows made with
``_harness.row``) and optionally ``summarize(rows) -> list[str]`` (markdown lines: ratios against
targets). Results go to ``<out>/<name>.json`` and ``<out>/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import time

# glibc: keep freed pages in the heap so fresh-page faults do not dominate the timings. These must
# be in the environment before the process starts, so re-exec once with them set.
_MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 34), "MALLOC_TOP_PAD_": str(1 << 28)}


def _suites() -> list[str]:
    import benchmarks

    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def write_markdown(out: str) -> None:
    """Rebuild ``RESULTS.md`` from every suite's JSON in ``out`` (each suite keeps its own meta)."""
    md = ["# Benchmark results", "", "Written by `python -m benchmarks`; one section per suite, each with the run it came from.",
          "Compare ratios within a section, not absolute times across sections.", ""]
    for fname in sorted(f for f in os.listdir(out) if f.endswith(".json")):
        with open(os.path.join(out, fname)) as f:
            data = json.load(f)
        meta = data["meta"]
        md += [f"## {fname[:-5]}", "", f"{meta['date']}, {meta['device']}, {meta['cores']} core(s), jax {meta['jax']}"
               + (f"; torch {meta['torch']}" if meta.get("torch") else "")
               + (" — quick run, not for reporting" if meta.get("quick") else ""), "",
               "| benchmark | implementation | median ms | compile ms |", "|---|---|---:|---:|"]
        for r in data["rows"]:
            comp = f"{r['compile_ms']:.0f}" if r.get("compile_ms") is not None else ""
            md.append(f"| {r['name']} | {r['impl']} | {r['median_ms']:.2f} | {comp} |")
        md += [""] + list(data.get("summary", [])) + [""]
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("\n".join(md) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cores", type=int, default=None, help="pin the process to this many cores (os.sched_setaffinity); 1 recommended")
    p.add_argument("--suite", action="append", default=None, help=f"suite(s) to run; default all of: {', '.join(_suites())}")
    p.add_argument("--quick", action="store_true", help="tiny shapes and 2 repeats (smoke test)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = p.parse_args(argv)

    if any(os.environ.get(k) != v for k, v in _MALLOC.items()) and not os.environ.get("JAXSPEC_BENCH_NO_REEXEC"):
        env = dict(os.environ, **_MALLOC, JAXSPEC_BENCH_NO_REEXEC="1")
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks"] + (sys.argv[1:] if argv is None else list(argv)), env)

    if args.cores:
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)
        # one intra-op thread per pinned core for XLA CPU and torch
        os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + f" --xla_cpu_multi_thread_eigen={'false' if args.cores == 1 else 'true'}"
        os.environ.setdefault("OMP_NUM_THREADS", str(args.cores))
        try:
            import torch

            torch.set_num_threads(args.cores)
        except ImportError:
            pass

    import jax

    from ._harness import Ctx, torch_info

    ctx = Ctx(repeats=2 if args.quick else args.repeats, quick=args.quick)
    suites = args.suite or _suites()
    unknown = sorted(set(suites) - set(_suites()))
    if unknown:
        p.error(f"unknown suite(s) {unknown}; available: {_suites()}")
    out = args.out
    if args.quick and out == p.get_default("out"):
        import tempfile

        out = tempfile.mkdtemp(prefix="jaxspec-bench-")  # quick runs never overwrite real results
    os.makedirs(out, exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device": str(jax.devices()[0].device_kind) + f" ({jax.default_backend()})",
        "cpu": platform.processor() or platform.machine(),
        "cores": args.cores or len(os.sched_getaffinity(0)),
        "jax": jax.__version__,
        "quick": args.quick,
    }
    for name in suites:
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}", flush=True)
        rows = mod.run(ctx)
        for r in rows:
            comp = f"  compile {r['compile_ms']:.0f} ms" if r.get("compile_ms") is not None else ""
            print(f"  {r['name']:<34} {r['impl']:<28} {r['median_ms']:9.2f} ms{comp}", flush=True)
        summary = mod.summarize(rows) if hasattr(mod, "summarize") else []
        for line in summary:
            print("  " + line)
        suite_meta = dict(meta)
        if any("torch" in r["impl"] for r in rows) and torch_info():
            suite_meta["torch"] = torch_info()  # the reference's version and device (cuda when JAX is on a GPU)
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump({"meta": suite_meta, "rows": rows, "summary": summary}, f, indent=1)
    write_markdown(out)
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
