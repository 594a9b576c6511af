"""A stand-in for a bot's gateway behind the Control UI proxy: a real aiohttp HTTP and
WebSocket server on loopback that reports what reached it (tests and bench)."""

from __future__ import annotations

import asyncio
import json
import threading

from aiohttp import WSMsgType, web


class StandInGateway:
    """``/bots/<id>/ui/echo`` answers the headers it got; the WebSocket at
    ``/bots/<id>/ui`` sends them first, then echoes every message."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {"headers": dict(request.headers), "path": request.raw_path, "body": body.decode()},
            headers={"set-cookie": "botmaker_session=planted; Path=/"},
        )

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("openclaw",))
        await ws.prepare(request)
        await ws.send_str(json.dumps({"headers": dict(request.headers)}))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/bots/{bot}/ui/echo", self._echo)
        app.router.add_get("/bots/{bot}/ui", self._ws)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:  # closes the listening and open sockets; a test leaves none behind
            self.loop.run_until_complete(runner.cleanup())
            self.loop.close()

    def __enter__(self) -> StandInGateway:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
