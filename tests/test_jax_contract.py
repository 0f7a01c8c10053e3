"""Every public function under jit, vmap, grad and x64, driven by the registry (tests/registry)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.registry import all_rows

ROWS = all_rows()
ARRAY_ROWS = [r for r in ROWS if r.kind == "array"]
STATIC_ROWS = [r for r in ROWS if r.kind == "static"]


def _ids(rows):
    return [r.test_id for r in rows]


def _call(row, key, args):
    return row.fn(key, *args) if row.random else row.fn(*args)


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

    def counted(*a):
        traces.append(1)
        return _call(row, a[0], a[1:]) if row.random else row.fn(*a)

    jitted = jax.jit(counted)
    args1 = row.args(rng, (), np.float32)
    args2 = row.args(rng, (), np.float32)
    lead = (_key(0),) if row.random else ()
    eager = _call(row, _key(0), args1)
    out1 = jitted(*lead, *args1)
    out2 = jitted(*lead, *args2)
    _assert_tree_close(out1, eager, row, f"{row.test_id}: jit != eager")
    _assert_finite(out2, row.test_id)
    assert len(traces) == 1, f"{row.test_id}: re-traced on the second call with the same shapes"


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("row", ARRAY_ROWS, ids=_ids(ARRAY_ROWS))
def test_vmap_matches_loop(row, batch):
    rng = np.random.default_rng(2)
    args = row.args(rng, (batch,), np.float32)
    if row.random:
        keys = jax.random.split(_key(3), batch)
        out = jax.vmap(row.fn)(keys, *args)
        loop = [row.fn(keys[i], *(a[i] for a in args)) for i in range(batch)]
    else:
        out = jax.vmap(row.fn)(*args)
        loop = [row.fn(*(a[i] for a in args)) for i in range(batch)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *loop)
    _assert_tree_close(out, stacked, row, f"{row.test_id}: vmap != loop")


@pytest.mark.parametrize("row", [r for r in ARRAY_ROWS if r.native_batch], ids=_ids([r for r in ARRAY_ROWS if r.native_batch]))
def test_leading_batch_dims(row):
    rng = np.random.default_rng(4)
    args = row.args(rng, (2, 3), np.float32)
    if row.random:
        # native batching of random functions draws per example from one key: check shape & finiteness
        out = row.fn(_key(5), *args)
        _assert_finite(out, row.test_id)
        return
    out = row.fn(*args)
    ref = jax.vmap(jax.vmap(row.fn))(*args)
    _assert_tree_close(out, ref, row, f"{row.test_id}: batch dims (2, 3) != nested vmap")


def _loss(row, key):
    def f(*args):
        out = _call(row, key, args)
        total = 0.0
        for leaf in jax.tree.leaves(out):
            if jnp.issubdtype(leaf.dtype, jnp.inexact):
                total = total + jnp.sum(jnp.real(leaf)) + jnp.sum(jnp.imag(leaf)) + 0.1 * jnp.sum(jnp.real(leaf) ** 2)
        return total

    return f


GRAD_ROWS = [r for r in ARRAY_ROWS if r.grad_argnums]


@pytest.mark.parametrize("at", ["random", "zeros"])
@pytest.mark.parametrize("row", GRAD_ROWS, ids=_ids(GRAD_ROWS))
def test_grad_finite(row, at):
    if at == "zeros" and not row.zeros:
        pytest.skip(f"{row.test_id}: zeros not meaningful (documented in the row)")
    rng = np.random.default_rng(6)
    args = row.args(rng, (), np.float32)
    if at == "zeros":
        args = tuple(np.zeros_like(a) for a in args)
    out = _call(row, _key(7), args)
    _assert_finite(out, f"{row.test_id} value at {at}")
    grads = jax.grad(_loss(row, _key(7)), argnums=tuple(row.grad_argnums))(*args)
    _assert_finite(grads, f"{row.test_id} gradient at {at}")


@pytest.mark.parametrize("row", [r for r in ARRAY_ROWS if r.x64], ids=_ids([r for r in ARRAY_ROWS if r.x64]))
def test_dtype_follows_input(row):
    rng = np.random.default_rng(8)
    out32 = _call(row, _key(9), row.args(rng, (), np.float32))
    for leaf in jax.tree.leaves(out32):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            assert leaf.dtype in (jnp.float32, jnp.complex64), f"{row.test_id}: float32 in -> {leaf.dtype} out"
    with jax.enable_x64(True):
        out64 = _call(row, _key(9), row.args(rng, (), np.float64))
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


@pytest.mark.parametrize("row", [r for r in ARRAY_ROWS if r.random], ids=_ids([r for r in ARRAY_ROWS if r.random]))
def test_random_same_key_same_bits(row):
    rng = np.random.default_rng(10)
    args = row.args(rng, (), np.float32)
    a = row.fn(_key(11), *args)
    b = row.fn(_key(11), *args)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
