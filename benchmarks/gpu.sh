#!/usr/bin/env bash
# How the GPU benchmark numbers were made: the suites of `python -m benchmarks`, each in its own
# process and under its own `timeout`, on a GPU machine (one NVIDIA H200, 16 cores, no network).
# Run in the repository root:
#
#     OUT=/some/dir bash benchmarks/gpu.sh
#
# jaxspec is imported from the source tree (PYTHONPATH, no `pip install`). Packages the machine
# lacks (soundfile + cffi, librosa + audioread/decorator/pooch/platformdirs/soxr, pystoi, grain +
# array_record/portpicker) come as wheels in .whl/ and are installed with --no-deps into /tmp/site,
# which then leads PYTHONPATH; .whl/ holds none of jax, numpy, scipy or torch, so the machine's own
# are used. Results go to a directory of their own (never benchmarks/results/, the CPU numbers).
#
# Writes to $OUT:
#   log.txt           everything printed (machine, versions, each suite's rows and summary)
#   status.txt        one line per suite: name, exit code (124: timed out; "skipped": budget spent), seconds
#   RESULTS.md        the markdown tables of every suite that finished
#   gpu_results.tgz   <suite>.json for each finished suite, RESULTS.md and status.txt
#
# Torch references run on CUDA when JAX runs on the GPU (benchmarks/_harness.py:torch_device;
# JAXSPEC_BENCH_TORCH_DEVICE=cpu keeps them on the CPU); librosa and pystoi run on the CPU. Each
# suite's JSON names JAX's device in meta.device and torch's in meta.torch.
#
# Knobs: JAXSPEC_GPU_BUDGET (seconds for all suites together, default 270), JAXSPEC_GPU_SUITES
# (space-separated list, default below), JAXSPEC_GPU_SMOKE=1 (the stft suite with --quick, and no
# GPU required: a dry run of this script on any machine), JAXSPEC_GPU_NO_WHEELS=1 (skip the wheel
# install, e.g. in a local venv), PYTHON (interpreter, default python3).

set -u
OUT=${OUT:-/tmp/jaxspec-gpu-out}
mkdir -p "$OUT"
: >"$OUT/log.txt"

main() {
    local PY=${PYTHON:-python3}
    local RES=${JAXSPEC_GPU_RESULTS:-/tmp/jaxspec-gpu-results}
    local BUDGET=${JAXSPEC_GPU_BUDGET:-270}
    local CAP=${JAXSPEC_GPU_SUITE_CAP:-150}    # at most this long for any one suite
    local MIN_LEFT=25                           # do not start a suite with less budget than this
    # per-transform suites first, then, while the budget lasts: scaling (matmul vs FFT on the GPU),
    # input (the grain loader on the CPUs against the GPU step's demand), longfile (a 10-minute
    # resample; its peak RSS is host memory)
    local SUITES=${JAXSPEC_GPU_SUITES:-"stft features vocoder pipeline augment metrics train scaling input longfile"}
    local QUICK=()
    if [ "${JAXSPEC_GPU_SMOKE:-0}" = 1 ]; then
        SUITES=${JAXSPEC_GPU_SUITES:-stft}
        QUICK=(--quick)
    fi

    echo "== $(date -u '+%F %T') UTC, $(hostname), $(nproc) cores"
    if [ "${JAXSPEC_GPU_NO_WHEELS:-0}" != 1 ] && ls .whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
            || { echo "wheel install failed"; return 1; }
        export PYTHONPATH=/tmp/site:$PWD
    else
        export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    fi
    # JAX takes GPU memory as it needs it (not 75% up front), so torch and the longfile suite's
    # child process can share the card
    export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
    export JAXSPEC_BENCH_SCALING_HOST=${JAXSPEC_BENCH_SCALING_HOST:-0}  # scaling: only the device's matmul-vs-FFT part
    echo "PYTHONPATH=$PYTHONPATH"

    echo "== nvidia-smi"
    nvidia-smi -L 2>&1 || echo "(no nvidia-smi)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
    echo "== python, packages, devices"
    "$PY" - <<'EOF' || { echo "environment check failed"; return 1; }
import importlib, os, sys
print(sys.version.split()[0], sys.executable)
for name in ("jax", "jaxlib", "flax", "optax", "orbax.checkpoint", "numpy", "scipy", "torch", "librosa", "soundfile",
             "soxr", "numba", "pystoi", "grain", "array_record"):
    try:
        m = importlib.import_module(name)
        print(f"  {name:<17} {getattr(m, '__version__', '?'):<14} {os.path.dirname(getattr(m, '__file__', '') or '')}")
    except Exception as e:  # noqa: BLE001
        print(f"  {name:<17} NOT IMPORTABLE: {type(e).__name__}: {e}")
import jax
print("jax.devices():", jax.devices(), "backend:", jax.default_backend())
import jaxspec, jaxspec.enhance, jaxspec.enhance.input_pipeline  # noqa: E401,F401
print("jaxspec", jaxspec.__version__, "from", os.path.dirname(jaxspec.__file__))
try:
    import torch
    print("torch.cuda:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
except ImportError:
    pass
if jax.default_backend() not in ("gpu", "cuda") and os.environ.get("JAXSPEC_GPU_SMOKE") != "1":
    sys.exit("JAX sees no GPU: stopping (JAXSPEC_GPU_SMOKE=1 runs anyway)")
EOF

    rm -rf "$RES" && mkdir -p "$RES"
    : >"$RES/status.txt"
    local start=$SECONDS s left t rc t0
    for s in $SUITES; do
        left=$((BUDGET - (SECONDS - start)))
        if [ "$left" -lt "$MIN_LEFT" ]; then
            echo "== $s: skipped, ${left}s of the budget left"
            echo "$s skipped 0" >>"$RES/status.txt"
            continue
        fi
        t=$((left < CAP ? left : CAP))
        echo "== suite $s (timeout ${t}s, $(date -u +%T))"
        t0=$SECONDS
        timeout -k 10 "$t" "$PY" -m benchmarks --suite "$s" "${QUICK[@]}" --out "$RES"
        rc=$?
        echo "== suite $s: exit $rc after $((SECONDS - t0))s"
        echo "$s $rc $((SECONDS - t0))" >>"$RES/status.txt"
    done

    echo "== device memory after the runs"
    nvidia-smi --query-gpu=memory.used,memory.total --format=csv 2>&1 || true
    if ls "$RES"/*.json >/dev/null 2>&1; then
        "$PY" -c "from benchmarks.__main__ import write_markdown; write_markdown('$RES')"
        cp "$RES/RESULTS.md" "$OUT/RESULTS.md"
    fi
    cp "$RES/status.txt" "$OUT/status.txt"
    tar czf "$OUT/gpu_results.tgz" -C "$RES" .
    echo "== status"
    cat "$RES/status.txt"
    echo "== wrote $(ls "$OUT" | tr '\n' ' ')in $OUT; total $((SECONDS - start))s of suites"
}

main 2>&1 | tee -a "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
