"""The ``[lan]`` table of config.toml: ``quiet_for``, how long a LAN node that brings nothing keeps its place in a
full table (samizdat.mesh.room)."""

from __future__ import annotations

from pathlib import Path

import pytest

from samizdat.config import DEFAULT_CONFIG, load_config
from samizdat.errors import UsageError
from samizdat.mesh.room import QUIET_FOR


def test_quiet_for_is_read_and_defaults_to_the_rooms(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[lan]\nquiet_for = 45\n", encoding="utf-8")
    assert load_config(tmp_path).lan_quiet_for == 45.0
    assert load_config(tmp_path / "nowhere").lan_quiet_for == QUIET_FOR
    (tmp_path / "config.toml").write_text(DEFAULT_CONFIG, encoding="utf-8")  # what init writes says the default
    assert load_config(tmp_path).lan_quiet_for == QUIET_FOR


@pytest.mark.parametrize("value", ["5", "100000", "true", '"300"'])
def test_a_quiet_for_out_of_bounds_is_one_sentence(tmp_path: Path, value: str) -> None:
    (tmp_path / "config.toml").write_text(f"[lan]\nquiet_for = {value}\n", encoding="utf-8")
    with pytest.raises(UsageError, match="lan.quiet_for must be a number of seconds from 10 to 86400"):
        load_config(tmp_path)
