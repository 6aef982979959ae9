"""The suite fails on a deprecation raised through rdmldg code, and only on those."""

from __future__ import annotations

import warnings

import pytest

from conftest import LIBRARY


def _warn_from(filename: str, category: type[Warning]) -> None:
    code = compile("warnings.warn('old API', category)", filename, "exec")
    exec(code, {"warnings": warnings, "category": category})


@pytest.mark.parametrize("category", [FutureWarning, DeprecationWarning])
def test_a_deprecation_through_library_code_is_an_error(category):
    with pytest.raises(category, match=r"old API \[reached through .*rdmldg"):
        _warn_from(f"{LIBRARY}/some_module.py", category)


def test_other_warnings_stay_warnings():
    with pytest.warns(FutureWarning, match="old API"):
        _warn_from("/elsewhere/third_party.py", FutureWarning)
    with pytest.warns(UserWarning):
        _warn_from(f"{LIBRARY}/some_module.py", UserWarning)
