"""``samizdat keys export`` and ``samizdat init --import-key`` as a person uses them: the node's passphrase, then
an export password; the ncryptsec opens in nostr-sdk to the node's key, and one made by nostr-sdk becomes a new
node's identity."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conftest import CliResult, assert_no_traceback, cli_env, command
from samizdat.core import bech32
from samizdat.testing import TEST_PASSPHRASE

if TYPE_CHECKING:
    from conftest import Cli

sdk = pytest.importorskip("nostr_sdk")


def run_with(home: Path, lines: list[str], tmp_path: Path, *args: str) -> CliResult:
    """``samizdat ARGS`` with a passphrase file holding ``lines`` (one answer a line, in the order asked)."""
    answers = tmp_path / "answers"
    answers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    environment = {**cli_env(), "SAMIZDAT_PASSPHRASE_FILE": str(answers)}
    done = subprocess.run(
        command(home, *args), capture_output=True, text=True, timeout=120, env=environment,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_no_traceback(result)
    return result


def test_an_export_opens_in_nostr_sdk_to_the_nodes_key(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    pubkey = cli.json("keys", "show")["pubkey"]
    result = run_with(cli.home, [TEST_PASSPHRASE, "a long export password"], tmp_path, "keys", "export")
    assert result.code == 0, result.err
    assert "key to everything" in result.err
    ncryptsec = result.out.strip()
    assert ncryptsec.startswith("ncryptsec1")
    assert TEST_PASSPHRASE not in result.out
    secret = sdk.EncryptedSecretKey.from_bech32(ncryptsec).decrypt("a long export password")
    assert sdk.Keys(secret).public_key().to_hex() == pubkey
    wrong = sdk.EncryptedSecretKey.from_bech32(ncryptsec)
    with pytest.raises(Exception):  # noqa: B017, PT011 - nostr-sdk's own error class
        wrong.decrypt(TEST_PASSPHRASE)  # the node's passphrase does not open it


def test_an_export_needs_the_node_passphrase_first(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    result = run_with(cli.home, ["not the passphrase", "export"], tmp_path, "keys", "export")
    assert result.code == 1
    assert "wrong passphrase" in result.err
    assert "ncryptsec" not in result.out


def test_an_ncryptsec_made_by_nostr_sdk_becomes_a_new_nodes_identity(make_cli: Any, tmp_path: Path) -> None:
    made = sdk.SecretKey.generate()
    ncryptsec = sdk.EncryptedSecretKey(made, "ключ пароль", 16, sdk.KeySecurity.UNKNOWN).to_bech32()
    cli = make_cli("imported")
    result = run_with(cli.home, ["ключ пароль", TEST_PASSPHRASE], tmp_path, "init", "--import-key", ncryptsec)
    assert result.code == 0, result.err
    assert cli.json("keys", "show")["pubkey"] == sdk.Keys(made).public_key().to_hex()
    again = run_with(cli.home, ["ключ пароль"], tmp_path, "init", "--import-key", ncryptsec)
    assert again.code == 1
    assert "set up already" in again.err


def test_a_wrong_import_password_is_one_sentence_and_makes_nothing(make_cli: Any, tmp_path: Path) -> None:
    ncryptsec = sdk.EncryptedSecretKey(sdk.SecretKey.generate(), "right", 16, sdk.KeySecurity.UNKNOWN).to_bech32()
    cli = make_cli("refused")
    result = run_with(cli.home, ["wrong", TEST_PASSPHRASE], tmp_path, "init", "--import-key", ncryptsec)
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines == ["error: wrong password for this ncryptsec (or the string is damaged)"]
    assert not (cli.home / "keys.slots").exists()


def test_an_ncryptsec_needing_more_memory_than_there_is_says_so_in_one_line(make_cli: Any, tmp_path: Path) -> None:
    # A valid string asking for the most NIP-49 rounds we accept (2^22: 4 GiB), opened where a process may have
    # 1.5 GB: one sentence about memory, not "holds no valid secret key" and not a traceback.
    payload = bytes([2, 22]) + bytes(40) + b"\x02" + bytes(48)
    ncryptsec = bech32.encode("ncryptsec", payload)
    cli = make_cli("small")
    answers = tmp_path / "answers"
    answers.write_text("password\n" + TEST_PASSPHRASE + "\n", encoding="utf-8")

    def small_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    done = subprocess.run(
        command(cli.home, "init", "--import-key", ncryptsec), capture_output=True, text=True, timeout=120,
        env={**cli_env(), "SAMIZDAT_PASSPHRASE_FILE": str(answers)}, stdin=subprocess.DEVNULL, check=False,
        preexec_fn=small_memory,
    )  # fmt: skip
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_no_traceback(result)
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "2^22 rounds" in lines[0]
    assert "memory" in lines[0]
    assert not (cli.home / "keys.slots").exists()
