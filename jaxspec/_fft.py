"""The FFTs every transform of the library goes through, partitioned over leading (batch) dims.

XLA's SPMD partitioner does not partition FFT ops: on a mesh, a ``jnp.fft.rfft`` of a
batch-sharded array all-gathers the batch and runs the whole global FFT on every device. The
functions here wrap the FFT in :func:`jax.experimental.custom_partitioning` with one rule:
*every dimension keeps its sharding except the transformed (last) one, which must be replicated*.
So a batch sharded over any mesh axes stays sharded, each device transforms only its own rows,
and the result carries the input's batch sharding; only when the transformed axis itself is
sharded is that one axis gathered (nothing else). Unsharded and single-device programs lower to
the plain FFT, so their numbers are unchanged.

``custom_partitioning`` has no JVP or batching rule of its own, so each op is also wrapped in

* a ``custom_vjp`` whose backward pass is the transposed FFT, itself a partitioned op (the
  transpose of ``rfft`` is a scaled ``irfft`` of the conjugated cotangent and vice versa, the same
  formulas as ``jax.lax.fft``'s transpose rules, so single-device gradients are unchanged too);
  forward-mode differentiation (``jax.jvp``, ``jacfwd``) is not supported, as for any
  ``custom_vjp``;
* a ``custom_vmap`` whose rule moves the mapped axis to the front and calls the op again (the op
  already takes any number of leading dims).

Eager (non-traced) calls use ``jnp.fft`` directly.

Also here: framing and overlap-add, and :func:`synthesis`, the inverse FFT, window and
overlap-add of :func:`jaxspec.istft` as one such op (its backward pass goes through the
partitioned ``rfft``), which on CPU runs over groups of rows in a loop.

Also here: the windowed DFT-as-matmul forward and inverse real transforms (``fft_impl="matmul"``
of :func:`jaxspec.stft`/:func:`jaxspec.istft`), which are matmuls and so are partitioned by XLA
itself.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding, PartitionSpec

from ._checks import is_traced

FFT_IMPLS = ("fft", "matmul")


# ----------------------------------------------------------------------------- partitioning rule


def _core_replicated(sharding, ndim: int, core: int = 1):
    """``sharding`` with the last ``core`` of ``ndim`` dims replicated; the other dims keep theirs."""
    if isinstance(sharding, NamedSharding):
        spec = tuple(sharding.spec) + (None,) * (ndim - len(sharding.spec))
        return NamedSharding(sharding.mesh, PartitionSpec(*spec[:ndim - core], *(None,) * core))
    return sharding  # no mesh to name the axes by: keep what the partitioner chose


_RULES = {(1, 1, False): ("... i -> ... j", ("i", "j")),
          (2, 1, True): ("... i j, n -> ... k", ("i", "j", "n", "k"))}


def _partition_batch(fn, core_in: int = 1, core_out: int = 1, window: bool = False):
    """A ``custom_partitioning`` of ``fn``, a map of one array whose last ``core_in`` dims become
    the last ``core_out`` dims of the result, row by row over the leading (batch) dims: the batch
    dims keep their sharding, the core dims are replicated. With ``window``, ``fn`` takes a second
    operand, a 1-D window, replicated (``custom_partitioning`` takes no closed-over constants)."""
    op = custom_partitioning(fn)

    def infer(mesh, arg_shapes, result_shape):
        del mesh
        return _core_replicated(arg_shapes[0].sharding, len(result_shape.shape), core_out)

    def partition(mesh, arg_shapes, result_shape):
        a = arg_shapes[0]
        args = (_core_replicated(a.sharding, len(a.shape), core_in),)
        if window:
            args += (_core_replicated(arg_shapes[1].sharding, 1, 1),)
        out = _core_replicated(a.sharding, len(result_shape.shape), core_out)
        return mesh, fn, out, args

    def propagate(mesh, user_shape):
        del mesh
        return _core_replicated(user_shape.sharding, len(user_shape.shape), core_in)

    rule, factors = _RULES[(core_in, core_out, window)]
    op.def_partition(
        infer_sharding_from_operands=infer,
        partition=partition,
        propagate_user_sharding=propagate,
        sharding_rule=rule,
        need_replication_factors=factors,
    )
    return op


def _batched(op):
    """``op`` (any leading dims) under ``vmap``: move the mapped axis to the front, call it again."""
    wrapped = custom_vmap(op)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, x, *rest):
        del axis_size
        if any(in_batched[1:]):
            raise TypeError("jaxspec._fft: only the signal may be batched, not the window")
        return wrapped(x, *rest), in_batched[0]  # custom_vmap hands the mapped axis at position 0

    return wrapped


@functools.lru_cache(maxsize=None)
def _rfft_op(n: int):
    return _batched(_partition_batch(lambda x: jnp.fft.rfft(x, n=n, axis=-1)))


@functools.lru_cache(maxsize=None)
def _irfft_op(n: int):
    return _batched(_partition_batch(lambda X: jnp.fft.irfft(X, n=n, axis=-1)))


def _hermitian_mask(n: int, dtype) -> np.ndarray:
    """1 for the DC (and, for even ``n``, Nyquist) bin, 2 for the others: the rfft bins' weights."""
    m = np.full(n // 2 + 1, 2.0)
    m[0] = 1.0
    if n % 2 == 0:
        m[-1] = 1.0
    return m.astype(dtype)


@functools.lru_cache(maxsize=None)
def _rfft_last(n: int):
    """``rfft`` of length ``n`` over the last axis (size ``n``), partitioned, with its VJP."""

    @jax.custom_vjp
    def f(x):
        return _rfft_op(n)(x)

    def fwd(x):
        return f(x), None

    def bwd(_, t):
        mask = _hermitian_mask(n, jnp.finfo(t.dtype).dtype)
        return (n * _irfft_op(n)(jnp.conj(t) / mask),)

    f.defvjp(fwd, bwd)
    return f


@functools.lru_cache(maxsize=None)
def _irfft_last(n: int):
    """``irfft`` to length ``n`` over the last axis (size ``n // 2 + 1``), partitioned, with its VJP."""

    @jax.custom_vjp
    def f(X):
        return _irfft_op(n)(X)

    def fwd(X):
        return f(X), None

    def bwd(_, t):
        mask = _hermitian_mask(n, t.dtype)
        return (jnp.conj(_rfft_op(n)(t) * (mask / n)),)

    f.defvjp(fwd, bwd)
    return f


def _fit(x: jax.Array, size: int) -> jax.Array:
    """Zero-pad or trim the last axis to ``size`` (what ``n=`` does in ``jnp.fft``)."""
    have = x.shape[-1]
    if have > size:
        return x[..., :size]
    if have < size:
        return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, size - have)])
    return x


