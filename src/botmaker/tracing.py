"""OpenTelemetry traces, shared by BotMaker's API and the keyring process.

Tracing is off unless an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, read into the settings; ``OTEL_SDK_DISABLED``
turns it off again). Off, :func:`start` answers None and nothing of OpenTelemetry is
even imported: the API installs no middleware and the keyring's data plane none either.

On, each process has its own ``TracerProvider`` (not the global one) with a batch span
processor and the OTLP/HTTP (protobuf) exporter of the maintained SDK. The exporter
reads its other standard variables itself (``OTEL_EXPORTER_OTLP_HEADERS``,
``..._CERTIFICATE``, ``..._TIMEOUT``, ``..._COMPRESSION``), the processor its
``OTEL_BSP_*`` and the provider ``OTEL_TRACES_SAMPLER`` and ``OTEL_RESOURCE_ATTRIBUTES``.
Export runs in the processor's thread: a collector that is down or slow costs a
request nothing (spans queue up to ``OTEL_BSP_MAX_QUEUE_SIZE``, then are dropped),
and the exporter's failure logs name the status, never a header.

An incoming ``traceparent`` is hostile input (a bot's, a browser's): only that header is
read, by the SDK's W3C propagator; a malformed one is ignored (a new trace starts).
Of what it says only the trace id and the parent span id are kept: its ``sampled`` flag
is not (a bot cannot hide its calls from the trace; the sampler decides as for a new
trace), and ``tracestate`` and ``baggage`` are never read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from botmaker import __version__

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("botmaker.tracing")

#: Seconds :meth:`Tracing.shutdown` waits for the last spans to be exported.
SHUTDOWN_WAIT = 5.0
#: HTTP methods that name spans; any other is ``_OTHER`` (semantic conventions: a
#: client's made-up method must not make a new span name).
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def method_of(method: str) -> str:
    return method if method in KNOWN_METHODS else "_OTHER"


class Tracing:
    """One process's tracer, the W3C propagator and the export pipeline."""

    def __init__(self, provider: TracerProvider, name: str) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(name, __version__)
        self._propagator: TraceContextTextMapPropagator = TraceContextTextMapPropagator()
        self._done = False

    def parent(self, traceparent: str | None) -> Context | None:
        """The remote parent named by an incoming ``traceparent`` header, or None (a new
        trace) when there is none or it is not a valid W3C ``traceparent``."""
        if not traceparent or len(traceparent) > 128:
            return None
        from opentelemetry import trace

        context = self._propagator.extract({"traceparent": traceparent})
        sent = trace.get_current_span(context).get_span_context()
        if not sent.is_valid:
            return None
        kept = trace.SpanContext(
            trace_id=sent.trace_id,
            span_id=sent.span_id,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(kept))

    def inject(self, span: Span, headers: MutableMapping[str, str]) -> None:
        """Set ``traceparent`` (and our own ``tracestate``, if any) in ``headers``: the
        next hop's parent is ``span``."""
        from opentelemetry import trace

        self._propagator.inject(headers, context=trace.set_span_in_context(span))

    def shutdown(self, wait: float = SHUTDOWN_WAIT) -> None:
        """Export what is still queued, then stop; never waits more than ``wait``
        seconds (a collector that is down must not hold up a stop)."""
        if self._done:
            return
        self._done = True
        stopper = threading.Thread(target=self.provider.shutdown, name="otel-shutdown", daemon=True)
        stopper.start()
        stopper.join(wait)
        if stopper.is_alive():
            log.warning("traces: the collector did not take the last spans in %.0f s", wait)


def start(url: str | None, service: str, name: str) -> Tracing | None:
    """Tracing exporting to ``url`` as ``service``; None (and nothing imported) when
    ``url`` is None."""
    if url is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": service, "service.version": __version__})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    log.info("traces: exporting to %s as %s", _without_userinfo(url), service)
    return Tracing(provider, name)


def _without_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"
