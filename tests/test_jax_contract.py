"""Every public function under jit, vmap, grad and x64, driven by the registry (tests/registry).

Cost control (2-core CI): only the jit-vs-eager test runs the function eagerly; every other check
uses compiled functions cached per row and shape, dtype checks use ``jax.eval_shape`` (tracing,
no compile), and one compiled gradient serves both the random and the all-zero inputs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.registry import all_rows

ROWS = all_rows()
ARRAY_ROWS = [r for r in ROWS if r.kind == "array"]
STATIC_ROWS = [r for r in ROWS if r.kind == "static"]
GRAD_ROWS = [r for r in ARRAY_ROWS if r.grad_argnums]
BATCH_ROWS = [r for r in ARRAY_ROWS if r.native_batch]
X64_ROWS = [r for r in ARRAY_ROWS if r.x64]
RANDOM_ROWS = [r for r in ARRAY_ROWS if r.random]


def _ids(rows):
    return [r.test_id for r in rows]


def _call(row, key, args):
    return row.fn(key, *args) if row.random else row.fn(*args)


@functools.lru_cache(maxsize=None)
def _jitted(row):
    """jit of the row's function taking (key, *arrays); shared by the loop/batch/grad checks."""
    return jax.jit(lambda key, *args: _call(row, key, args))


def _assert_tree_close(a, b, row, what):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb), what
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, f"{what}: shape {x.shape} != {y.shape}"
        if x.dtype == bool or np.issubdtype(x.dtype, np.integer):
            np.testing.assert_array_equal(x, y, err_msg=what)
        else:
            np.testing.assert_allclose(x, y, atol=row.atol, rtol=row.rtol, err_msg=what)


def _assert_finite(tree, what):
    for leaf in jax.tree.leaves(tree):
        leaf = np.asarray(leaf)
        if np.issubdtype(leaf.dtype, np.inexact):
            assert np.all(np.isfinite(leaf)), f"{what}: non-finite values"


def _key(i=0):
    return jax.random.key(i)


@pytest.mark.parametrize("row", ARRAY_ROWS, ids=_ids(ARRAY_ROWS))
def test_jit_matches_eager_and_does_not_retrace(row):
    rng = np.random.default_rng(1)
    traces = []

    def counted(key, *a):
        traces.append(1)
        return _call(row, key, a)

    jitted = jax.jit(counted)
    args1 = row.args(rng, (), np.float32)
    args2 = row.args(rng, (), np.float32)
    eager = _call(row, _key(0), args1)
    out1 = jitted(_key(0), *args1)
    out2 = jitted(_key(1), *args2)
    _assert_tree_close(out1, eager, row, f"{row.test_id}: jit != eager")
    _assert_finite(out2, row.test_id)
    assert len(traces) == 1, f"{row.test_id}: re-traced on the second call with the same shapes"


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("row", ARRAY_ROWS, ids=_ids(ARRAY_ROWS))
def test_vmap_matches_loop(row, batch):
    rng = np.random.default_rng(2)
    args = row.args(rng, (batch,), np.float32)
    f = _jitted(row)
    if row.random:  # per-example keys
        keys = jax.random.split(_key(3), batch)
        out = jax.jit(jax.vmap(f))(keys, *args)
        loop = [f(keys[i], *(a[i] for a in args)) for i in range(batch)]
    else:
        out = jax.jit(jax.vmap(f, in_axes=(None,) + (0,) * len(args)))(_key(3), *args)
        loop = [f(_key(3), *(a[i] for a in args)) for i in range(batch)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *loop)
    _assert_tree_close(out, stacked, row, f"{row.test_id}: vmap != loop")


