"""Checkpoints of the enhancement example, with orbax-checkpoint.

A checkpoint is one orbax step directory ``WORKDIR/checkpoints/<step>/`` holding two items:
``state`` (the model's and the optimiser's arrays, ``StandardSave``) and ``meta`` (JSON: the
step, the config, the data iterator's state and the jaxspec version). Orbax writes each step to a
temporary directory and renames it when complete, so an interrupted write never replaces a good
checkpoint; the last ``keep`` steps are kept. Nothing is pickled.

:func:`restore_latest` walks the steps newest first and takes the first one that restores and
passes the checks (it finished writing and no file of its array store changed since: sizes and
SHA-256 digests are recorded in ``state_files.json`` after orbax commits the step; its config is valid, its step is within the config's ``steps``, every array
has the shape and dtype the config's model and optimiser have, and every value is finite); each
one it passes over is reported with the reason, so a partial, corrupt or tampered latest
checkpoint falls back to the previous one with a message saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Callable

import jax
import numpy as np
from flax import nnx

from .config import TrainConfig

CHECKPOINT_DIR = "checkpoints"


class CheckpointError(ValueError):
    """No usable checkpoint (missing, corrupt or not matching the config)."""


class ConfigMismatch(CheckpointError):
    """The work directory's checkpoint was written with another config."""


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)


def _manager(directory: str, *, keep: int = 3, create: bool = True):
    import orbax.checkpoint as ocp

    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create, enable_async_checkpointing=False)
    return ocp.CheckpointManager(directory, options=opts)


def _pure(tree) -> dict:
    return nnx.to_pure_dict(nnx.state(tree))


def _tree_finite(tree) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree.leaves(tree)
               if np.issubdtype(np.asarray(x).dtype, np.inexact))


def save(workdir: str, model, optimizer, cfg: TrainConfig, step: int, *, data_state: dict | None = None) -> str:
    """Write step ``step`` (model, optimiser, config, data-iterator state) as one unit.

    Raises:
      ValueError: a parameter is not finite (nothing is written: the last finite checkpoint stays).
    """
    import orbax.checkpoint as ocp

    state = {"model": _pure(model), "optimizer": _pure(optimizer)}
    if not _tree_finite(state["model"]):
        raise ValueError(f"refusing to save step {step}: the model has non-finite parameters")
    meta = {"step": int(step), "config": cfg.to_dict(), "data": data_state or {}, "jaxspec": _version()}
    directory = checkpoint_dir(workdir)
    mngr = _manager(directory, keep=cfg.keep_checkpoints)
    try:
        mngr.save(int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                  force=True)
        mngr.wait_until_finished()
    finally:
        mngr.close()
    step_dir = os.path.join(directory, str(int(step)))
    if jax.process_index() == 0:
        write_digest(step_dir)
    return step_dir


DIGEST = "state_files.json"


def _digest(state_dir: str) -> dict:
    out = {}
    for root, dirs, files in os.walk(state_dir):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[os.path.relpath(p, state_dir)] = [os.path.getsize(p), h.hexdigest()]
    return out


def write_digest(step_dir: str) -> None:
    """Record the size and SHA-256 of every file of a step's array store (``state/``), written last:
    a step without it did not finish, and a file that no longer matches it is damaged."""
    tmp = os.path.join(step_dir, DIGEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_digest(os.path.join(step_dir, "state")), f)
    os.replace(tmp, os.path.join(step_dir, DIGEST))


def _verify_digest(step_dir: str, where: str) -> None:
    try:
        with open(os.path.join(step_dir, DIGEST), encoding="utf-8") as f:
            want = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{where}: incomplete (no {DIGEST}: its write did not finish)") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{where}: damaged {DIGEST} ({e})") from None
    have = _digest(os.path.join(step_dir, "state"))
    for name, (size, sha) in want.items():
        if name not in have:
            raise CheckpointError(f"{where}: damaged (state/{name} is missing)")
        if have[name][0] != size:
            raise CheckpointError(f"{where}: damaged (state/{name} has {have[name][0]} bytes, {size} were written)")
        if have[name][1] != sha:
            raise CheckpointError(f"{where}: damaged (state/{name} changed since it was written)")


def _version() -> str:
    from .._version import __version__

    return __version__


def steps(workdir: str) -> list[int]:
    """The complete checkpoint steps in ``workdir`` (or a ``checkpoints`` directory), oldest first."""
    d = _resolve(workdir)
    if d is None:
        return []
    return sorted(int(n) for n in os.listdir(d) if n.isdigit() and os.path.isdir(os.path.join(d, n)))


def _resolve(path: str) -> str | None:
    path = os.path.abspath(path)
    for d in (os.path.join(path, CHECKPOINT_DIR), path):
        if os.path.isdir(d) and any(n.isdigit() for n in os.listdir(d)):
            return d
    return None