def rfft(x: jax.Array, n: int | None = None, axis: int = -1) -> jax.Array:
    """``jnp.fft.rfft(x, n, axis)``, partitioned over every other axis on a mesh.

    Every axis except ``axis`` keeps its sharding; ``axis`` itself is gathered if it is sharded
    (the transform needs all of it on one device). Under ``grad`` the backward pass is a
    partitioned ``irfft``.

    Args:
      x: real array ``(..., samples)`` (with ``axis=-1``).
      n: transform length (static); ``x`` is zero-padded or trimmed to it. Default
        ``x.shape[axis]``.
      axis: the transformed axis (static).

    Returns:
      complex ``(..., n // 2 + 1)`` (at ``axis``), complex64 for float32 input.
    """
    x = jnp.asarray(x)
    if not is_traced(x):
        return jnp.fft.rfft(x, n=n, axis=axis)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"rfft: x must be real, got {x.dtype}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    n = x.shape[axis] if n is None else int(n)
    x = jnp.moveaxis(x, axis, -1)
    y = _rfft_last(n)(_fit(x, n))
    return jnp.moveaxis(y, -1, axis)


def irfft(X: jax.Array, n: int | None = None, axis: int = -1) -> jax.Array:
    """``jnp.fft.irfft(X, n, axis)``, partitioned over every other axis on a mesh.

    Every axis except ``axis`` keeps its sharding; ``axis`` itself is gathered if it is sharded.
    Under ``grad`` the backward pass is a partitioned ``rfft``.

    Args:
      X: complex array ``(..., freq)`` (with ``axis=-1``); trimmed or zero-padded to
        ``n // 2 + 1`` bins.
      n: output length (static); default ``2 * (freq - 1)``.
      axis: the transformed axis (static).

    Returns:
      real ``(..., n)`` (at ``axis``), float32 for complex64 input.
    """
    X = jnp.asarray(X)
    if not is_traced(X):
        return jnp.fft.irfft(X, n=n, axis=axis)
    if not jnp.issubdtype(X.dtype, jnp.complexfloating):
        X = X.astype(jnp.result_type(X.dtype, jnp.complex64))
    n = 2 * (X.shape[axis] - 1) if n is None else int(n)
    X = jnp.moveaxis(X, axis, -1)
    y = _irfft_last(n)(_fit(X, n // 2 + 1))
    return jnp.moveaxis(y, -1, axis)


# ----------------------------------------------------------------------------- framing and synthesis


def frame_rows(x: jax.Array, frame_length: int, hop: int) -> jax.Array:
    """``(..., samples)`` -> ``(..., frames, frame_length)`` by reshapes and shifted slices (no gather)."""
    L = x.shape[-1]
    n = 1 + (L - frame_length) // hop
    q = -(-frame_length // hop)  # slices of one hop that cover a frame
    need = (n + q - 1) * hop
    if need > L:  # the extra zeros land only in the part of the last frames that is cut off
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, need - L)])
    elif need < L:
        x = x[..., :need]
    blocks = x.reshape(x.shape[:-1] + (n + q - 1, hop))
    if q == 1:
        return blocks[..., :n, :frame_length]
    # q shifted views of the blocks, stacked and merged: (..., n, q, hop) -> (..., n, q * hop).
    # Measured 2x faster than concatenating along the last axis on XLA CPU, and as fast as a gather.
    frames = jnp.stack([blocks[..., k:k + n, :] for k in range(q)], axis=-2)
    frames = frames.reshape(blocks.shape[:-2] + (n, q * hop))
    return frames if q * hop == frame_length else frames[..., :frame_length]


