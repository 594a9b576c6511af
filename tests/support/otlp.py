"""A real OTLP/HTTP traces receiver on loopback: what a collector gets, decoded.

``POST /v1/traces`` with an ``ExportTraceServiceRequest`` (protobuf, optionally gzip)
is decoded with ``opentelemetry-proto`` into :class:`Exported` spans (ids as hex, the
attributes as a plain dict, the resource's ``service.name``); anything else is a 404.
A test may make it fail (``status``) to check that an exporter's trouble never reaches
a request.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.httpfake import ServerThread

#: ``Span.SpanKind`` numbers of the OTLP protocol.
SERVER, CLIENT = 2, 3
#: ``Status.StatusCode``: error.
STATUS_ERROR = 2


@dataclass(frozen=True)
class Exported:
    """One span as the collector received it."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]
    status: int
    trace_state: str

    def every_text(self) -> str:
        """Everything the span says in text (name and every attribute), for leak checks."""
        return "\n".join([self.name, self.trace_state, *map(str, self.attributes.items())])


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def decode(body: bytes) -> list[Exported]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Exported(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        status=span.status.code,
                        trace_state=span.trace_state,
                    )
                )
    return spans


class OtlpReceiver:
    """Use as a context manager; ``endpoint`` is the base URL (``.../v1/traces`` is
    where spans go)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[Exported] = []
        self.requests = 0
        self.status = 200  # what the receiver answers (set 503 to make exports fail)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path != "/v1/traces":
                    self._answer(404, b"")
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                spans = decode(body)
                with receiver._lock:
                    receiver.requests += 1
                    status = receiver.status
                    if status == 200:
                        receiver._spans.extend(spans)
                self._answer(status, ExportTraceServiceResponse().SerializeToString())

            def _answer(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ServerThread("127.0.0.1", 0, Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> OtlpReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def spans(self) -> list[Exported]:
        with self._lock:
            return list(self._spans)

    def wait(self, check: Callable[[list[Exported]], bool], timeout: float = 15) -> list[Exported]:
        """Every span received, once ``check`` holds for them."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans
            if check(spans):
                return spans
            if time.monotonic() > deadline:
                names = [(s.service, s.name, s.trace_id) for s in spans]
                raise AssertionError(f"the spans received do not match: {names}")
            time.sleep(0.05)
