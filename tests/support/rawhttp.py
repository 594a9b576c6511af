"""Send bytes to an HTTP server exactly as given and time the answer.

Hostile request lines (absolute-form, ``CONNECT``, smuggled framing) are exactly what
HTTP clients refuse to send or normalise away, so the tests that try them speak over
a plain socket. A server that never answers shows up as status 0 after ``timeout``,
not as a hung test.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import docker

from tests.support.bots import exec_in


@dataclass(frozen=True)
class RawAnswer:
    status: int  # 0: no answer (closed, or silent until the timeout)
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float  # from sending the request to the end of the answer

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return head + self.body.decode("latin-1")


def exchange(host: str, port: int, data: bytes, *, timeout: float = 5.0) -> RawAnswer:
    """Send ``data`` on a fresh connection; read one response (or none)."""
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # it may close before all of a huge head is sent
            sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return RawAnswer(0, {}, b"", time.monotonic() - started)
        headers = {k.lower(): v for k, v in response.getheaders()}
        response.close()
    return RawAnswer(response.status, headers, body, time.monotonic() - started)


#: Stands for the bot's own keyring token in a request sent from inside its container:
#: the script there puts the token it reads from /run/secrets in its place.
OWN_TOKEN = "@OWN_TOKEN@"
TOKEN_FILE = "/run/secrets/keyring_token"


def parse_answer(raw: bytes, seconds: float) -> RawAnswer:
    """A response read off the wire as bytes (status 0 if there is none)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return RawAnswer(0, {}, raw, seconds)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(parts[1]), headers, body, seconds)


def busybox_exchange(
    api: docker.APIClient, container: str, host: str, port: int, data: bytes, *, wait: int = 4
) -> RawAnswer:
    """Send ``data`` from inside a busybox container with ``nc``; time it from here.

    :data:`OWN_TOKEN` in ``data`` becomes the token in the bot's own secret file. The
    request reaches ``nc`` through a FIFO held open after it (busybox nc half-closes
    at the end of its input, and a server may drop a half-closed connection), so ``nc``
    ends when the server closes, or after ``wait`` seconds of silence: a hang shows.
    """
    encoded = base64.b64encode(data).decode()
    script = (
        f"T=$(cat {TOKEN_FILE} 2>/dev/null); r=/tmp/req.$$; f=/tmp/fifo.$$;"
        f' echo {encoded} | base64 -d | sed "s/{OWN_TOKEN}/$T/g" > $r; mkfifo $f;'
        " (cat $r; exec sleep 30) > $f &"
        f" timeout {wait} nc {host} {port} < $f; rc=$?;"
        " kill $! 2>/dev/null; rm -f $f $r; exit $rc"
    )
    started = time.monotonic()
    result = exec_in(api, container, script)
    return parse_answer(result.out.encode("latin-1"), time.monotonic() - started)


def node_exchange(
    api: docker.APIClient, container: str, host: str, port: int, data: bytes, *, wait: int = 4
) -> RawAnswer:
    """Like :func:`busybox_exchange`, with ``node -e`` and ``net.connect`` (a real
    OpenClaw image has node but no nc); the time is taken inside, by node."""
    encoded = base64.b64encode(data).decode()
    js = (
        "const net=require('net'),fs=require('fs');"
        f"let t='';try{{t=fs.readFileSync('{TOKEN_FILE}','utf8').trim()}}catch(e){{}}"
        f"const req=Buffer.from(Buffer.from('{encoded}','base64').toString('latin1')"
        f".split('{OWN_TOKEN}').join(t),'latin1');"
        "const parts=[];const t0=Date.now();"
        "const done=()=>{process.stdout.write(JSON.stringify({ms:Date.now()-t0,"
        "data:Buffer.concat(parts).toString('base64')}));process.exit(0)};"
        f"const s=net.connect({port},'{host}',()=>s.write(req));"
        "s.on('data',d=>parts.push(d));s.on('close',done);s.on('error',done);"
        f"setTimeout(done,{wait * 1000});"
    )
    result = exec_in(api, container, f'node -e "{js}"')
    try:
        value = json.loads(result.out)
    except ValueError as exc:
        raise AssertionError(f"node printed no result: {result.text[-2000:]}") from exc
    return parse_answer(base64.b64decode(value["data"]), value["ms"] / 1000)
