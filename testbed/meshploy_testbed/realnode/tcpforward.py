"""A tiny TCP forwarder: ``python -m meshploy_testbed.realnode.tcpforward LISTEN TARGET``.

The dev control plane listens on loopback only. Real nodes live in their own network
namespaces and reach it the way a worker reaches the gateway over the mesh: through the
gateway's address on the node bridge. This process (one per real-node network, started and
stopped like every other component) accepts there and splices bytes to loopback, so the
API server is never exposed on any other interface. TLS passes through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


async def _serve(listen: tuple[str, int], target: tuple[str, int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    server = await asyncio.start_server(handle, *listen, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"forwarding {listen[0]}:{listen[1]} -> {target[0]}:{target[1]}", flush=True)
    async with server:
        await stop.wait()


def _addr(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def main(argv: list[str]) -> int:
    """Entry point: ``LISTEN_HOST:PORT TARGET_HOST:PORT``."""
    if len(argv) != 2:
        print(
            "usage: python -m meshploy_testbed.realnode.tcpforward LISTEN TARGET", file=sys.stderr
        )
        return 2
    asyncio.run(_serve(_addr(argv[0]), _addr(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
