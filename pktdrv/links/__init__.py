"""Links: how the emulated packet driver reaches a network, each named by one string.

    tap:mtap0                      a Linux TAP device (created or attached by name)
    raw:br0                        an existing interface through AF_PACKET
    hub:lan                        an in-memory hub shared by stacks in this process

Wrappers are query parameters, applied around the link in a fixed order (fault injector inside, pcap
writer outside, so the capture shows what the stack sent and what reached it):

    tap:mtap0?pcap=/tmp/run.pcap&drop=0.05&reorder=0.05&dup=0.01&corrupt=0.001&delay=2&rate=9600&seed=7

`mac=02:00:00:00:00:01` sets the station address; `mtu=N` the MTU where the link lets us choose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..clock import Clock, MonotonicTicks
from .base import Deliver, Link, LinkError, LinkWrapper, format_mac, parse_mac, random_mac
from .fault import FaultLink, Faults
from .hub import HUBS, Hub, HubLink
from .pcap import PcapLink, PcapWriter, read_pcap
from .raw import RawLink
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


def _count(what: str, least: int | None = 0, most: int | None = None) -> Callable[[str], int]:
    """A converter for a whole number; `what` says what it is, for the message."""

    def convert(text: str) -> int:
        body = text[1:] if text[:1] in "+-" else text
        if not (body.isascii() and body.isdecimal()):
            raise ValueError(f"not a whole number ({what})")
        value = int(text)
        if (least is not None and value < least) or (most is not None and value > most):
            raise ValueError(f"out of range ({what})")
        return value

    return convert


def _mac(text: str) -> bytes:
    try:
        return parse_mac(text)
    except ValueError:
        raise ValueError("not a MAC address (six hex bytes, e.g. 02:00:00:00:00:01)") from None


def _path(text: str) -> str:
    if not text:
        raise ValueError("needs a file name (pcap=FILE)")
    return text


FAULT_KEYS: dict[str, Callable[[str], object]] = {
    "drop": _probability,
    "dup": _probability,
    "reorder": _probability,
    "corrupt": _probability,
    "delay": _count("ticks of 55 ms every frame is held, 0 or more"),
    "rate": _count("bytes per second, 0 or more; 0 is unlimited"),
    "queue": _count("frames waiting at the rate limit, 0 or more"),
    "seed": _count("the fault generator's seed, a whole number", least=None),
}
"""The fault injector's parameters (Faults' fields), each with its converter."""
COMMON_KEYS: dict[str, Callable[[str], object]] = {
    "pcap": _path,
    "mac": _mac,
    "mtu": _count("an MTU from 68 to 65535", least=68, most=65_535),
}
DEVICE_KINDS = {"tap", "raw"}
"""Kinds whose target is a network interface name (at most 15 characters, as Linux has it)."""


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


def _open_tap(target: str, mac: bytes | None, mtu: int | None) -> Link:
    return TapLink(target, mac=mac, mtu=mtu)


def _open_raw(target: str, mac: bytes | None, mtu: int | None) -> Link:
    return RawLink(target, mac=mac)


def _open_hub(target: str, mac: bytes | None, mtu: int | None) -> Link:
    return HUBS.get(target).port(mac=mac, mtu=mtu or 1500)


LINK_KINDS: dict[str, Callable[[str, bytes | None, int | None], Link]] = {
    "tap": _open_tap,
    "raw": _open_raw,
    "hub": _open_hub,
}
"""Link kinds by scheme. Later kinds (slip, qemu, ethnet) register here."""


def parse_link(spec: str) -> LinkSpec:
    """Check a link string, `kind:target?k=v&...`, without opening anything; LinkSpecError says what is
    wrong with it in words."""
    base, _, query = spec.partition("?")
    kind, sep, target = base.partition(":")
    if not sep or not target:
        raise LinkSpecError(spec, "a link is written KIND:NAME, e.g. tap:mtap0, hub:lan, raw:br0")
    if kind not in LINK_KINDS:
        raise LinkSpecError(spec, f"unknown link kind {kind!r} (known: {', '.join(sorted(LINK_KINDS))})")
    if kind in DEVICE_KINDS and not (0 < len(target) <= 15 and "/" not in target and not target.isspace()):
        raise LinkSpecError(spec, f"{target!r}: a device name is 1 to 15 characters, without '/'")
    params: dict[str, str] = {}
    values: dict[str, object] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        convert = FAULT_KEYS.get(key) or COMMON_KEYS.get(key)
        if convert is None:
            known = ", ".join(sorted({*FAULT_KEYS, *COMMON_KEYS}))
            raise LinkSpecError(spec, f"unknown link parameter {key!r} (known: {known})")
        try:
            values[key] = convert(value)
        except ValueError as exc:
            raise LinkSpecError(spec, f"{key}={value}: {exc}") from None
        params[key] = value
    try:
        faults = Faults(**{k: v for k, v in values.items() if k in FAULT_KEYS})  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:  # Faults checks again; the converters have said it in words
        raise LinkSpecError(spec, str(exc)) from None
    mac = values.get("mac")
    mtu = values.get("mtu")
    pcap = values.get("pcap")
    return LinkSpec(kind, target, params, mac=mac if isinstance(mac, bytes) else None,
                    mtu=mtu if isinstance(mtu, int) else None, faults=faults,
                    pcap=pcap if isinstance(pcap, str) else None)


def parse_link_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """Split `kind:target?k=v&...` into its parts, checking the kind, the parameters and their values."""
    parsed = parse_link(spec)
    return parsed.kind, parsed.target, parsed.params


def open_link(spec: str, clock: Clock | None = None) -> Link:
    """Open the link a string names, with its wrappers. A string wrong as written raises LinkSpecError; a link
    that cannot open (not permitted, no such device, busy) raises LinkError naming the link and the reason."""
    parsed = parse_link(spec)
    clock = clock or MonotonicTicks()
    link = LINK_KINDS[parsed.kind](parsed.target, parsed.mac, parsed.mtu)
    link.spec = spec.partition("?")[0]
    try:
        if parsed.faults.active:
            link = FaultLink(link, parsed.faults)
        if parsed.pcap is not None:
            link = PcapLink(link, parsed.pcap, clock)
    except Exception:
        link.close()
        raise
    return link
