"""DHCP messages (RFC 2131 section 2: the BOOTP layout of RFC 951 with the magic cookie) and their options
(RFC 2132), parsed and built without state.

The fixed part of a message is declared with `construct`; the options that follow the cookie are a walk
over code/length/value triples (pad and end take no length), because every rule that matters there is
about where the walk stops: a value running past the region, the `file` and `sname` fields holding more
options when option 52 says so (RFC 2131 4.1), and an option split into several pieces to be joined
(RFC 3396). Every option this client reads is checked at parse time, so a parsed message answers every
question without raising; anything wrong raises WireError with a short reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from construct import Bytes, ConstructError, Int8ub, Int16ub, Int32ub, Struct

from . import WireError

SERVER_PORT = 67
CLIENT_PORT = 68
OP_REQUEST = 1
OP_REPLY = 2
HTYPE_ETHERNET = 1
FLAG_BROADCAST = 0x8000
"""Bit 0 of `flags` (RFC 2131 2): the client cannot take unicast before it has an address."""
MAGIC_COOKIE = bytes((99, 130, 83, 99))
FIXED_LEN = 236
OPTIONS_OFFSET = FIXED_LEN + len(MAGIC_COOKIE)
MIN_MESSAGE_LEN = 300
"""BOOTP's minimum (RFC 951 / RFC 1542 2.1): some relay agents drop anything shorter, so we pad to it."""
MAX_OPTION_LEN = 255

HEADER = Struct(
    "op" / Int8ub,
    "htype" / Int8ub,
    "hlen" / Int8ub,
    "hops" / Int8ub,
    "xid" / Int32ub,
    "secs" / Int16ub,
    "flags" / Int16ub,
    "ciaddr" / Int32ub,
    "yiaddr" / Int32ub,
    "siaddr" / Int32ub,
    "giaddr" / Int32ub,
    "chaddr" / Bytes(16),
    "sname" / Bytes(64),
    "file" / Bytes(128),
    "cookie" / Bytes(4),
)
"""RFC 2131 figure 1, up to and including the magic cookie (the first four bytes of `options`)."""


class MessageType(IntEnum):
    """Option 53 (RFC 2132 9.6)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class Option(IntEnum):
    """The option codes this client sends or reads (RFC 2132)."""

    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DOMAIN_NAME_SERVER = 6
    HOST_NAME = 12
    DOMAIN_NAME = 15
    REQUESTED_ADDRESS = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_LIST = 55
    MESSAGE = 56
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    END = 255


_ONE_ADDRESS = (Option.SUBNET_MASK, Option.REQUESTED_ADDRESS, Option.SERVER_ID)
_ADDRESS_LISTS = (Option.ROUTER, Option.DOMAIN_NAME_SERVER)
_SECONDS = (Option.LEASE_TIME, Option.RENEWAL_TIME, Option.REBINDING_TIME)
_NAMES = (Option.HOST_NAME, Option.DOMAIN_NAME)
_OVERLOAD_FILE = 1
_OVERLOAD_SNAME = 2


@dataclass(frozen=True)
class DhcpMessage:
    """One DHCP message. `options` maps each code to its whole value (pieces joined), in the order the
    codes first appeared; building sends them in that order, then END."""

    op: int
    xid: int
    chaddr: bytes
    """The client's hardware address, `hlen` bytes (6 for Ethernet)."""
    options: Mapping[int, bytes] = field(default_factory=dict)
    secs: int = 0
    flags: int = 0
    ciaddr: int = 0
    yiaddr: int = 0
    siaddr: int = 0
    giaddr: int = 0
    htype: int = HTYPE_ETHERNET
    hops: int = 0

    # -- the options this client reads (checked by parse(), so these never raise) ------------------------

    @property
    def message_type(self) -> int | None:
        value = self.options.get(Option.MESSAGE_TYPE)
        return value[0] if value else None

    def address(self, code: int) -> int | None:
        """A one-address option (subnet mask, requested address, server identifier)."""
        value = self.options.get(code)
        return int.from_bytes(value, "big") if value else None

    def addresses(self, code: int) -> tuple[int, ...]:
        """A list-of-addresses option (routers, name servers), in the server's order of preference."""
        value = self.options.get(code, b"")
        return tuple(int.from_bytes(value[i : i + 4], "big") for i in range(0, len(value), 4))

    def seconds(self, code: int) -> int | None:
        """A time option (lease, T1, T2) in seconds; 0xFFFFFFFF is "infinite" (RFC 2132 9.2)."""
        value = self.options.get(code)
        return int.from_bytes(value, "big") if value else None

    def name(self, code: int) -> str | None:
        """A name option (host name, domain name), as checked text."""
        value = self.options.get(code)
        return _name_text(value) if value else None

    @property
    def server_message(self) -> str | None:
        """Option 56, the text a server gives with a NAK; bytes that are no printable ASCII shown as '?'."""
        value = self.options.get(Option.MESSAGE)
        if not value:
            return None
        return "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in value.rstrip(b"\x00"))


def _name_text(value: bytes) -> str:
    # Some servers end names with NUL, which RFC 2132 3.14 says they should not; the rest must be printable
    # ASCII without spaces, since a name is printed on a terminal and written nowhere it could break a line.
    text = value.rstrip(b"\x00")
    if not text or any(b <= 0x20 or b >= 0x7F for b in text):
        raise WireError("dhcp_bad_name", repr(value[:40]))
    return text.decode("ascii")


