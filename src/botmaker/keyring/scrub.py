"""Redaction of provider keys from response bodies, so a bot never receives one.

:func:`scrub` redacts a whole body. :class:`Scrubber` redacts a stream chunk by chunk
without delaying it: bytes are held back only while a chunk ends with at least
:data:`HOLD_FROM` bytes of a key, and only until the next chunk shows whether the key
completes. Fewer leading bytes (``sk-proj``) are public and pass through at once; if
the key then completes in the next chunks, the rest of it is redacted, so the stream
shows ``sk-proj[redacted]`` where :func:`scrub` would show ``[redacted]``. No byte
beyond a key's first ``HOLD_FROM - 1`` is ever sent.

Secrets shorter than :data:`HOLD_FROM` bytes are not keys and are ignored (redacting
them would mangle ordinary text). Where two secrets could match at the same place the
longer wins; otherwise matches are found left to right, as :func:`re.sub` does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final, NamedTuple

#: A chunk ending with this many leading bytes of a secret (or more) is held back.
HOLD_FROM: Final = 8
#: The text that replaces each secret.
REDACTED: Final = b"[redacted]"


def _variants(secrets: Sequence[str]) -> list[bytes]:
    """The secrets as bytes, with their JSON ``\\/`` spelling, longest first."""
    found: set[bytes] = set()
    for secret in secrets:
        raw = secret.encode()
        if len(raw) >= HOLD_FROM:
            found.add(raw)
            if b"/" in raw:
                found.add(raw.replace(b"/", b"\\/"))
    return sorted(found, key=lambda s: (-len(s), s))


def _pattern(variants: list[bytes]) -> re.Pattern[bytes] | None:
    if not variants:
        return None
    return re.compile(b"|".join(re.escape(v) for v in variants))


class _Compiled(NamedTuple):
    """What scrubbing needs of a set of secrets, built once per set (see :func:`_compiled`)."""

    pattern: re.Pattern[bytes] | None
    heads: tuple[bytes, ...]  # the first HOLD_FROM bytes of each variant
    prefixes: frozenset[bytes]  # every proper prefix of every variant
    longest: int


@functools.lru_cache(maxsize=64)
def _compiled(secrets: tuple[str, ...]) -> _Compiled:
    # The proxy scrubs every response with the key it used: building the prefix set
    # (tens of microseconds for a long key) once per key, not once per response.
    variants = _variants(secrets)
    return _Compiled(
        _pattern(variants),
        tuple({v[:HOLD_FROM] for v in variants}),
        frozenset(v[:n] for v in variants for n in range(1, len(v))),
        max((len(v) for v in variants), default=0),
    )


def forget() -> None:
    """Drop the secrets cached for scrubbing (when the keyring drops its plaintext keys)."""
    _compiled.cache_clear()


def scrub(data: bytes, secrets: Sequence[str], replacement: bytes = REDACTED) -> bytes:
    """``data`` with every occurrence of every secret replaced."""
    pattern = _compiled(tuple(secrets)).pattern
    if pattern is None:
        return data
    return pattern.sub(lambda _: replacement, data)


class Scrubber:
    """Redacts secrets from a stream; see the module docstring for the rules."""

    def __init__(self, secrets: Sequence[str], replacement: bytes = REDACTED) -> None:
        compiled = _compiled(tuple(secrets))
        self._pattern = compiled.pattern
        self._replacement = replacement
        self._heads = compiled.heads
        # every proper prefix of every secret (the candidates a chunk may end with)
        self._prefixes = compiled.prefixes
        self._longest = compiled.longest
        self._sent = b""  # sent bytes that begin a secret (fewer than HOLD_FROM)
        self._held = b""  # bytes after _sent that continue that secret, not yet sent

    def feed(self, chunk: bytes) -> bytes:
        """What of the stream so far may be sent now (``chunk`` itself when it is clean)."""
        if self._pattern is None or not chunk:
            return chunk
        if not self._sent and not self._held and not any(h in chunk for h in self._heads):
            self._sent = self._public_tail(chunk)
            return chunk
        return self._process(self._sent + self._held + chunk, len(self._sent), final=False)

    def flush(self) -> bytes:
        """What is still held back, at the end of the stream."""
        if self._pattern is None or not self._held:
            self._sent = self._held = b""
            return b""
        return self._process(self._sent + self._held, len(self._sent), final=True)

    def _public_tail(self, chunk: bytes) -> bytes:
        """The longest end of ``chunk`` (under HOLD_FROM bytes) that begins a secret."""
        for n in range(min(HOLD_FROM - 1, len(chunk)), 0, -1):
            tail = chunk[-n:]
            if tail in self._prefixes:
                return tail
        return b""

    def _process(self, text: bytes, sent: int, *, final: bool) -> bytes:
        """Redact ``text``, whose first ``sent`` bytes were already sent; keep its open end."""
        assert self._pattern is not None
        size = len(text)
        # where a secret may begin that the bytes to come could complete
        partials = (
            []
            if final
            else [
                i
                for i in range(max(0, size - self._longest + 1), size)
                if text[i:] in self._prefixes
            ]
        )
        out: list[bytes] = []

        def literal(start: int, end: int) -> None:
            start = max(start, sent)
            if end > start:
                out.append(text[start:end])

        pos = 0
        open_at = size
        while True:
            open_at = next((i for i in partials if i >= pos), size)
            match = self._pattern.search(text, pos)
            if match is None or match.start() >= open_at:
                break
            literal(pos, match.start())
            out.append(self._replacement)
            pos = match.end()
        if open_at < size and size - open_at >= HOLD_FROM:
            literal(pos, open_at)
            done = max(open_at, sent)
            self._sent, self._held = text[open_at:done], text[done:]
        else:
            literal(pos, size)
            self._sent, self._held = (text[open_at:], b"") if open_at < size else (b"", b"")
        return b"".join(out)