def set_aside_after(workdir: str, step: int, *, log: Callable[[str], None] = print, reason: str = "unusable") -> None:
    """Move the checkpoints newer than ``step`` to ``WORKDIR/checkpoints-<reason>/`` so that a run
    can write those steps again: the unusable ones a restore passed over, or (``step=-1``) all of
    them when a run starts from scratch. Nothing is deleted."""
    d = _resolve(workdir)
    if d is None:
        return
    for s in steps(d):
        if s > step:
            dest = os.path.join(os.path.dirname(d), f"{CHECKPOINT_DIR}-{reason}", f"{s}-{time.time_ns()}")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(os.path.join(d, str(s)), dest)
            log(f"moved the {reason} checkpoint of step {s} to {dest}")


def _check_against(tree, template, where: str) -> None:
    flat_t = jax.tree_util.tree_flatten_with_path(template)[0]
    flat = dict(jax.tree_util.tree_flatten_with_path(tree)[0])
    for path, t in flat_t:
        if path not in flat:
            raise CheckpointError(f"{where}: missing array {jax.tree_util.keystr(path)}")
        a = np.asarray(flat[path])
        if a.shape != np.shape(t) or a.dtype != np.asarray(t).dtype:
            raise CheckpointError(f"{where}: array {jax.tree_util.keystr(path)} has shape {a.shape} {a.dtype}, "
                                  f"the config's model needs {np.shape(t)} {np.asarray(t).dtype}")
        if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
            raise CheckpointError(f"{where}: array {jax.tree_util.keystr(path)} holds NaN or infinite values")


def restore_latest(path: str, build: Callable[[TrainConfig], tuple], *, expect: TrainConfig | None = None,
                   log: Callable[[str], None] = print):
    """Restore the newest usable checkpoint under ``path`` (a workdir or its ``checkpoints`` directory).

    Args:
      path: the work directory.
      build: ``cfg -> (model, optimizer)`` fresh objects to restore into (they give the shapes).
      expect: when resuming, the config the checkpoint must have been written with.
      log: where fall-back messages go.

    Returns:
      ``(model, optimizer, cfg, step, data_state)``.

    Raises:
      FileNotFoundError: no checkpoint at all.
      CheckpointError: checkpoints exist but none is usable (each reason is in the message).
    """
    import orbax.checkpoint as ocp

    d = _resolve(path)
    if d is None:
        raise FileNotFoundError(f"no checkpoint in {path!r} (expected {CHECKPOINT_DIR}/<step>/ there); train one "
                                "first with `jaxspec demo` or `jaxspec train --workdir DIR`")
    problems = []
    mngr = _manager(d, create=False)
    try:
        for step in sorted(steps(d), reverse=True):
            where = f"checkpoint {os.path.join(d, str(step))}"
            try:
                meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
                if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
                    raise CheckpointError(f"{where}: its metadata has no config")
                try:
                    cfg = TrainConfig.from_dict(meta["config"], where=where)
                except (TypeError, ValueError) as e:
                    raise CheckpointError(f"{where}: {str(e).removeprefix('TrainConfig: ')}") from None
                if expect is not None and not cfg.same_run(expect):
                    raise ConfigMismatch(f"{where} was written with a different config; use another --workdir "
                                          "or start from scratch (--no-resume)")
                if meta.get("step") != step or not 0 <= step <= cfg.steps:
                    raise CheckpointError(f"{where}: step {meta.get('step')!r} does not fit (directory {step}, "
                                          f"config steps {cfg.steps})")
                if expect is not None:
                    cfg = expect  # the same run, possibly with other workers / logging / checkpoint cadence
                _verify_digest(os.path.join(d, str(step)), where)
                model, optimizer = build(cfg)
                template = {"model": _pure(model), "optimizer": _pure(optimizer)}
                state = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(template)))["state"]
                _check_against(state, template, where)
                nnx.replace_by_pure_dict(s_m := nnx.state(model), state["model"])
                nnx.update(model, s_m)
                nnx.replace_by_pure_dict(s_o := nnx.state(optimizer), state["optimizer"])
                nnx.update(optimizer, s_o)
            except ConfigMismatch:
                raise
            except CheckpointError as e:
                problems.append(str(e))
            except Exception as e:  # orbax/tensorstore raise many types for damaged files
                text = str(e).splitlines()[0] if str(e) else ""
                if "shape" in text and "not compatible" in text:
                    problems.append(f"{where}: its arrays do not have the shapes the config's model needs "
                                    f"({text[:160]})")
                else:
                    problems.append(f"{where}: unreadable ({type(e).__name__}: {text[:200]})")
            else:
                for p in problems:
                    log(f"warning: skipped {p}; using step {step} instead")
                return model, optimizer, cfg, step, meta.get("data") or {}
    finally:
        mngr.close()
    raise CheckpointError("no usable checkpoint in " + repr(d) + ": " + "; ".join(problems))
