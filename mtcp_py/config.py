"""The mTCP configuration file: `KEY value` lines, named by the MTCPCFG environment variable.

Keys are case-insensitive. The stack's keys are checked here; any other key is kept for the programs
(mTCP's getAppValue), as mTCP ignores keys it does not know. A bad line raises ConfigError naming the file,
the line number and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .wire import ip_from_str


class ConfigError(Exception):
    def __init__(self, path: str, line: int, key: str, reason: str) -> None:
        self.path, self.line, self.key, self.reason = path, line, key, reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


@dataclass
class MtcpConfig:
    ip: int = 0
    netmask: int = 0xFFFFFF00
    gateway: int = 0
    nameserver: int = 0
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


def _packet_int(value: str) -> int:
    number = int(value, 0) if value.lower().startswith("0x") else int(value, 16)
    if not 0x60 <= number <= 0x80:
        raise ValueError(f"{value}: a packet driver interrupt is between 0x60 and 0x80")
    return number


def _mtu(value: str) -> int:
    number = int(value)
    if not 576 <= number <= 1500:
        raise ValueError(f"{value}: the MTU is between 576 and 1500")
    return number


def _hostname(value: str) -> str:
    if len(value) > 63 or not all(ch.isalnum() or ch == "-" for ch in value):
        raise ValueError(f"{value!r} is not a host name (letters, digits and '-', at most 63)")
    return value


def _link(value: str) -> str:
    if ":" not in value:
        raise ValueError(f"{value!r} is not a link (KIND:NAME, e.g. tap:mtap0)")
    return value


STACK_KEYS = {
    "IPADDR": ("ip", _address),
    "NETMASK": ("netmask", _netmask),
    "GATEWAY": ("gateway", _address),
    "NAMESERVER": ("nameserver", _address),
    "MTU": ("mtu", _mtu),
    "HOSTNAME": ("hostname", _hostname),
    "PACKETINT": ("packet_int", _packet_int),
    "LINK": ("link", _link),
}


def parse_config(text: str, path: str = "<config>") -> MtcpConfig:
    config = MtcpConfig(path=path)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, _, value = line.partition(" ")
        if "\t" in key:
            key, _, rest = key.partition("\t")
            value = rest + " " + value
        key = key.upper()
        value = value.strip()
        if key in STACK_KEYS:
            attribute, convert = STACK_KEYS[key]
            if not value:
                raise ConfigError(path, number, key, "needs a value")
            try:
                setattr(config, attribute, convert(value))
            except ValueError as exc:
                raise ConfigError(path, number, key, str(exc)) from None
        else:
            config.app[key] = value
    return config


def load_config(path: str | os.PathLike[str] | None = None,
                environ: dict[str, str] | os._Environ[str] | None = None) -> MtcpConfig:
    """Read the file named by `path`, else by MTCPCFG; no file at all gives the defaults."""
    env = os.environ if environ is None else environ
    chosen = str(path) if path else env.get("MTCPCFG", "")
    if not chosen:
        return MtcpConfig()
    try:
        text = Path(chosen).read_text(encoding="latin-1")
    except OSError as exc:
        raise ConfigError(chosen, 0, "", f"cannot read: {exc.strerror}") from None
    return parse_config(text, chosen)
