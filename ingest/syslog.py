"""A UDP syslog listener for nginx (`access_log syslog:server=HOST:PORT aforo;`).

UDP has no reply, so nothing here can be acknowledged: each datagram's event is
queued to Kafka straight away (buffered by the producer while Kafka is away, up
to the message timeout), and every datagram is counted by result
(`aforo_ingest_syslog_datagrams_total{result}`: accepted, rejected, lost).
Only bind it to an address your nginx alone can reach; it has no API key (the
tenant comes from the logged API key header through the catalog).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

from ingest.config import Limits
from ingest.formats import nginx
from ingest.records import Context

if TYPE_CHECKING:
    from ingest.service import Ingestor

log = logging.getLogger("ingest.syslog")

RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024


class SyslogListener(asyncio.DatagramProtocol):
    def __init__(self, ingestor: Ingestor, limits: Limits) -> None:
        self.ingestor = ingestor
        self.limits = limits
        self.transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] | None = None
        self.received = 0

    async def start(self, host: str, port: int, *, shared: bool = False) -> None:
        """Listen on host:port; `shared`: with SO_REUSEPORT, for several workers
        on one port (the kernel spreads the datagrams over them)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(host, port), reuse_port=shared or None)
        sock = transport.get_extra_info("socket")
        # A burst of datagrams waits here while the loop is busy; the kernel caps the
        # size at net.core.rmem_max (raise it for high-volume nginx fleets).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        self.transport = transport
        self.address = transport.get_extra_info("sockname")[:2]
        log.info("syslog listener on udp://%s:%d", *self.address)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received += 1
        metrics = self.ingestor.metrics
        ctx = Context(self.limits, int(time.time() * 1000))
        candidate = nginx.datagram(self.received, data, ctx)
        messages, results, reasons = self.ingestor.prepare(nginx.SOURCE, None, [candidate])
        if not messages:
            for reason, n in reasons.items():
                metrics.rejected.labels(nginx.SOURCE, reason).inc(n)
            metrics.syslog.labels("rejected").inc()
            log.warning("refused a syslog datagram", extra={"from": str(addr),
                                                            "result": results[0]})
            return

        def done(delivered: int, failed: int, errors: list[str]) -> None:
            if failed:
                metrics.syslog.labels("lost").inc()
                metrics.lost.inc(failed)
                metrics.rejected.labels(nginx.SOURCE, "kafka_unavailable").inc(failed)
                log.error("a syslog event did not reach Kafka: %s", errors[:1])
            else:
                metrics.syslog.labels("accepted").inc()
                metrics.accepted.labels(nginx.SOURCE).inc(delivered)

        self.ingestor.sink.send_nowait(messages, done)
