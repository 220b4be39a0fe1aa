"""The ``[store]`` table of config.toml: where the event store lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from samizdat.config import load_config
from samizdat.errors import UsageError


def write(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_store_urls_are_read(tmp_path: Path) -> None:
    write(
        tmp_path, '[store]\nurl = "postgresql://relay@db/samizdat"\nread_url = "postgresql://relay@replica/samizdat"\n'
    )
    config = load_config(tmp_path)
    assert config.store_url == "postgresql://relay@db/samizdat"
    assert config.store_read_url == "postgresql://relay@replica/samizdat"
    assert load_config(tmp_path / "nowhere").store_url == ""  # no file: events.sqlite in the home


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[store]\nurl = "sqlite:///x"\n', "store.url must be a PostgreSQL URL"),
        ("[store]\nurl = 5\n", "url must be a string"),
        ('[store]\nread_url = "postgresql://replica/db"\n', "store.read_url needs store.url"),
    ],
)
def test_a_bad_store_table_is_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(UsageError, match=message):
        load_config(tmp_path)
