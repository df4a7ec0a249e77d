"""The signalling baseline: a bare aiohttp WebSocket relay with the same routing as `/rtc`,
for `bench/signalling.py` to put beside the real server.

A client opens `GET /ws` and sends one JSON text frame saying who it is,
`{"room": ..., "peer": ...[, "id"]}`; every later frame `{"to", "type", "payload"[, "id"]}` is
forwarded as `{"from", "type", "payload"}` (one `json.dumps`) to the socket of peer `to` in
the same room, and, if it carries an `id`, answered with `{"ack": id}` -- the same frames
on the wire as a `/rtc` signal with its ack. No auth, no validation, no rate limit, no
database. Server pings every 15 s, as engine.io does.

    python bench/support_signalling_baseline.py --port PORT
"""

from __future__ import annotations

import argparse
import json
import resource

from aiohttp import WSMsgType, web

PEERS = web.AppKey("peers", dict[tuple[str, str], web.WebSocketResponse])
PING_INTERVAL = 15.0  # the same as telehealth.signalling.server.PING_INTERVAL
MAX_FRAME_BYTES = 128 * 1024  # the same cap as the engine's MAX_PACKET_BYTES


async def relay(request: web.Request) -> web.WebSocketResponse:
    """One client: its hello, then relay until it goes away."""
    ws = web.WebSocketResponse(heartbeat=PING_INTERVAL, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    peers = request.app[PEERS]
    me: tuple[str, str] | None = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if me is None:
                me = (str(data["room"]), str(data["peer"]))
                peers[me] = ws
            else:
                target = peers.get((me[0], data["to"]))
                if target is not None:
                    out = {"from": me[1], "type": data["type"], "payload": data["payload"]}
                    await target.send_str(json.dumps(out))
            if "id" in data:
                await ws.send_str(json.dumps({"ack": data["id"]}))
    finally:
        if me is not None and peers.get(me) is ws:
            del peers[me]
    return ws


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return web.json_response({"status": "ok"})


def create_baseline_app() -> web.Application:
    """The bare relay: a peer table and two routes."""
    app = web.Application()
    app[PEERS] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ws", relay)
    return app


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    web.run_app(create_baseline_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
