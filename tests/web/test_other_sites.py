"""A page of another site, open in a browser on the node's own machine, learns nothing from the node.

The browser is Debian's Chromium. ``evil.test`` is a site of its own, on 127.0.0.1 (the browser's resolver maps
the name there, as a site's DNS would for DNS rebinding). Its page tries what any page on the web can do without
asking: open a WebSocket to the node and subscribe, load one of the node's pictures as an ``<img>``, read its
NIP-11 document (which NIP-11 lets every origin read). Before, each told the page that a Samizdat node runs here,
and the WebSocket handed it the channels the node carries; even refused (a 403 it could not read), a no-cors
fetch told it that something answers. Now everything it tries goes as on a port where nothing listens. Then it
opens the node's own pages under its own name.
Needs Debian's chromium (scripts/system-packages.sh web)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli, chromium_resolving

TIMEOUT_MS = 20_000
#: The other site's page: what it learns about whatever listens on 127.0.0.1:PORT, and the same about CLOSED, a
#: port where nothing listens, in ``window.learned``.
PAGE = """<!doctype html><meta charset="utf-8"><title>news</title><script>
function probe(node) {
  const learned = {ws: "not open", messages: [], img: "", nip11: "", nocors: ""};
  const ws = new WebSocket("ws://" + node + "/");
  ws.onopen = () => { learned.ws = "open"; ws.send('["REQ","x",{"limit":20}]'); };
  ws.onmessage = (m) => learned.messages.push(m.data);
  const img = new Image();
  img.onload = () => { learned.img = "loaded"; };
  img.onerror = () => { learned.img = "error"; };
  img.src = "http://" + node + "/icon.svg";
  fetch("http://" + node + "/", {headers: {Accept: "application/nostr+json"}})
    .then((r) => r.text()).then((t) => { learned.nip11 = t; }, () => { learned.nip11 = "blocked"; });
  // An opaque answer (any status, even a 403 it cannot read) would tell the page that something answers.
  fetch("http://" + node + "/status", {mode: "no-cors"})
    .then(() => { learned.nocors = "answered"; }, () => { learned.nocors = "failed"; });
  // A popup of the app's page: its Cross-Origin-Opener-Policy would show the opener the window as closed.
  const popup = window.open("http://" + node + "/");
  setTimeout(() => { learned.popup = popup ? String(popup.closed) : "blocked"; }, 2500);
  return learned;
}
const node = probe("127.0.0.1:PORT"), closed = probe("127.0.0.1:CLOSED");
setTimeout(() => { window.learned = {node, closed}; }, 3000);
</script>"""


class _Site(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[Callable[[int], int]]:
    """``start(node_port)``: the other site's server on 127.0.0.1, its page aimed at the node; returns its port."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(node_port: int) -> int:
        with socket.socket() as free:  # a port where nothing listens, to compare with
            free.bind(("127.0.0.1", 0))
            closed = free.getsockname()[1]
        page = PAGE.replace("PORT", str(node_port)).replace("CLOSED", str(closed))
        handler = type("Site", (_Site,), {"page": page.encode()})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def evil_browser() -> Iterator[Any]:
    with chromium_resolving("evil.test") as browser:
        yield browser


def test_another_sites_page_learns_nothing_from_the_node(
    tmp_path: Path, module_serve: Any, other_site: Callable[[int], int], evil_browser: Any
) -> None:
    from playwright.sync_api import Error

    cli = Cli(tmp_path / "home")
    cli.ok("init")
    cli.json("channel", "create", "yard", "--name", "Yard of Partizanski 12")
    node = module_serve(cli.home)
    site = other_site(node.port)
    page = evil_browser.new_page()
    try:
        page.goto(f"http://evil.test:{site}/", timeout=TIMEOUT_MS)
        page.wait_for_function("window.learned !== undefined", timeout=TIMEOUT_MS)
        learned = page.evaluate("window.learned")
        assert learned["node"]["ws"] == "not open"
        assert learned["node"]["messages"] == []
        assert learned["node"]["img"] == "error"
        assert learned["node"]["nip11"] == "blocked"
        assert learned["node"]["nocors"] == "failed"
        assert learned["node"]["popup"] == "false"
        assert learned["node"] == learned["closed"]  # the node looks like a port where nothing listens

        for path in ("/", "/api/status", "/status"):  # the site's own name, pointed at the node (DNS rebinding)
            rebound = evil_browser.new_page()
            try:
                with pytest.raises(Error, match="net::ERR_"):  # no answer at all, as where nothing listens
                    rebound.goto(f"http://evil.test:{node.port}{path}", timeout=TIMEOUT_MS)
            finally:
                rebound.close()

        icon = page.goto(node.http_url + "icon.svg", timeout=TIMEOUT_MS)  # what the <img> asked for is there
        assert icon is not None
        assert icon.status == 200
        own = page.goto(node.http_url, timeout=TIMEOUT_MS)  # the node's own page, in the same browser
        assert own is not None
        assert own.status == 200
        page.wait_for_function("document.body.innerText.includes('Yard of Partizanski 12')", timeout=TIMEOUT_MS)
    finally:
        page.close()


FRAME_PAGE = """<!doctype html><meta charset="utf-8"><title>news</title>
<iframe id="f" src="http://127.0.0.1:PORT/status"></iframe>"""


def test_the_status_page_keeps_its_look_and_is_never_shown_in_another_pages_frame(
    tmp_path: Path, module_serve: Any, other_site: Callable[[int], int], browser: Any
) -> None:
    """/status runs no script and allows only its own style (by hash): it is styled, with nothing refused; and a
    page of another origin on the same machine (another port: the same site, which the node does not refuse as it
    refuses other sites) that frames it gets no page in the frame."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    page = browser.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security" in message.text else None)
    try:
        answer = page.goto(node.http_url + "status", timeout=TIMEOUT_MS)
        assert answer is not None
        assert answer.status == 200
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"  # its style applied
        assert refused == []

        handler = type("Framing", (_Site,), {"page": FRAME_PAGE.replace("PORT", str(node.port)).encode()})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/", timeout=TIMEOUT_MS)  # waits for the frame
            framed = [frame for frame in page.frames if frame != page.main_frame]
            assert len(framed) == 1
            assert "Events stored" not in framed[0].content()
        finally:
            server.shutdown()
            server.server_close()
    finally:
        page.close()
