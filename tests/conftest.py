import os

import hypothesis
import jax
import numpy as np
import pytest

# Small machine: keep hypothesis example counts low; deadline=None because first calls compile.
hypothesis.settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.register_profile("dev", max_examples=10, deadline=None,
                                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def x64():
    """Run a test body with float64 enabled (restored afterwards)."""
    with jax.enable_x64(True):
        yield
