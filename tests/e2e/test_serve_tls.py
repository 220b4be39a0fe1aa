"""``samizdat serve --tls-cert F --tls-key F``: the web app over HTTPS and the relay over WSS on one port, with a
throwaway certificate made by openssl; Chromium (trusting that certificate only) keeps the app and reads offline
after one visit; and a missing or mismatched file is one sentence, not a traceback."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.sync.client import connect

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

WAIT = 20.0
CHROMIUM = "/usr/bin/chromium"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (openssl, Debian's)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (Debian's openssl package)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=WAIT,
    )  # fmt: skip
    return cert, key


def spki_hash(cert: Path) -> str:
    """The base64 SHA-256 of the certificate's public key (Chromium's --ignore-certificate-errors-spki-list)."""
    der = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], check=True, capture_output=True, timeout=WAIT
    ).stdout
    spki = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=der, check=True, capture_output=True, timeout=WAIT
    ).stdout
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_https_and_wss_on_one_port(cli: Cli, serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    cli.ok("init")
    address = cli.json("channel", "create", "district", "--name", "District news")["address"]
    cli.ok("post", "district", "--type", "news", "Over TLS")
    cert, key = make_certificate(tmp_path)
    node = serve(cli.home, "--tls-cert", str(cert), "--tls-key", str(key))
    trusted = ssl.create_default_context(cafile=str(cert))

    with urllib.request.urlopen(f"https://127.0.0.1:{node.port}/", context=trusted, timeout=WAIT) as response:
        assert response.status == 200
        assert "Content-Security-Policy" in response.headers
        assert b'id="seed"' in response.read()
    with pytest.raises(ConnectionError):  # plain HTTP is not answered on a TLS port
        urllib.request.urlopen(f"http://127.0.0.1:{node.port}/", timeout=WAIT)

    with connect(f"wss://127.0.0.1:{node.port}", ssl=trusted, open_timeout=WAIT) as ws:
        ws.send(json.dumps(["REQ", "s", {"kinds": [2333], "#a": [address]}]))
        texts = []
        for _ in range(10):
            message = json.loads(ws.recv(timeout=WAIT))
            if message[0] == "EOSE":
                break
            texts.append(message[2]["content"])
    assert any("Over TLS" in text for text in texts), texts
    assert "https://127.0.0.1:" in node.output()  # serve says where the app is, with https

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  f"--ignore-certificate-errors-spki-list={spki_hash(cert)}"],
        )  # fmt: skip
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
            context.set_default_timeout(WAIT * 1000)
            page = context.new_page()
            page.goto(f"https://127.0.0.1:{node.port}/#/c/{address}")
            sync_api.expect(page.locator(".post", has_text="Over TLS")).to_be_visible()
            assert page.evaluate("() => window.isSecureContext")
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # the app is kept
            context.set_offline(True)
            page.reload()
            sync_api.expect(page.locator("#conn")).to_have_text("offline")
            sync_api.expect(page.locator(".post", has_text="Over TLS")).to_be_visible()
        finally:
            browser.close()


def test_bad_certificate_files_are_one_sentence(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    cert, key = make_certificate(tmp_path)
    missing = cli.fails("serve", "--port", "0", "--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key))
    assert "nope.pem does not exist" in missing.err
    (tmp_path / "other").mkdir()
    other_cert, _ = make_certificate(tmp_path / "other")
    wrong = cli.fails("serve", "--port", "0", "--tls-cert", str(other_cert), "--tls-key", str(cert))
    assert "cannot use the TLS certificate" in wrong.err
    only_cert = cli.fails("serve", "--port", "0", "--tls-cert", str(cert))
    assert "both a certificate and its key" in only_cert.err
