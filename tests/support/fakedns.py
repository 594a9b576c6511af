"""A tiny authoritative DNS server on loopback (UDP, dnspython), for the egress proxy's
resolver: each name answers from a list of addresses in turn (the last one repeats),
which is how a rebinding name behaves."""

from __future__ import annotations

import logging
import socket
import threading
from collections import defaultdict

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)


class FakeDns:
    def __init__(self, answers: dict[str, list[str]], host: str = "127.0.0.1") -> None:
        self.answers = {name.rstrip(".").lower(): list(ips) for name, ips in answers.items()}
        self.asked: dict[str, int] = defaultdict(int)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> FakeDns:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except dns.exception.DNSException:
                log.debug("not a DNS query from %s", peer)
                continue
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            ips = self.answers.get(name)
            if ips is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                index = self.asked[name]
                self.asked[name] += 1
                ip = ips[min(index, len(ips) - 1)]
                response.answer.append(dns.rrset.from_text(question.name, 0, "IN", "A", ip))
            self._sock.sendto(response.to_wire(), peer)
