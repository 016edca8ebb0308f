"""Bringing a stack up from the mTCP configuration, the way an mTCP program does at start.

The link named by LINK (or the caller's override) gets a packet driver, installed at PACKETINT in a
driver registry; the stack then finds it there by the "PKT DRVR" signature, as mTCP finds its driver.
"""

from __future__ import annotations

from typing import Any

from pktdrv import Clock, DriverRegistry, MonotonicTicks, PacketDriver, open_link

from .config import ConfigError, MtcpConfig
from .stack import Stack, StackConfig


def open_stack(config: MtcpConfig, link: str | None = None, clock: Clock | None = None,
               registry: DriverRegistry | None = None, **overrides: Any) -> Stack:
    """A started stack on the configured link. Raises ConfigError, LinkError or StackError."""
    spec = link or config.link
    if not spec:
        raise ConfigError(config.path or "<no config>", 0, "LINK",
                          "no link given (LINK in the config file, or --link, e.g. tap:mtap0)")
    if not config.ip and not overrides.get("no_address"):
        raise ConfigError(config.path or "<no config>", 0, "IPADDR",
                          "no IP address configured: set IPADDR, or run mtcp-dhcp to get one")
    clock = clock or MonotonicTicks()
    registry = registry or DriverRegistry()
    driver = PacketDriver(open_link(spec, clock), interrupt=config.packet_int)
    try:
        registry.install(driver, config.packet_int)
        found = registry.find(config.packet_int)
        return Stack(found, StackConfig.from_mtcp(config, **overrides), clock).init_stack()
    except BaseException:
        driver.shutdown()
        raise
