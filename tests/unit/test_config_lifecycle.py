"""The MTCPCFG file, and init_stack / end_stack."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mtcp_py.config import ConfigError, load_config, parse_config
from mtcp_py.launch import open_stack
from mtcp_py.stack import Stack, StackConfig, StackError
from pktdrv import DriverRegistry, ErrorCode, PacketDriver, PacketDriverError, VirtualClock, open_link
from pktdrv.links import HUBS

from .frames import STACK_IP

_names = itertools.count()

FULL = """\
# a comment
; another comment
ipaddr 10.0.2.15
NETMASK\t255.255.0.0
Gateway 10.0.2.1
NAMESERVER 10.0.2.3
MTU 576
HOSTNAME dos-box
PACKETINT 0x61
LINK hub:lan
IRCJR_NICK   someone with spaces

"""


def test_every_key() -> None:
    cfg = parse_config(FULL, "mtcp.cfg")
    assert cfg.ip == 0x0A00020F
    assert cfg.netmask == 0xFFFF0000
    assert cfg.gateway == 0x0A000201
    assert cfg.nameserver == 0x0A000203
    assert cfg.mtu == 576
    assert cfg.hostname == "dos-box"
    assert cfg.packet_int == 0x61
    assert cfg.link == "hub:lan"
    assert cfg.app == {"IRCJR_NICK": "someone with spaces"}
    assert cfg.app_value("ircjr_nick") == "someone with spaces"
    assert cfg.app_value("missing", "d") == "d"
    assert parse_config("PACKETINT 60").packet_int == 0x60


@pytest.mark.parametrize(("line", "key"), [
    ("IPADDR 10.0.0", "IPADDR"),
    ("netmask 255.0.255.0", "NETMASK"),
    ("MTU 9000", "MTU"),
    ("MTU big", "MTU"),
    ("PACKETINT 0x20", "PACKETINT"),
    ("HOSTNAME bad_name!", "HOSTNAME"),
    ("LINK mtap0", "LINK"),
    ("GATEWAY", "GATEWAY"),
])
def test_bad_line_names_file_line_and_key(line: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"# header\n{line}\n", "/etc/mtcp.cfg")
    assert (info.value.path, info.value.line, info.value.key) == ("/etc/mtcp.cfg", 2, key)
    assert str(info.value).startswith(f"/etc/mtcp.cfg:2: {key}: ")


def test_mtcpcfg_env(tmp_path: Path) -> None:
    path = tmp_path / "tcp.cfg"
    path.write_text("IPADDR 192.168.1.5\n")
    assert load_config(environ={"MTCPCFG": str(path)}).ip == 0xC0A80105
    assert load_config(environ={}).ip == 0
    with pytest.raises(ConfigError) as info:
        load_config(environ={"MTCPCFG": str(tmp_path / "missing.cfg")})
    assert "cannot read" in str(info.value)
    assert str(tmp_path / "missing.cfg") in str(info.value)


# -- init_stack / end_stack ------------------------------------------------------------------------------------


def new_stack(ip: int = STACK_IP, cls: type[Stack] = Stack) -> tuple[Stack, str]:
    name = f"life{next(_names)}"
    clock = VirtualClock()
    return cls(open_link(f"hub:{name}", clock), StackConfig(ip, announce=False, tcp_enabled=False), clock), name


def test_end_stack_twice_is_harmless() -> None:
    stack, name = new_stack()
    stack.init_stack()
    assert stack.driver.handles
    stack.end_stack()
    stack.end_stack()
    assert stack.driver.terminated
    assert HUBS.get(name).ports == []
    assert stack.counters()["stack"]["internal_errors"] == 0


def test_context_manager() -> None:
    stack, name = new_stack()
    with stack as s:
        assert s is stack and s.started
        assert len(HUBS.get(name).ports) == 1
    assert stack.ended and not stack.started
    assert HUBS.get(name).ports == []


class FailingStack(Stack):
    def _init_tcp(self) -> None:
        raise RuntimeError("TCP would not start")


def test_failing_init_step_undoes_registration_and_closes_link() -> None:
    name = f"life{next(_names)}"
    clock = VirtualClock()
    stack = FailingStack(open_link(f"hub:{name}", clock), StackConfig(STACK_IP, announce=False), clock)
    with pytest.raises(RuntimeError):
        stack.init_stack()
    assert stack.driver.handles == {}
    assert stack.driver.terminated
    assert HUBS.get(name).ports == []
    assert not stack.started


def test_no_ip_fails_early_and_counters_still_work() -> None:
    stack, name = new_stack(ip=0)
    with pytest.raises(StackError):
        stack.init_stack()
    assert HUBS.get(name).ports == []
    table = stack.counters()
    assert table["stack"]["internal_errors"] == 0
    assert "arp" not in table


def test_driver_in_use_is_a_stack_error() -> None:
    stack, _ = new_stack()
    stack.driver.access_type(1, 0xFFFF, 0, b"", lambda h, f, a: None)
    with pytest.raises(StackError) as info:
        stack.init_stack()
    assert "TYPE_INUSE" in str(info.value)


def test_open_stack_through_registry() -> None:
    cfg = parse_config(f"IPADDR 10.9.0.1\nPACKETINT 0x62\nLINK hub:life{next(_names)}\n")
    registry = DriverRegistry()
    stack = open_stack(cfg, clock=VirtualClock(), registry=registry, announce=False, tcp_enabled=False)
    try:
        assert registry.scan() == [0x62]
        assert registry.find(0x62) is stack.driver
    finally:
        stack.end_stack()
    assert registry.scan() == []
    with pytest.raises(PacketDriverError) as info:
        registry.find(0x62)
    assert info.value.code == ErrorCode.NO_NUMBER


def test_open_stack_without_link_or_ip() -> None:
    with pytest.raises(ConfigError) as info:
        open_stack(parse_config("IPADDR 10.0.0.1\n", "x.cfg"))
    assert info.value.key == "LINK"
    with pytest.raises(ConfigError) as info:
        open_stack(parse_config("LINK hub:x\n", "x.cfg"))
    assert info.value.key == "IPADDR"


def test_stack_over_plain_link_makes_its_driver() -> None:
    stack, _ = new_stack()
    assert isinstance(stack.driver, PacketDriver)
