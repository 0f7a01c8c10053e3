import os
import shutil
import tempfile

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


# The slowest files first: `make test` runs `-n 2 --dist loadfile`, and a long file collected last
# (alphabetically, test_train.py is near the end) would leave one worker running it alone.
_SLOW_FIRST = ("test_train.py", "test_sharding.py", "test_cli.py", "test_noise_families.py", "test_readme.py",
               "test_band_model.py", "test_enhance_anyrate.py", "test_dereverb.py", "test_enhance_data.py")

_CACHE_ENV = {"JAX_COMPILATION_CACHE_DIR": None, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
              "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


# The suite's programs are small and mostly compiled once, so compiling is most of its time: LLVM's
# optimisation level 0 compiles about a third faster (the suite: 541 s against 645-741 s on the
# 2-core machine) and runs the code 2-2.5x slower, which small shapes hardly notice. XLA's own
# passes (fusion, sharding, the HLO the tests read) are unchanged. At this level jnp.max's gradient
# through log_mel was NaN (LLVM rounded two copies of a fused expression differently; hence
# _numerics.amax): the contract tests now run where that shows. An XLA_FLAGS that sets the level
# already (e.g. `XLA_FLAGS=--xla_backend_optimization_level=3 make test`) is kept.
_OPT_LEVEL = "--xla_backend_optimization_level"


def pytest_configure(config):
    """LLVM's optimisation level 0 (above) and one fresh compilation cache for the run, shared by
    the xdist workers and by the subprocesses the tests start (both inherit the environment, set
    here before they exist and before JAX starts its backend): many tests compile the same
    programs in different processes. The cache is removed at the end; a cache directory already
    set in the environment is used as it is."""
    if hasattr(config, "workerinput"):
        return
    if _OPT_LEVEL not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_OPT_LEVEL}=0".strip()
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    config._jax_cache = tempfile.mkdtemp(prefix="jaxspec-test-jax-cache-")
    for name, value in _CACHE_ENV.items():
        os.environ[name] = value or config._jax_cache
        jax.config.update(name.lower(), int(value) if value else config._jax_cache)


def pytest_unconfigure(config):
    if getattr(config, "_jax_cache", None):
        shutil.rmtree(config._jax_cache, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a file kept
