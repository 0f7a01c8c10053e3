"""Input checks shared through jaxspec._checks: non-numeric arrays, complex traced-allowed numbers,
shape mismatches, output-size bounds. Module-specific errors live in each module's test file."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxspec as js
from jaxspec import _checks

S = np.ones((33, 5), np.complex64)


@pytest.mark.parametrize("bad", [None, "abc", b"x", ["a", "b"], np.array(["a"]), object()])
@pytest.mark.parametrize("call,what", [(lambda v: js.stft(v, n_fft=16), "stft: x"),
                                       (js.power, "power: S"), (js.magnitude, "magnitude: S"),
                                       (lambda v: js.istft(v), "istft: S")])
def test_non_numeric_inputs_raise_type_error_naming_the_argument(call, what, bad):
    with pytest.raises(TypeError, match=rf"{what} must be a numeric array \(NumPy or JAX\) or number"):
        call(bad)


def test_numeric_inputs_still_accepted():
    assert js.stft([0.0] * 64, n_fft=16).shape == (9, 17)  # lists of floats
    assert js.power(np.ones(3, jnp.bfloat16)).dtype == jnp.float32
    assert js.power(np.float32(2.0)) == 4.0


def test_polar_shape_mismatch_names_both_arguments():
    with pytest.raises(ValueError, match=r"polar: mag of shape \(3, 4\) and phase of shape \(5,\) do not broadcast"):
        js.polar(np.ones((3, 4)), np.ones(5))
    assert js.polar(np.ones((2, 3, 4), np.float32), np.zeros((3, 1), np.float32)).shape == (2, 3, 4)


def test_irm_beta_shape_checked():
    with pytest.raises(ValueError, match=r"irm: beta of shape \(3,\) does not broadcast to the shape \(33, 5\) of clean"):
        js.masks.irm(S, S, beta=np.ones(3))
    with pytest.raises(ValueError, match=r"irm: beta of shape \(2, 1, 1\) does not broadcast"):  # would grow the output
        js.masks.irm(S, S, beta=np.ones((2, 1, 1)))
    batch = np.ones((2, 33, 5), np.complex64)
    m = js.masks.irm(batch, batch, beta=np.array([0.5, 1.0])[:, None, None])
    np.testing.assert_allclose(np.asarray(m)[0], np.sqrt(0.5), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(m)[1], 0.5, rtol=1e-5)


def test_real_dtype_and_concrete_real():
    with pytest.raises(TypeError, match="f: r must be real, got complex"):
        _checks.real_dtype("f", "r", np.complex64(1))
    with pytest.raises(TypeError, match="f: r must be real, got complex"):
        jax.jit(lambda r: _checks.real_dtype("f", "r", r))(1j)
    with pytest.raises(TypeError, match="f: r must be a real number or array, got the boolean"):
        _checks.real_dtype("f", "r", np.bool_(True))
    with pytest.raises(TypeError, match="f: r must be a numeric array"):
        _checks.real_dtype("f", "r", "1.5")
    with pytest.raises(ValueError, match=r"f: r must be in \[0, 1\] \(why\), got"):
        _checks.concrete_real("f", "r", np.array([0.5, 2.0]), low=0.0, high=1.0, note=" (why)")
    with pytest.raises(ValueError, match="f: r must be finite"):
        _checks.concrete_real("f", "r", float("inf"))
    _checks.concrete_real("f", "r", np.array([0.0, 1.0]), low=0.0, high=1.0)
    jax.jit(lambda r: _checks.concrete_real("f", "r", r, low=0.0) or r)(-5.0)  # traced: only the dtype is checked


def test_output_size_limit():
    _checks.output_size("f", "the output", _checks.MAX_OUTPUT_ELEMENTS)
    with pytest.raises(ValueError, match=r"f: the output would have 2.684e\+08 elements per example, more than the limit"):
        _checks.output_size("f", "the output", _checks.MAX_OUTPUT_ELEMENTS + 1)
    with pytest.raises(ValueError, match="limit"):
        _checks.output_size("f", "the output", float("nan"))
