"""Variant (3): a plain ``websockets`` broadcast server, the Python ceiling.

Parses each frame, builds the outgoing frame once and hands it to ``websockets.broadcast``.
Run as ``python -m bench.ws_server --port N``; serves until terminated.
"""

import argparse
import asyncio
import json
import signal

from websockets.asyncio.server import broadcast, serve

clients = set()


async def handler(websocket) -> None:
    clients.add(websocket)
    try:
        async for text in websocket:
            body = json.loads(text)["body"]
            broadcast(clients, json.dumps({"type": "message.new", "body": body}))
    finally:
        clients.discard(websocket)


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, host, port, compression=None, max_size=65536, ping_interval=None):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
