"""Guards the API conventions of everything in ``jaxspec.__all__`` (STYLE.md point 3)."""

from __future__ import annotations

import inspect
import types

import pytest

import jaxspec
from tests.registry import all_rows

NAMESPACES = {"masks", "bands", "streaming"}  # submodules re-exported as namespaces: their own __all__ is walked


def _public():
    out = []
    for name in jaxspec.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(jaxspec, name)
        if isinstance(obj, types.ModuleType):
            for sub in getattr(obj, "__all__", []):
                out.append((f"{name}.{sub}", getattr(obj, sub)))
        else:
            out.append((name, obj))
    return out


PUBLIC = _public()
FUNCTIONS = [(n, o) for n, o in PUBLIC if inspect.isfunction(o)]


def test_all_names_exist_and_dir_is_clean():
    for name in jaxspec.__all__:
        assert hasattr(jaxspec, name), name
    assert len(set(jaxspec.__all__)) == len(jaxspec.__all__), "duplicate names in __all__"
    assert isinstance(jaxspec.__version__, str)


@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_signature_conventions(name, fn):
    params = list(inspect.signature(fn).parameters.values())
    names = [p.name for p in params]
    for bad in ("rng", "seed", "prng", "rng_key"):
        assert bad not in names, f"{name}: use 'key', not {bad!r}"
    if "key" in names:
        p = params[names.index("key")]
        # key first, or keyword-only where it is optional (e.g. griffin_lim(..., key=None))
        assert names[0] == "key" or p.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: key must come first"
    for p in params:
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            assert p.default is inspect.Parameter.empty, (
                f"{name}: configuration argument {p.name!r} must be keyword-only (put it after '*')")


@pytest.mark.parametrize("name,obj", PUBLIC, ids=[n for n, _ in PUBLIC])
def test_docstrings(name, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{name}: missing docstring"
    if inspect.isfunction(obj):
        assert "Args:" in doc or not inspect.signature(obj).parameters, f"{name}: docstring needs an Args: section"
        assert "Returns:" in doc, f"{name}: docstring needs a Returns: section"


def test_every_public_function_has_a_registry_row():
    rows = {r.name for r in all_rows()}
    missing = [n for n, _ in FUNCTIONS if n not in rows and n not in EXEMPT]
    assert not missing, f"public functions without a row in tests/registry: {missing}"


# Public functions that cannot be exercised by the array registry, with the reason; each has its
# own tests in the module's test file.
EXEMPT = {
    "load": "I/O: reads files (tests/test_io.py)",
    "save": "I/O: writes files (tests/test_io.py)",
    "save_spectrogram": "I/O: writes files (tests/test_io.py)",
    "load_spectrogram": "I/O: reads files (tests/test_io.py)",
    "pesq": "host-side evaluation helper calling the pesq package (tests/test_metrics.py)",
    "streaming.collect": "host-side concatenation of streamed outputs (tests/test_streaming.py)",
}
