"""Small guarantees: written files keep the umask's mode; the numerics pins and their switch."""

from __future__ import annotations

import os
import stat

import pytest

from rdmldg import numerics
from rdmldg.io import atomic_write_text, write_jsonl


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        atomic = atomic_write_text(tmp_path / "atomic.txt", "x")
        lines = write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (plain, atomic, lines)} == {mode}


def test_pins_cover_every_library_and_the_switch_turns_them_off(monkeypatch):
    monkeypatch.delenv(numerics.MODE_VAR, raising=False)
    monkeypatch.delenv(numerics.THREADS_VAR, raising=False)
    pins = numerics.pins()
    assert pins["ATEN_CPU_CAPABILITY"] == "avx2" and pins["MKL_CBWR"] == "COMPATIBLE"
    assert pins["OPENBLAS_CORETYPE"] == "Haswell" and "X86_V4" in pins["NPY_DISABLE_CPU_FEATURES"]
    assert pins["OMP_NUM_THREADS"] == pins["MKL_NUM_THREADS"] == "2"
    monkeypatch.setenv(numerics.THREADS_VAR, "4")
    assert numerics.pins()["OMP_NUM_THREADS"] == "4"
    env = {"ATEN_CPU_CAPABILITY": "avx512"}
    numerics.apply(env)
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"  # the pin wins over what the machine set
    monkeypatch.setenv(numerics.MODE_VAR, "native")
    assert numerics.pins() == {}


@pytest.mark.parametrize("var, value", [(numerics.MODE_VAR, "fast"), (numerics.THREADS_VAR, "0"),
                                        (numerics.THREADS_VAR, "two")])
def test_bad_switch_values_are_named(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):
        numerics.pins()