@pytest.mark.parametrize("row", BATCH_ROWS, ids=_ids(BATCH_ROWS))
def test_leading_batch_dims(row):
    rng = np.random.default_rng(4)
    args = row.args(rng, (2, 3), np.float32)
    f = _jitted(row)
    if row.random:
        # native batching of a random function draws per example from one key: shapes and finiteness
        out = f(_key(5), *args)
        single = jax.eval_shape(f, _key(5), *row.args(rng, (), np.float32))
        for o, s in zip(jax.tree.leaves(out), jax.tree.leaves(single)):
            assert o.shape[len(o.shape) - len(s.shape):] == s.shape, row.test_id
        _assert_finite(out, row.test_id)
        return
    out = f(_key(5), *args)
    inner = jax.vmap(f, in_axes=(None,) + (0,) * len(args))
    ref = jax.jit(jax.vmap(inner, in_axes=(None,) + (0,) * len(args)))(_key(5), *args)
    _assert_tree_close(out, ref, row, f"{row.test_id}: batch dims (2, 3) != nested vmap")


def _loss(row):
    def f(key, *args):
        out = _call(row, key, args)
        total = 0.0
        for leaf in jax.tree.leaves(out):
            if jnp.issubdtype(leaf.dtype, jnp.inexact):
                total = total + jnp.sum(jnp.real(leaf)) + jnp.sum(jnp.imag(leaf)) + 0.1 * jnp.sum(jnp.real(leaf) ** 2)
        return total

    return f


@pytest.mark.parametrize("row", GRAD_ROWS, ids=_ids(GRAD_ROWS))
def test_grad_finite_at_random_inputs_and_at_zeros(row):
    """Finite value and gradient at random inputs and (unless the row says why not) at silence."""
    rng = np.random.default_rng(6)
    args = row.args(rng, (), np.float32)
    value_and_grad = jax.jit(jax.value_and_grad(_loss(row), argnums=tuple(1 + i for i in row.grad_argnums)))
    cases = {"random": args}
    if row.zeros:
        zero = range(len(args)) if row.zero_argnums is None else row.zero_argnums
        cases["zeros"] = tuple(np.zeros_like(a) if i in zero else a for i, a in enumerate(args))
    for at, case in cases.items():
        _assert_finite(_jitted(row)(_key(7), *case), f"{row.test_id} value at {at}")
        val, grads = value_and_grad(_key(7), *case)
        _assert_finite((val, grads), f"{row.test_id} gradient at {at}")


@pytest.mark.parametrize("row", X64_ROWS, ids=_ids(X64_ROWS))
def test_dtype_follows_input(row):
    rng = np.random.default_rng(8)
    f = lambda key, *a: _call(row, key, a)  # noqa: E731
    out32 = jax.eval_shape(f, _key(9), *row.args(rng, (), np.float32))
    for leaf in jax.tree.leaves(out32):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            assert leaf.dtype in (jnp.float32, jnp.complex64), f"{row.test_id}: float32 in -> {leaf.dtype} out"
    with jax.enable_x64(True):
        out64 = jax.eval_shape(f, _key(9), *row.args(rng, (), np.float64))
        for leaf in jax.tree.leaves(out64):
            if jnp.issubdtype(leaf.dtype, jnp.inexact):
                assert leaf.dtype in (jnp.float64, jnp.complex128), f"{row.test_id}: float64 in -> {leaf.dtype} out"


@pytest.mark.parametrize("row", STATIC_ROWS, ids=_ids(STATIC_ROWS))
def test_static_helpers(row):
    out = row.fn()
    _assert_finite(out, row.test_id)
    # usable as a constant inside a compiled function
    jitted = jax.jit(lambda z: jax.tree.map(lambda o: z + jnp.sum(jnp.asarray(o, jnp.float32)), out))
    _assert_finite(jitted(jnp.float32(0.0)), row.test_id)


@pytest.mark.parametrize("row", RANDOM_ROWS, ids=_ids(RANDOM_ROWS))
def test_random_same_key_same_bits_different_key_different_bits(row):
    rng = np.random.default_rng(10)
    args = row.args(rng, (), np.float32)
    f = _jitted(row)
    a, b = f(_key(11), *args), f(_key(11), *args)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # a discrete draw (e.g. Choice of a few SNRs) may repeat for two keys, but not for eight
    others = [f(_key(12 + i), *args) for i in range(8)]
    assert any(not np.array_equal(np.asarray(x), np.asarray(z))
               for c in others for x, z in zip(jax.tree.leaves(a), jax.tree.leaves(c))), \
        f"{row.test_id}: different keys gave identical output"
