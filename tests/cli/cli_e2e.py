"""The end-to-end helpers of tests/e2e/conftest.py (real ``samizdat`` command processes on real homes), for the
command-line tests here: that conftest is not on this directory's import path, so it is loaded once as a module
of its own (``e2e``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_E2E = Path(__file__).parents[1] / "e2e" / "conftest.py"
_spec = importlib.util.spec_from_file_location("samizdat_e2e_helpers_cli", _E2E)
assert _spec is not None
assert _spec.loader is not None
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)
