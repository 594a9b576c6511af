"""Token usage read from provider responses as they stream through the proxy.

:class:`UsageMeter` sees every response chunk once, in order, and reports the input
and output tokens the provider said it used. It understands the usage shapes of the
APIs in :data:`botmaker.openclaw.catalog.MODEL_APIS` that the proxy forwards:

* OpenAI chat completions (and compatibles: Mistral, Groq, DeepSeek, OpenRouter, Ollama's
  ``/v1``): ``usage.prompt_tokens`` / ``usage.completion_tokens``; Groq may put them
  under ``x_groq.usage``.
* OpenAI Responses: ``usage.input_tokens`` / ``usage.output_tokens``, streamed inside
  ``response.completed`` (``{"type": ..., "response": {"usage": ...}}``).
* Anthropic messages: ``usage.input_tokens`` + ``cache_creation_input_tokens`` +
  ``cache_read_input_tokens`` / ``usage.output_tokens``, streamed in ``message_start``
  (``message.usage``) and ``message_delta`` (``usage``, cumulative).
* Google Gemini: ``usageMetadata.promptTokenCount`` (+ ``toolUsePromptTokenCount``) /
  ``candidatesTokenCount`` + ``thoughtsTokenCount``; a body may be one object or an
  array of them.
* Ollama: ``prompt_eval_count`` / ``eval_count``.

Bodies are JSON documents (parsed whole up to :data:`MAX_DOCUMENT`; beyond it only
the usage values in the last :data:`DOCUMENT_TAIL` bytes are read, so that a large
answer does not stall the event loop), Server-Sent Events or NDJSON (parsed
incrementally, line by line, whatever the chunking). Streams report cumulative
counts, so each field keeps the largest value seen. Only lines or events that contain
a usage key (not just ``"usage":null``) are parsed, and they are found without
visiting the others; oversized lines and events are dropped. Memory stays bounded
and the meter never raises into the stream that feeds it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any, Final

#: A JSON body up to this size is parsed whole; beyond it only its tail is kept and
#: searched for usage keys (parsing megabytes at once would stall every other stream).
MAX_DOCUMENT: Final = 256 * 1024
#: Bytes of a too-large JSON body's end searched for usage keys.
DOCUMENT_TAIL: Final = 1024 * 1024
#: A line, or an SSE event, longer than this is dropped.
MAX_LINE: Final = 1024 * 1024

# Substrings any usage-bearing event contains ("usage" also covers "usageMetadata",
# "eval_count" also covers "prompt_eval_count").
_MARKERS: Final = (b"usage", b"eval_count")
# Keys searched for in the tail of a JSON body too large to parse whole.
_TAIL_KEYS: Final = (b'"usage"', b'"usageMetadata"', b'"prompt_eval_count"', b'"eval_count"')
_NULL_USAGE: Final = (b'"usage":null', b'"usage": null')
# A usage marker that is not ``"usage":null`` (OpenAI's streams with include_usage say
# that in every chunk): where a usage-bearing event or line may be.
_REAL_USAGE: Final = re.compile(rb'usage(?!": ?null)')
_CR: Final = 13
_SSE: Final = "sse"
_NDJSON: Final = "ndjson"
_DOCUMENT: Final = "document"
_NONE: Final = "none"
_NDJSON_TYPES: Final = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
        "application/json-seq",
    }
)
_BINARY_PREFIXES: Final = ("audio/", "image/", "video/", "font/", "multipart/")
_BINARY_TYPES: Final = frozenset({"application/octet-stream", "application/pdf"})
_DECODER: Final = json.JSONDecoder()


def _mode(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/event-stream":
        return _SSE
    if media in _NDJSON_TYPES:
        return _NDJSON
    if media in _BINARY_TYPES or media.startswith(_BINARY_PREFIXES):
        return _NONE
    return _DOCUMENT


def _interesting(data: bytes) -> bool:
    """True when ``data`` may carry usage (a usage key that is not just ``"usage":null``)."""
    if b"eval_count" in data:
        return True
    count = data.count(b"usage")
    if not count:
        return False
    nulls = sum(data.count(n) for n in _NULL_USAGE)
    return count > nulls


def _marked(text: bytes, sep: bytes, endpos: int, *, ndjson: bool) -> Iterator[bytes]:
    """The units of ``text[:endpos]`` (events or lines, separated by ``sep``) that may
    carry usage.

    Only the units around a usage marker are visited: a chunk of thousands of events
    costs one scan of its bytes, whether or not one of them carries usage. The
    ``eval_count`` marker (Ollama's native NDJSON) is looked for in NDJSON only.
    Oversized units are dropped.
    """
    pos = 0
    evals = text.find(b"eval_count", 0, endpos) if ndjson else -1
    while pos < endpos:
        match = _REAL_USAGE.search(text, pos, endpos)
        at = match.start() if match is not None else -1
        if evals >= 0 and (at < 0 or evals < at):
            at = evals
        if at < 0:
            return
        start = text.rfind(sep, pos, at)
        start = pos if start < 0 else start + len(sep)
        end = text.find(sep, at, endpos)
        if end < 0:
            end = endpos
        if end - start <= MAX_LINE:
            yield text[start:end]
        pos = end + len(sep)
        if 0 <= evals < pos:
            evals = text.find(b"eval_count", pos, endpos)


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


class UsageMeter:
    """Reads (input, output) token counts from one response body, fed chunk by chunk."""

    def __init__(self, content_type: str) -> None:
        self._mode = _mode(content_type)
        self.input_tokens = 0
        self.output_tokens = 0
        self._line = bytearray()  # the incomplete last line (sse, ndjson)
        self._discarding = False  # inside an oversized line: drop until its end
        self._skip_lf = False  # the previous chunk ended with CR: a leading LF ends that line
        self._event = b""  # complete lines of the SSE event still open
        self._doc = bytearray()  # the JSON document (document mode)
        self._overflow = False  # the document outgrew MAX_DOCUMENT: _doc holds its tail
        self._finished = False

    # -- feeding --------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the body. Never raises."""
        if self._finished or not chunk or self._mode == _NONE:
            return
        try:
            if self._mode == _DOCUMENT:
                self._feed_document(chunk)
            else:
                self._feed_lines(chunk)
        except Exception:  # noqa: BLE001 - metering must never break the stream
            self._mode = _NONE

    def finish(self) -> tuple[int, int]:
        """Parse what is left and return ``(input_tokens, output_tokens)``."""
        if not self._finished:
            self._finished = True
            with contextlib.suppress(Exception):  # a broken body is metered as far as it went
                self._finish()
            self._line = bytearray()
            self._doc = bytearray()
            self._event = b""
        return self.input_tokens, self.output_tokens

    def _finish(self) -> None:
        if self._mode == _DOCUMENT:
            self._finish_document()
        elif self._mode in (_SSE, _NDJSON):
            if self._line and not self._discarding:
                line, self._line = self._line, bytearray()
                self._block(line, b"\n", 0, 1)
            if self._mode == _SSE and self._event:
                text = self._event + b"\n"
                self._sse_events(text, len(text))

    def _feed_document(self, chunk: bytes) -> None:
        self._doc += chunk
        if len(self._doc) > MAX_DOCUMENT:
            self._overflow = True
            if len(self._doc) > 2 * DOCUMENT_TAIL:
                del self._doc[:-DOCUMENT_TAIL]

    def _feed_lines(self, chunk: bytes) -> None:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self._extend_line(chunk)
            return
        self._skip_lf = chunk[end] == _CR and end == len(chunk) - 1
        start, stop = 0, end + 1  # chunk[start:stop]: the complete lines it ends
        if self._discarding:
            # the oversized line ends at the first line break of this chunk
            cut = min(i for i in (chunk.find(b"\n", 0, stop), chunk.find(b"\r", 0, stop)) if i >= 0)
            if chunk[cut] == _CR and chunk[cut + 1 : cut + 2] == b"\n":
                cut += 1
            start = cut + 1
            self._discarding = False
        line, self._line = self._line, bytearray()
        self._extend_line(chunk[stop:])
        if start < stop:
            self._block(line, chunk, start, stop)

    def _extend_line(self, data: bytes) -> None:
        if self._discarding or not data:
            return
        self._line += data
        if len(self._line) > MAX_LINE:
            self._line = bytearray()
            self._discarding = True

    def _block(self, line: bytes | bytearray, chunk: bytes, start: int, stop: int) -> None:
        """Handle complete lines: ``line`` (the start of the first) + ``chunk[start:stop]``.

        With the SSE event still open, they are joined in one copy (none when the chunk
        is whole lines and nothing is pending: the common case of aligned chunks).
        """
        event = self._event
        if event or line or start or stop != len(chunk):
            block = b"".join((event, line, memoryview(chunk)[start:stop]))
        else:
            block = chunk
        if b"\r" in block:  # only the new lines can hold one: the open event has none
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._mode == _NDJSON:
            for found in _marked(block, b"\n", len(block), ndjson=True):
                self._take_json(found)
            return
        text = block if event else block.lstrip(b"\n")
        cut = text.rfind(b"\n\n")
        rest = text[cut + 2 :] if cut >= 0 else text
        self._event = rest if len(rest) <= MAX_LINE else b""
        if cut >= 0:
            self._sse_events(text, cut + 2)

    def _sse_events(self, text: bytes, end: int) -> None:
        """Read the events of ``text[:end]`` (complete events) that carry usage."""
        for event in _marked(text, b"\n\n", end, ndjson=False):
            data = [
                line[6:] if line[5:6] == b" " else line[5:]
                for line in event.split(b"\n")
                if line.startswith(b"data:")
            ]
            if data:
                self._take_json(b"\n".join(data))

    def _finish_document(self) -> None:
        if self._overflow:
            self._take_tail(bytes(self._doc[-DOCUMENT_TAIL:]))
            return
        body = bytes(self._doc)
        if not _interesting(body):
            return
        try:
            self._take(json.loads(body))
        except (ValueError, RecursionError):
            # not one JSON document: maybe NDJSON or SSE sent with another content type
            for line in body.replace(b"\r", b"\n").split(b"\n"):
                if line.startswith(b"data:"):
                    line = line[5:]
                if _interesting(line):
                    self._take_json(line)

    def _take_tail(self, body: bytes) -> None:
        """Read usage values from the end of a JSON body too large to parse whole.

        A quoted key appears unescaped in the JSON text only as a key, never inside a
        string value, so each value after one can be decoded on its own.
        """
        for key in _TAIL_KEYS:
            start = body.find(key)
            while start >= 0:
                colon = start + len(key)
                while body[colon : colon + 1] in (b" ", b"\t", b"\n", b"\r"):
                    colon += 1
                # usage values are objects, counts are numbers: skip nulls unread
                first = body[colon + 1 : colon + 64].lstrip()[:1]
                if body[colon : colon + 1] == b":" and (first == b"{" or first.isdigit()):
                    text = body[colon + 1 : colon + 1 + 4096].decode("utf-8", "replace")
                    try:
                        value, _ = _DECODER.raw_decode(text.lstrip())
                    except (ValueError, RecursionError):
                        value = None
                    if value is not None:
                        self._take({key.strip(b'"').decode(): value})
                start = body.find(key, start + 1)

    # -- usage shapes --------------------------------------------------------------------

    def _take_json(self, data: bytes) -> None:
        data = data.strip()
        if not data or data == b"[DONE]" or data[:1] not in (b"{", b"["):
            return
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            return
        self._take(value)

    def _take(self, value: Any, depth: int = 0) -> None:
        if isinstance(value, list):
            if depth == 0:
                for item in value:
                    self._take(item, 1)
            return
        if not isinstance(value, dict):
            return
        usage = value.get("usage")
        if isinstance(usage, dict):
            self._usage(usage)
        metadata = value.get("usageMetadata")
        if isinstance(metadata, dict):
            self._record(
                _count(metadata.get("promptTokenCount"))
                + _count(metadata.get("toolUsePromptTokenCount")),
                _count(metadata.get("candidatesTokenCount"))
                + _count(metadata.get("thoughtsTokenCount")),
            )
        if "eval_count" in value or "prompt_eval_count" in value:
            self._record(_count(value.get("prompt_eval_count")), _count(value.get("eval_count")))
        if depth < 2:
            for nested in ("response", "message", "x_groq"):
                inner = value.get(nested)
                if isinstance(inner, dict):
                    self._take(inner, depth + 1)

    def _usage(self, usage: dict[str, Any]) -> None:
        if "prompt_tokens" in usage or "completion_tokens" in usage:
            self._record(_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")))
        else:
            self._record(
                _count(usage.get("input_tokens"))
                + _count(usage.get("cache_creation_input_tokens"))
                + _count(usage.get("cache_read_input_tokens")),
                _count(usage.get("output_tokens")),
            )

    def _record(self, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens = max(self.input_tokens, input_tokens)
        self.output_tokens = max(self.output_tokens, output_tokens)