def _walk(region: bytes, into: dict[int, bytearray]) -> None:
    """Add the options of one region (the options field, `file` or `sname`) to `into`."""
    index = 0
    length = len(region)
    while index < length:
        code = region[index]
        if code == Option.PAD:
            index += 1
            continue
        if code == Option.END:
            return
        if index + 1 >= length:
            raise WireError("dhcp_option_truncated", f"option {code} has no length")
        size = region[index + 1]
        end = index + 2 + size
        if end > length:
            raise WireError("dhcp_option_truncated", f"option {code} of {size} bytes runs past the message")
        into.setdefault(code, bytearray()).extend(region[index + 2 : end])
        index = end
    # An options region that ends without END is accepted: nothing is lost, and servers that forget it exist.


def _check(options: Mapping[int, bytes]) -> None:
    """The options this client reads, checked against RFC 2132's lengths and forms."""
    kind = options.get(Option.MESSAGE_TYPE)
    if kind is not None and len(kind) != 1:
        raise WireError("dhcp_bad_option", f"message type of {len(kind)} bytes")
    for code in _ONE_ADDRESS:
        value = options.get(code)
        if value is not None and len(value) != 4:
            raise WireError("dhcp_bad_option", f"option {code} of {len(value)} bytes, not an address")
    for code in _ADDRESS_LISTS:
        value = options.get(code)
        if value is not None and (not value or len(value) % 4):
            raise WireError("dhcp_bad_option", f"option {code} of {len(value)} bytes, not a list of addresses")
    for code in _SECONDS:
        value = options.get(code)
        if value is not None and len(value) != 4:
            raise WireError("dhcp_bad_option", f"option {code} of {len(value)} bytes, not a time")
    for code in _NAMES:
        value = options.get(code)
        if value is not None:
            _name_text(value)


def parse(data: bytes | bytearray | memoryview) -> DhcpMessage:
    """A DHCP message from a UDP payload. WireError reasons: `dhcp_truncated` (shorter than the fixed part
    and the cookie), `dhcp_bad_cookie` (BOOTP without DHCP), `dhcp_bad_hlen`, `dhcp_option_truncated`,
    `dhcp_bad_overload`, `dhcp_bad_option`, `dhcp_bad_name`."""
    raw = bytes(data)
    if len(raw) < OPTIONS_OFFSET:
        raise WireError("dhcp_truncated", f"{len(raw)} bytes")
    fixed = HEADER.parse(raw)
    if fixed.cookie != MAGIC_COOKIE:
        raise WireError("dhcp_bad_cookie", fixed.cookie.hex())
    if fixed.hlen > len(fixed.chaddr):
        raise WireError("dhcp_bad_hlen", f"hardware address of {fixed.hlen} bytes")
    joined: dict[int, bytearray] = {}
    _walk(raw[OPTIONS_OFFSET:], joined)
    overload = joined.pop(Option.OVERLOAD, None)
    if overload is not None:
        if len(overload) != 1 or not 1 <= overload[0] <= 3:
            raise WireError("dhcp_bad_overload", overload[:4].hex())
        # RFC 2131 4.1: the options field first, then `file`, then `sname`.
        if overload[0] & _OVERLOAD_FILE:
            _walk(fixed.file, joined)
        if overload[0] & _OVERLOAD_SNAME:
            _walk(fixed.sname, joined)
        joined.pop(Option.OVERLOAD, None)
    options = {code: bytes(value) for code, value in joined.items()}
    _check(options)
    return DhcpMessage(op=fixed.op, xid=fixed.xid, chaddr=fixed.chaddr[: fixed.hlen], options=options,
                       secs=fixed.secs, flags=fixed.flags, ciaddr=fixed.ciaddr, yiaddr=fixed.yiaddr,
                       siaddr=fixed.siaddr, giaddr=fixed.giaddr, htype=fixed.htype, hops=fixed.hops)


def build(message: DhcpMessage) -> bytes:
    """The message as bytes: fixed part, cookie, options (a value over 255 bytes split, RFC 3396), END, and
    zeros up to BOOTP's 300 bytes. Raises ValueError for values that do not fit their fields."""
    if len(message.chaddr) > 16:
        raise ValueError(f"a hardware address of {len(message.chaddr)} bytes does not fit chaddr")
    try:
        fixed = HEADER.build(dict(op=message.op, htype=message.htype, hlen=len(message.chaddr), hops=message.hops,
                                  xid=message.xid, secs=message.secs, flags=message.flags, ciaddr=message.ciaddr,
                                  yiaddr=message.yiaddr, siaddr=message.siaddr, giaddr=message.giaddr,
                                  chaddr=message.chaddr.ljust(16, b"\x00"), sname=bytes(64), file=bytes(128),
                                  cookie=MAGIC_COOKIE))
    except ConstructError as exc:
        raise ValueError(f"a field does not fit: {exc}") from None
    out = bytearray(fixed)
    for code, value in message.options.items():
        if not 0 < code < Option.END:
            raise ValueError(f"option code {code} cannot carry a value")
        if not value:
            out += bytes((code, 0))
        for start in range(0, len(value), MAX_OPTION_LEN):
            piece = value[start : start + MAX_OPTION_LEN]
            out += bytes((code, len(piece))) + piece
    out.append(Option.END)
    if len(out) < MIN_MESSAGE_LEN:
        out += bytes(MIN_MESSAGE_LEN - len(out))
    return bytes(out)


def address_bytes(*addresses: int) -> bytes:
    """Addresses as an option value (4 bytes each, network order)."""
    return b"".join(address.to_bytes(4, "big") for address in addresses)


def seconds_bytes(seconds: int) -> bytes:
    return seconds.to_bytes(4, "big")
