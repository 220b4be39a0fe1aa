"""``[relay] trusted_proxies``, ``max_connections_per_ip``, ``host_names`` and ``allowed_origins`` in config.toml,
and ``serve --trusted-proxy``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from samizdat.cli import app
from samizdat.config import load_config
from samizdat.errors import UsageError


def write(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_trusted_proxies_and_the_per_address_cap_are_read(tmp_path: Path) -> None:
    write(tmp_path, '[relay]\ntrusted_proxies = ["10.0.0.5", "10.1.0.0/16", "2001:db8::1/128"]\n'
                    "max_connections_per_ip = 1000\n")  # fmt: skip
    config = load_config(tmp_path)
    assert config.trusted_proxies == ("10.0.0.5/32", "10.1.0.0/16", "2001:db8::1/128")
    assert config.max_connections_per_ip == 1000
    assert load_config(tmp_path / "nowhere").trusted_proxies == ()  # none by default: no header is taken


def test_host_names_and_allowed_origins_are_read(tmp_path: Path) -> None:
    write(tmp_path, '[relay]\nhost_names = ["Relay.Example.org"]\n'
                    'allowed_origins = ["https://Client.example/", "http://192.168.1.7:3000",'
                    ' "http://[::1]:8080"]\n')  # fmt: skip
    config = load_config(tmp_path)
    assert config.host_names == ("relay.example.org",)
    assert config.allowed_origins == ("https://client.example", "http://192.168.1.7:3000", "http://[::1]:8080")
    assert load_config(tmp_path / "nowhere").host_names == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[relay]\nhost_names = ["https://relay.example.org"]\n', "is not a host name"),
        ('[relay]\nhost_names = "relay.example.org"\n', "relay.host_names must be a list of host names"),
        ('[relay]\nallowed_origins = ["client.example"]\n', "is not a web origin"),
        ('[relay]\nallowed_origins = ["https://client.example/app"]\n', "is not a web origin"),
        ('[relay]\nallowed_origins = ["https://client.example:99999"]\n', "is not a web origin"),
        ('[relay]\ntrusted_proxies = "10.0.0.5"\n', "relay.trusted_proxies must be a list"),
        ('[relay]\ntrusted_proxies = ["10.0.0.500"]\n', "'10.0.0.500' is not an address or a network"),
        ("[relay]\ntrusted_proxies = [5]\n", "relay.trusted_proxies must be a list"),
        ('[relay]\nmax_connections_per_ip = "many"\n', "max_connections_per_ip must be an integer"),
    ],
)
def test_a_bad_relay_table_is_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(UsageError, match=message):
        load_config(tmp_path)


def test_a_bad_trusted_proxy_on_the_command_line_is_one_sentence(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "serve", "--trusted-proxy", "balancer.example"])
    assert isinstance(result.exception, UsageError)  # `samizdat` prints it as one sentence (samizdat/__main__.py)
    assert "--trusted-proxy: 'balancer.example' is not an address or a network" in str(result.exception)


def test_trusted_proxies_with_the_relays_own_tls_is_one_sentence(tmp_path: Path) -> None:
    write(tmp_path, '[relay]\ntrusted_proxies = ["10.0.0.5"]\n')
    args = ["--home", str(tmp_path), "serve", "--tls-cert", "cert.pem", "--tls-key", "key.pem"]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, UsageError)
    assert "terminate TLS at the proxy" in str(result.exception)
