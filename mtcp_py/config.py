"""The mTCP configuration file: `KEY value` lines, named by the MTCPCFG environment variable.

The lines are read by `pktdrv.mtcpcfg`, the reader the DOS machine uses too (its rules: keys
case-insensitive, comments on lines of their own starting with `#` or `;`, LINK and PACKETINT checked).
The stack's keys are checked here; any other key is kept for the programs (mTCP's getAppValue), as mTCP
ignores keys it does not know. A bad line raises ConfigError naming the file, the line number and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pktdrv.mtcpcfg import ConfigError, MtcpCfg, cfg_path, parse_cfg, read_cfg

from .wire import ip_from_str

__all__ = ["STACK_KEYS", "ConfigError", "MtcpConfig", "load_config", "parse_config"]


@dataclass
class MtcpConfig:
    ip: int = 0
    netmask: int = 0xFFFFFF00
    gateway: int = 0
    nameserver: int = 0
    """The first NAMESERVER line's address (0: none)."""
    nameservers: tuple[int, ...] = ()
    """Every NAMESERVER line's address, in file order: the resolver tries them in turn."""
    mtu: int = 1500
    hostname: str = ""
    packet_int: int = 0x60
    link: str = ""
    path: str = ""
    app: dict[str, str] = field(default_factory=dict)
    """Every key the stack does not use, upper-cased, for the programs."""

    def app_value(self, key: str, default: str | None = None) -> str | None:
        return self.app.get(key.upper(), default)


def _address(value: str) -> int:
    return ip_from_str(value)


def _netmask(value: str) -> int:
    mask = ip_from_str(value)
    inverted = ~mask & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise ValueError(f"{value} is not a contiguous netmask")
    return mask


def _mtu(value: str) -> int:
    if not (value.isascii() and value.isdecimal()):
        raise ValueError(f"{value}: not a whole number (the MTU, 576 to 1500)")
    number = int(value)
    if not 576 <= number <= 1500:
        raise ValueError(f"{value}: the MTU is between 576 and 1500")
    return number


def _hostname(value: str) -> str:
    # ASCII only (RFC 952/1123 names): the name goes on the wire, in DHCP's option 12 among others.
    if len(value) > 63 or not all((ch.isascii() and ch.isalnum()) or ch == "-" for ch in value):
        raise ValueError(f"{value!r} is not a host name (letters, digits and '-', at most 63)")
    return value


STACK_KEYS = {
    "IPADDR": ("ip", _address),
    "NETMASK": ("netmask", _netmask),
    "GATEWAY": ("gateway", _address),
    "NAMESERVER": ("nameserver", _address),
    "MTU": ("mtu", _mtu),
    "HOSTNAME": ("hostname", _hostname),
}
"""The stack's own keys, each one word; LINK and PACKETINT are checked by pktdrv.mtcpcfg."""


def parse_config(text: str, path: str = "<config>") -> MtcpConfig:
    return _from_cfg(parse_cfg(text, path))


def _from_cfg(cfg: MtcpCfg) -> MtcpConfig:
    config = MtcpConfig(path=cfg.path)
    if cfg.link is not None:
        config.link = cfg.link
    if cfg.packet_int is not None:
        config.packet_int = cfg.packet_int
    for key, entry in cfg.entries.items():
        if key in STACK_KEYS:
            attribute, convert = STACK_KEYS[key]
            value = cfg.word(key)
            assert value is not None
            try:
                setattr(config, attribute, convert(value))
            except ValueError as exc:
                raise cfg.error(key, str(exc)) from None
        elif key not in ("LINK", "PACKETINT"):
            config.app[key] = entry.value
    config.nameservers = _nameservers(cfg)
    config.nameserver = config.nameservers[0] if config.nameservers else 0
    return config


def _nameservers(cfg: MtcpCfg) -> tuple[int, ...]:
    """NAMESERVER may be given on several lines (each one address): all of them, in file order."""
    found = []
    for key, entry in cfg.every:
        if key != "NAMESERVER":
            continue
        one = MtcpCfg(cfg.path, {key: entry})
        try:
            found.append(_address(one.word(key) or ""))
        except ValueError as exc:
            raise one.error(key, str(exc)) from None
    return tuple(found)


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> MtcpConfig:
    """Read the file named by `path`, else by MTCPCFG; no file at all gives the defaults."""
    chosen = cfg_path(path, environ)
    if chosen is None:
        return MtcpConfig()
    return _from_cfg(read_cfg(chosen))