def overlap_add(frames: jax.Array, hop: int) -> jax.Array:
    """``(..., frames, L)`` -> ``(..., L + hop * (frames - 1))``, the sum of the shifted frames (adjoint of framing)."""
    n, L = frames.shape[-2:]
    q = -(-L // hop)
    batch = frames.shape[:-2]
    if q * hop > L:
        frames = jnp.pad(frames, [(0, 0)] * (frames.ndim - 1) + [(0, q * hop - L)])
    parts = frames.reshape(batch + (n, q, hop))
    nb = len(batch)
    out = None
    for k in range(q):  # q = ceil(L / hop) shifted adds, fused by XLA
        shifted = jnp.pad(parts[..., k, :], [(0, 0)] * nb + [(k, q - 1 - k), (0, 0)])
        out = shifted if out is None else out + shifted
    return out.reshape(batch + ((n + q - 1) * hop,))[..., : L + hop * (n - 1)]


# On CPU the fused synthesis runs row by row (``lax.map`` over groups of batch rows of about this
# many frames): each row's transpose from the (freq, frames) layout, its frames and their
# overlap-add stay in cache, where for the whole batch each is a pass through memory (measured
# 1.55x faster for 32 x 4 s). Other platforms transform the whole batch at once. The analysis has
# no such loop: its transpose is fused by XLA into whatever consumes the spectrum (a power, a
# mask), which a loop would prevent. 0 turns the loop off.
_ROW_FRAMES = 512


def _by_rows(fn, x: jax.Array, core: int, frames: int) -> jax.Array:
    """``fn`` (a row map over the last ``core`` dims) over groups of rows of ``x`` with ``lax.map``."""
    batch = x.shape[:x.ndim - core]
    rows = math.prod(batch)
    if rows <= 1:
        return fn(x)
    flat = x.reshape((rows,) + x.shape[x.ndim - core:])
    y = jax.lax.map(fn, flat, batch_size=max(1, min(rows, _ROW_FRAMES // max(frames, 1))))
    return y.reshape(batch + y.shape[1:])


def _on_cpu_by_rows(fn, x: jax.Array, core: int, frames: int) -> jax.Array:
    if not _ROW_FRAMES:  # the loop turned off (the sharding tests read the per-device FFT shapes)
        return fn(x)
    return jax.lax.platform_dependent(x, cpu=lambda v: _by_rows(fn, v, core, frames), default=fn)


@functools.lru_cache(maxsize=64)
def _synthesis_fn(n: int, hop: int, window: bytes, frames_first: bool = False):
    w = np.frombuffer(window, np.float64)

    def plain(S, wj=None, transform=jnp.fft.irfft):  # (..., freq, frames) -> (..., n + hop * (frames - 1))
        frames = transform(S if frames_first else jnp.swapaxes(S, -1, -2), n=n, axis=-1)
        return overlap_add(frames * (jnp.asarray(w, frames.dtype) if wj is None else wj), hop)

    def local(S, wj):
        if frames_first:  # no transpose to keep in cache: the row loop measured slower here
            return plain(S, wj)
        return _on_cpu_by_rows(lambda v: plain(v, wj), S, 2, S.shape[-1])

    op = _batched(_partition_batch(local, 2, 1, window=True))

    @jax.custom_vjp
    def f(S):
        return op(S, jnp.asarray(w, jnp.finfo(S.dtype).dtype))

    def fwd(S):  # nothing saved: the map is linear, its transpose needs only the shapes
        return f(S), None

    def bwd(_, g):
        frames = 1 + (g.shape[-1] - n) // hop
        core = (frames, n // 2 + 1) if frames_first else (n // 2 + 1, frames)
        S0 = jnp.zeros(g.shape[:-1] + core, jnp.result_type(g.dtype, jnp.complex64))
        return jax.vjp(lambda v: plain(v, transform=irfft), S0)[1](g)  # (its forward pass is dead code)

    f.defvjp(fwd, bwd)
    return plain, f


def synthesis(S: jax.Array, *, n: int, hop: int, window: np.ndarray, frames_first: bool = False) -> jax.Array:
    """``overlap_add(window * irfft(swapaxes(S, -1, -2), n))`` in one fused op, partitioned over the
    leading dims (the core of :func:`jaxspec.istft`, before the window-sum-square division).

    Args:
      S: complex ``(..., n // 2 + 1, frames)``, or ``(..., frames, n // 2 + 1)`` with
        ``frames_first`` (then no transpose at all).
      n: frame and FFT length (static).
      hop: hop in samples (static).
      window: ``(n,)`` NumPy window (any scale folded in).
      frames_first: the layout of ``S`` (static).

    Returns:
      real ``(..., n + hop * (frames - 1))``.
    """
    plain, op = _synthesis_fn(int(n), int(hop), _window_bytes(window, n), bool(frames_first))
    return op(S) if is_traced(S) else plain(S)


# ----------------------------------------------------------------------------- DFT as a matmul

_HIGHEST = jax.lax.Precision.HIGHEST


@functools.lru_cache(maxsize=64)
def _analysis_matrix(n: int, window: bytes, dtype: str) -> np.ndarray:
    """``(n, 2 * freq)``: ``[w * cos | -w * sin]``, so ``frames @ M`` = (re, im) of ``rfft(w * frames)``."""
    w = np.frombuffer(window, np.float64)
    k = np.arange(n // 2 + 1)
    ang = 2.0 * np.pi * (np.outer(np.arange(n), k) % n) / n  # (n, freq); the modulo keeps the phase exact
    return np.concatenate([w[:, None] * np.cos(ang), -w[:, None] * np.sin(ang)], axis=1).astype(dtype)


@functools.lru_cache(maxsize=64)
def _synthesis_matrix(n: int, window: bytes, dtype: str) -> np.ndarray:
    """``(2 * freq, n)``: ``[re | im] @ M`` = ``w * irfft(re + i im, n)`` (imag of DC/Nyquist ignored)."""
    w = np.frombuffer(window, np.float64)
    k = np.arange(n // 2 + 1)
    ang = 2.0 * np.pi * (np.outer(k, np.arange(n)) % n) / n  # (freq, n)
    c = _hermitian_mask(n, np.float64)[:, None] / n
    return np.concatenate([c * np.cos(ang) * w, -c * np.sin(ang) * w], axis=0).astype(dtype)


def _window_bytes(window, n: int) -> bytes:
    w = np.ones(n) if window is None else np.asarray(window, np.float64)
    if w.shape != (n,):
        raise ValueError(f"dft: window must have shape ({n},), got {w.shape}")
    return np.ascontiguousarray(w).tobytes()


def rfft_matmul(frames: jax.Array, *, window=None) -> jax.Array:
    """``rfft(window * frames)`` over the last axis as one real matmul, transposed to ``(..., freq, frames)``.

    The window is folded into an ``(n, 2 * freq)`` matrix of cosines and sines built with NumPy at
    trace time; the real and imaginary planes come out of one ``dot`` at
    ``precision=HIGHEST``. A matmul is partitioned over the leading dims by XLA itself.

    Args:
      frames: real ``(..., frames, n)``.
      window: ``(n,)`` NumPy analysis window folded into the matrix; None for no window.

    Returns:
      complex ``(..., n // 2 + 1, frames)`` (the STFT layout), complex64 for float32 input.
    """
    n = frames.shape[-1]
    M = _analysis_matrix(n, _window_bytes(window, n), np.dtype(frames.dtype).name)
    y = jnp.einsum("...tn,nf->...ft", frames, jnp.asarray(M), precision=_HIGHEST)
    F = n // 2 + 1
    return jax.lax.complex(y[..., :F, :], y[..., F:, :])


def irfft_matmul(S: jax.Array, *, n: int, window=None) -> jax.Array:
    """``window * irfft(S, n)`` over the frequency axis of an STFT-layout array, as one real matmul.

    Args:
      S: complex ``(..., n // 2 + 1, frames)`` (the STFT layout).
      n: frame length (static).
      window: ``(n,)`` NumPy synthesis window folded into the matrix; None for no window.

    Returns:
      real ``(..., frames, n)``, float32 for complex64 input.
    """
    rdt = jnp.finfo(S.dtype).dtype
    M = _synthesis_matrix(n, _window_bytes(window, n), np.dtype(rdt).name)
    planes = jnp.concatenate([jnp.real(S), jnp.imag(S)], axis=-2)  # (..., 2 freq, frames)
    return jnp.einsum("...ft,fn->...tn", planes, jnp.asarray(M), precision=_HIGHEST)
