"""ICMP: answer echo requests, send them for ping, and hand errors to the protocol they concern."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .ip import IcmpError, IpLayer, SendStatus
from .wire import WireError
from .wire.icmp import (
    DEST_UNREACHABLE,
    ECHO_REPLY,
    ECHO_REQUEST,
    ERROR_TYPES,
    UNREACH_PROTOCOL,
    IcmpRepr,
)
from .wire.ipv4 import PROTO_ICMP, Ipv4Repr

EchoListener = Callable[[int, int, bytes, int], None]
"""Called with (source address, sequence, data, now) for each echo reply to an identifier."""
EchoIntercept = Callable[[Ipv4Repr, IcmpRepr, int], None]
"""Called with (IP header, message, now) for an echo request to another host's address (a gateway that
ends traffic itself, as mtcp-nat, answers it for that host or reports it unreachable)."""


@dataclass
class IcmpCounters:
    received: int = 0
    echo_requests_received: int = 0
    echo_replies_sent: int = 0
    echo_requests_sent: int = 0
    echo_replies_received: int = 0
    echo_replies_unmatched: int = 0
    errors_received: int = 0
    errors_delivered: int = 0
    errors_unmatched: int = 0
    errors_bad_quote: int = 0
    unreachables_sent: int = 0
    broadcast_echo_ignored: int = 0
    other: int = 0


class IcmpLayer:
    def __init__(self, ip: IpLayer, answer_broadcast_echo: bool = False) -> None:
        self.ip = ip
        self.answer_broadcast_echo = answer_broadcast_echo
        self.counters = IcmpCounters()
        self.echo_listeners: dict[int, EchoListener] = {}
        self.echo_intercept: EchoIntercept | None = None
        ip.register(PROTO_ICMP, self)
        ip.unreachable_hook = self.send_protocol_unreachable

    # -- receive -----------------------------------------------------------------------------------------

    def on_datagram(self, header: Ipv4Repr, payload: memoryview, now: int) -> None:
        message = IcmpRepr.parse(payload)
        c = self.counters
        c.received += 1
        if message.type == ECHO_REQUEST:
            c.echo_requests_received += 1
            if self.echo_intercept is not None and header.dst != self.ip.address \
                    and not self.ip.is_broadcast(header.dst):
                self.echo_intercept(header, message, now)
                return
            if header.dst != self.ip.address and not self.answer_broadcast_echo:
                c.broadcast_echo_ignored += 1
                return
            reply = IcmpRepr(ECHO_REPLY, 0, message.ident, message.seq, message.data)
            if self.ip.send(header.src, PROTO_ICMP, reply.to_bytes(), now).ok:
                c.echo_replies_sent += 1
        elif message.type == ECHO_REPLY:
            c.echo_replies_received += 1
            listener = self.echo_listeners.get(message.ident)
            if listener is None:
                c.echo_replies_unmatched += 1
            else:
                listener(header.src, message.seq, message.data, now)
        elif message.type in ERROR_TYPES:
            c.errors_received += 1
            self._deliver_error(header, message, now)
        else:
            c.other += 1

    def _deliver_error(self, header: Ipv4Repr, message: IcmpRepr, now: int) -> None:
        try:
            original = Ipv4Repr.parse_quoted(message.data)
        except WireError:
            self.counters.errors_bad_quote += 1
            return
        if original.src != self.ip.address:
            self.counters.errors_bad_quote += 1
            return
        quoted = message.data[original.header_len :]
        handler = self.ip.handlers.get(original.protocol)
        if handler is None:
            self.counters.errors_unmatched += 1
            return
        self.counters.errors_delivered += 1
        handler.on_icmp_error(
            IcmpError(message.type, message.code, header.src, original, quoted, (message.ident << 16) | message.seq),
            now,
        )

    def on_icmp_error(self, error: IcmpError, now: int) -> None:
        """Errors about our own ICMP (a ping to a closed host) go to the echo listener as nothing: counted."""
        self.counters.errors_unmatched += 1

    # -- send ----------------------------------------------------------------------------------------------

    def send_echo(self, dst: int, ident: int, seq: int, data: bytes, now: int) -> SendStatus:
        status = self.ip.send(dst, PROTO_ICMP, IcmpRepr(ECHO_REQUEST, 0, ident, seq, data).to_bytes(), now)
        if status.ok:
            self.counters.echo_requests_sent += 1
        return status

    def send_echo_reply(self, src: int, dst: int, ident: int, seq: int, data: bytes, now: int) -> SendStatus:
        """An echo reply from `src`, which need not be our address (a gateway answering for a host)."""
        status = self.ip.send(dst, PROTO_ICMP, IcmpRepr(ECHO_REPLY, 0, ident, seq, data).to_bytes(), now, src=src)
        if status.ok:
            self.counters.echo_replies_sent += 1
        return status

    def send_unreachable_to(self, dst: int, code: int, quoted: bytes, now: int) -> SendStatus:
        """Destination unreachable, from our own address (as a router reports it), quoting `quoted`."""
        status = self.ip.send(dst, PROTO_ICMP, IcmpRepr(DEST_UNREACHABLE, code, 0, 0, quoted).to_bytes(), now)
        if status.ok:
            self.counters.unreachables_sent += 1
        return status

    def send_unreachable(self, header: Ipv4Repr, quoted: bytes, code: int, now: int) -> None:
        """Tell the sender of `header` its datagram could not be delivered (port or protocol closed)."""
        if self.ip.is_broadcast(header.dst) or header.dst != self.ip.address:
            return
        message = IcmpRepr(DEST_UNREACHABLE, code, 0, 0, quoted)
        if self.ip.send(header.src, PROTO_ICMP, message.to_bytes(), now).ok:
            self.counters.unreachables_sent += 1

    def send_protocol_unreachable(self, header: Ipv4Repr, quoted: bytes, now: int) -> None:
        self.send_unreachable(header, quoted, UNREACH_PROTOCOL, now)

