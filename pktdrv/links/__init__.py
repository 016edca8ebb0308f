"""Links: how the emulated packet driver reaches a network, each named by one string.

    tap:mtap0                      a Linux TAP device (created or attached by name)
    raw:br0                        an existing interface through AF_PACKET
    hub:lan                        an in-memory hub shared by stacks in this process
    qemu-stream:unix:PATH          QEMU's -netdev stream (also tcp:HOST:PORT; ?listen=1 to listen)
    qemu-dgram:LH:LP:RH:RP         QEMU's -netdev dgram, one frame per UDP datagram
    slip:URL                       SLIP on a serial line (pyserial URL), shown as Ethernet; ?listen=1,
                                   ?baud=N, ?dosbox=1
    86box:                         86Box's network switch (UDP 8086, multicast and lo); ?secret=S
    ethnet:HOST:PORT               DOSBox-X's NE2000 ethnet tunnel (client; ?listen=1 to serve)

Wrappers are query parameters, applied around the link in a fixed order (a period line speed innermost,
as the wire is, then the fault injector, the pcap writer outside, so the capture shows what the stack sent
and what reached it):

    tap:mtap0?pcap=/tmp/run.pcap&drop=0.05&reorder=0.05&dup=0.01&corrupt=0.001&delay=2&rate=9600&seed=7

`tap:mtap0?offload=1` leaves TCP/UDP checksums to the kernel both ways (IFF_VNET_HDR), where no wrapper
is asked for: with any, the device is opened without it.
`mac=02:00:00:00:00:01` sets the station address; `mtu=N` the MTU where the link lets us choose;
`rate=10mbit` (10BASE-T: preamble, FCS and interframe gap counted; also 100mbit, 512kbit...) or `baud=N`
(a serial line, ten bits a byte) carry any link at a period speed (`slip:` paces its bytes itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..clock import Clock, MonotonicTicks
from .base import Deliver, Link, LinkError, LinkWrapper, format_mac, parse_mac, random_mac
from .box86 import BOX86
from .ethnet import ETHNET
from .fault import FaultLink, Faults
from .hub import HUBS, Hub, HubLink
from .kinds import LinkKind, Options, baud_rate, flag, whole_number
from .pacing import LineSpeed, PacedLink, ethernet_speed, serial_speed
from .pcap import PcapLink, PcapWriter, read_pcap
from .qemu import QEMU_DGRAM, QEMU_STREAM
from .raw import RawLink
from .slip import SLIP
from .tap import TapLink

__all__ = [
    "HUBS",
    "Deliver",
    "FaultLink",
    "Faults",
    "Hub",
    "HubLink",
    "Link",
    "LinkError",
    "LinkKind",
    "LinkSpec",
    "LinkSpecError",
    "LinkWrapper",
    "PcapLink",
    "PcapWriter",
    "format_mac",
    "open_link",
    "parse_link",
    "parse_link_spec",
    "parse_mac",
    "random_mac",
    "read_pcap",
]

PROBABILITY = "a probability from 0 to 1"


class LinkSpecError(LinkError):
    """A link string that is wrong as written: a usage error, not a link that failed to open.

    The message is `link SPEC: REASON`, e.g. `link hub:x?drop=abc: drop=abc: not a number (a probability
    from 0 to 1)`; `spec` and `reason` are kept apart for callers that name the link themselves.
    """

    def __init__(self, spec: str, reason: str) -> None:
        self.spec, self.reason = spec, reason
        super().__init__(f"link {spec}: {reason}")


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number ({PROBABILITY})") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ValueError(f"out of range ({PROBABILITY})")
    return value


def _mac(text: str) -> bytes:
    try:
        return parse_mac(text)
    except ValueError:
        raise ValueError("not a MAC address (six hex bytes, e.g. 02:00:00:00:00:01)") from None


def _path(text: str) -> str:
    if not text:
        raise ValueError("needs a file name (pcap=FILE)")
    return text


RATE_WORDS = "bytes per second, 0 or more; 0 is unlimited"


def _rate(text: str) -> int | LineSpeed:
    """`rate=9600` (bytes a second, the fault injector's) or `rate=10mbit` (a period Ethernet speed)."""
    if text[-4:].lower() in ("kbit", "mbit", "gbit"):
        return ethernet_speed(text)
    try:
        return whole_number(RATE_WORDS)(text)
    except ValueError:
        raise ValueError(f"not a whole number ({RATE_WORDS}) nor a line speed such as 10mbit") from None


def _baud(text: str) -> LineSpeed:
    return serial_speed(baud_rate(text))


FAULT_KEYS: dict[str, Callable[[str], object]] = {
    "drop": _probability,
    "dup": _probability,
    "reorder": _probability,
    "corrupt": _probability,
    "delay": whole_number("ticks of 55 ms every frame is held, 0 or more"),
    "rate": _rate,
    "queue": whole_number("frames waiting at the rate limit, 0 or more"),
    "seed": whole_number("the fault generator's seed, a whole number", least=None),
}
"""The fault injector's parameters (Faults' fields), each with its converter."""
COMMON_KEYS: dict[str, Callable[[str], object]] = {
    "pcap": _path,
    "mac": _mac,
    "mtu": whole_number("an MTU from 68 to 65535", least=68, most=65_535),
    "baud": _baud,
}


@dataclass(frozen=True)
class LinkSpec:
    """A link string, checked: what `open_link` opens."""

    kind: str
    target: str
    params: dict[str, str]
    """The parameters as written."""
    mac: bytes | None = None
    mtu: int | None = None
    faults: Faults = field(default_factory=Faults)
    pcap: str | None = None
    options: Options = field(default_factory=dict)
    """The kind's own parameters (its LinkKind's keys), converted."""
    speed: LineSpeed | None = None
    """A period line speed (`rate=10mbit`, `baud=N`) the link is carried at."""


def _device_name(target: str) -> None:
    """tap: and raw: name a network interface: at most 15 characters, as Linux has it."""
    if not (0 < len(target) <= 15 and "/" not in target and not target.isspace()):
        raise ValueError(f"{target!r}: a device name is 1 to 15 characters, without '/'")


def _any_name(target: str) -> None:
    """hub: takes any name."""


def _open_tap(target: str, mac: bytes | None, mtu: int | None, options: Options) -> Link:
    return TapLink(target, mac=mac, mtu=mtu, offload=bool(options.get("offload")))


def _open_raw(target: str, mac: bytes | None, mtu: int | None, options: Options) -> Link:
    return RawLink(target, mac=mac)


def _open_hub(target: str, mac: bytes | None, mtu: int | None, options: Options) -> Link:
    return HUBS.get(target).port(mac=mac, mtu=mtu or 1500)


LINK_KINDS: dict[str, LinkKind] = {
    "tap": LinkKind(_open_tap, {"offload": flag("TCP/UDP checksums left to the kernel, both ways")}, _device_name),
    "raw": LinkKind(_open_raw, {}, _device_name),
    "hub": LinkKind(_open_hub, {}, _any_name),
    "qemu-stream": QEMU_STREAM,
    "qemu-dgram": QEMU_DGRAM,
    "slip": SLIP,
    "86box": BOX86,
    "ethnet": ETHNET,
}
"""Link kinds by scheme, each with its own parameters (beyond the common ones) and its target's check."""


def parse_link(spec: str) -> LinkSpec:
    """Check a link string, `kind:target?k=v&...`, without opening anything; LinkSpecError says what is
    wrong with it in words."""
    base, _, query = spec.partition("?")
    kind, sep, target = base.partition(":")
    link_kind = LINK_KINDS.get(kind)
    if sep and not target and link_kind is not None and link_kind.default_target is not None:
        target = link_kind.default_target
    if not sep or not target:
        raise LinkSpecError(spec, "a link is written KIND:NAME, e.g. tap:mtap0, hub:lan, raw:br0")
    if link_kind is None:
        raise LinkSpecError(spec, f"unknown link kind {kind!r} (known: {', '.join(sorted(LINK_KINDS))})")
    try:
        link_kind.check_target(target)
    except ValueError as exc:
        raise LinkSpecError(spec, str(exc)) from None
    own_keys = link_kind.keys
    params: dict[str, str] = {}
    values: dict[str, object] = {}
    options: Options = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        convert = own_keys.get(key) or FAULT_KEYS.get(key) or COMMON_KEYS.get(key)
        if convert is None:
            known = ", ".join(sorted({*FAULT_KEYS, *COMMON_KEYS, *own_keys}))
            raise LinkSpecError(spec, f"unknown link parameter {key!r} (known: {known})")
        try:
            values[key] = convert(value)
        except ValueError as exc:
            raise LinkSpecError(spec, f"{key}={value}: {exc}") from None
        params[key] = value
        if key in own_keys:
            options[key] = values.pop(key)
    speed = None
    for key in ("rate", "baud"):
        if isinstance(values.get(key), LineSpeed):
            if speed is not None:
                raise LinkSpecError(spec, "rate=...bit and baud= both set a line speed: give one")
            speed = values.pop(key)
    try:
        faults = Faults(**{k: v for k, v in values.items() if k in FAULT_KEYS})  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:  # Faults checks again; the converters have said it in words
        raise LinkSpecError(spec, str(exc)) from None
    mac = values.get("mac")
    mtu = values.get("mtu")
    pcap = values.get("pcap")
    return LinkSpec(kind, target, params, mac=mac if isinstance(mac, bytes) else None,
                    mtu=mtu if isinstance(mtu, int) else None, faults=faults,
                    pcap=pcap if isinstance(pcap, str) else None, options=options,
                    speed=speed if isinstance(speed, LineSpeed) else None)


def parse_link_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """Split `kind:target?k=v&...` into its parts, checking the kind, the parameters and their values."""
    parsed = parse_link(spec)
    return parsed.kind, parsed.target, parsed.params


def open_link(spec: str, clock: Clock | None = None) -> Link:
    """Open the link a string names, with its wrappers. A string wrong as written raises LinkSpecError; a link
    that cannot open (not permitted, no such device, busy) raises LinkError naming the link and the reason."""
    parsed = parse_link(spec)
    clock = clock or MonotonicTicks()
    options = parsed.options
    if options.get("offload") and (parsed.speed is not None or parsed.faults.active or parsed.pcap is not None):
        # A wrapper records or alters frames, so they carry their checksums: the device is opened as without
        # offload=1 (the link reports checksum_offload False, and the stack sums every frame itself).
        options = {**options, "offload": False}
    link = LINK_KINDS[parsed.kind].opener(parsed.target, parsed.mac, parsed.mtu, options)
    link.spec = spec.partition("?")[0]
    try:
        if parsed.speed is not None:
            link = PacedLink(link, parsed.speed)
        if parsed.faults.active:
            link = FaultLink(link, parsed.faults)
        if parsed.pcap is not None:
            link = PcapLink(link, parsed.pcap, clock)
    except Exception:
        link.close()
        raise
    return link
