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
from urllib.parse import parse_qsl

from ..clock import Clock, MonotonicTicks
from .base import Deliver, Link, LinkError, LinkWrapper, format_mac, parse_mac, random_mac
from .fault import FaultLink, Faults
from .hub import HUBS, Hub, HubLink
from .pcap import PcapLink, PcapWriter, read_pcap

__all__ = [
    "HUBS",
    "Deliver",
    "FaultLink",
    "Faults",
    "Hub",
    "HubLink",
    "Link",
    "LinkError",
    "LinkWrapper",
    "PcapLink",
    "PcapWriter",
    "format_mac",
    "open_link",
    "parse_link_spec",
    "parse_mac",
    "random_mac",
    "read_pcap",
]

FAULT_KEYS = {"drop": float, "dup": float, "reorder": float, "corrupt": float, "delay": int, "rate": int,
              "queue": int, "seed": int}
COMMON_KEYS = {"pcap", "mac", "mtu"}


def _open_tap(target: str, mac: bytes | None, mtu: int | None) -> Link:
    from .tap import TapLink

    return TapLink(target, mac=mac, mtu=mtu)


def _open_raw(target: str, mac: bytes | None, mtu: int | None) -> Link:
    from .raw import RawLink

    return RawLink(target, mac=mac)


def _open_hub(target: str, mac: bytes | None, mtu: int | None) -> Link:
    return HUBS.get(target).port(mac=mac, mtu=mtu or 1500)


LINK_KINDS: dict[str, Callable[[str, bytes | None, int | None], Link]] = {
    "tap": _open_tap,
    "raw": _open_raw,
    "hub": _open_hub,
}
"""Link kinds by scheme. Later kinds (slip, qemu, ethnet) register here."""


def parse_link_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """Split `kind:target?k=v&...` into its parts, checking the kind and the parameter names."""
    base, _, query = spec.partition("?")
    kind, sep, target = base.partition(":")
    if not sep or not target:
        raise LinkError(f"{spec}: a link is written KIND:NAME, e.g. tap:mtap0, hub:lan, raw:br0")
    if kind not in LINK_KINDS:
        raise LinkError(f"{spec}: unknown link kind {kind!r} (known: {', '.join(sorted(LINK_KINDS))})")
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in FAULT_KEYS and key not in COMMON_KEYS:
            raise LinkError(f"{spec}: unknown link parameter {key!r}")
        params[key] = value
    return kind, target, params


def open_link(spec: str, clock: Clock | None = None) -> Link:
    """Open the link a string names, with its wrappers. Errors name the link and say why."""
    kind, target, params = parse_link_spec(spec)
    clock = clock or MonotonicTicks()
    try:
        mac = parse_mac(params["mac"]) if "mac" in params else None
        mtu = int(params["mtu"]) if "mtu" in params else None
        if mtu is not None and not 68 <= mtu <= 65_535:
            raise ValueError(f"mtu={mtu}: an MTU is between 68 and 65535")
        fault_args = {k: conv(params[k]) for k, conv in FAULT_KEYS.items() if k in params}  # type: ignore[operator]
        faults = Faults(**fault_args)
    except ValueError as exc:
        raise LinkError(f"{spec}: {exc}") from None
    link = LINK_KINDS[kind](target, mac, mtu)
    link.spec = spec.partition("?")[0]
    try:
        if faults.active:
            link = FaultLink(link, faults, clock)
        if "pcap" in params:
            link = PcapLink(link, params["pcap"], clock)
    except Exception:
        link.close()
        raise
    return link
