"""A small TCP forwarder for the censorship lab (run as a script inside a namespace).

* ``--listen ADDR:PORT`` (repeatable) ``--to HOST:PORT``: forward each connection;
* ``--tls CERT KEY``: terminate TLS first (a relay's TLS front, or a censor's MITM with a fake certificate);
* ``--delay S``: hold every chunk S seconds in each direction (the throttled link: this kernel has no netem);
* ``--rate B``: at most B bytes per second in each direction (this kernel has no classful qdisc either, so a
  ``tbf`` could only slow the whole link);
* ``--blockpage``: answer every connection with an HTTP 403 page, as a censor's block page does.

Prints ``ready`` once it listens; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl

BLOCKPAGE = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 71\r\n"
    b"Connection: close\r\n\r\n<html><body><h1>Access to this resource is restricted</h1></body></html>"
)


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, rate: float = 0.0) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def release() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(data)
            await writer.drain()
            if rate:
                await asyncio.sleep(len(data) / rate)

    releaser = asyncio.ensure_future(release())
    try:
        while data := await reader.read(4096 if rate else 65536):
            queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((0.0, b""))
        await releaser
    except (OSError, ssl.SSLError):
        pass
    finally:
        releaser.cancel()
        with contextlib.suppress(Exception):
            writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", action="append", required=True)
    parser.add_argument("--to")
    parser.add_argument("--tls", nargs=2)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--blockpage", action="store_true")
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if args.blockpage:
                await asyncio.wait_for(reader.read(4096), 5)
                writer.write(BLOCKPAGE)
                await writer.drain()
                return
            host, _, port = args.to.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            await asyncio.gather(
                pump(reader, up_writer, args.delay, args.rate), pump(up_reader, writer, args.delay, args.rate)
            )
        except (OSError, ssl.SSLError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    servers = []
    for listen in args.listen:
        host, _, port = listen.rpartition(":")
        servers.append(await asyncio.start_server(handle, host, int(port), ssl=context, reuse_address=True))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
