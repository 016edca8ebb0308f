"""NAMESERVER lines into the resolver: every line kept in file order, each checked on its own line; the
stack's resolver built from them; the blocking `resolve` and its errors; the shared HOST argument check."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.common import host_argument
from mtcp_py.blocking import resolve
from mtcp_py.config import ConfigError, parse_config
from mtcp_py.dns import NO_NAMESERVER, ResolveError
from mtcp_py.stack import Stack, StackConfig, StackError
from mtcp_py.wire import ip_from_str
from pktdrv import VirtualClock, open_link
from pktdrv.mtcpcfg import parse_cfg

_hubs = itertools.count()


def test_every_nameserver_line_in_file_order() -> None:
    config = parse_config("IPADDR 10.0.0.2\nNAMESERVER 10.0.0.53\nnameserver 10.0.0.54\nNameServer 10.0.0.55\n")
    assert config.nameservers == (ip_from_str("10.0.0.53"), ip_from_str("10.0.0.54"), ip_from_str("10.0.0.55"))
    assert config.nameserver == ip_from_str("10.0.0.53")


def test_a_bad_nameserver_line_is_named_by_its_own_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("NAMESERVER 10.0.0.53\nNAMESERVER nowhere\nNAMESERVER 10.0.0.55\n", "t.cfg")
    assert str(info.value) == "t.cfg:2: NAMESERVER: not an IPv4 address: 'nowhere'"


def test_no_nameserver_line() -> None:
    config = parse_config("IPADDR 10.0.0.2\n")
    assert config.nameservers == () and config.nameserver == 0


def make_stack(**config: object) -> Stack:
    clock = VirtualClock()
    link = open_link(f"hub:dnscfg{next(_hubs)}", clock)
    return Stack(link, StackConfig(ip_from_str("10.0.0.2"), **config), clock).init_stack()  # type: ignore[arg-type]


def test_the_stack_resolver_takes_the_configured_nameservers() -> None:
    config = parse_config("IPADDR 10.0.0.2\nNAMESERVER 10.0.0.53\nNAMESERVER 10.0.0.54\nHOSTNAME retro\n")
    clock = VirtualClock()
    stack = Stack(open_link(f"hub:dnscfg{next(_hubs)}", clock), StackConfig.from_mtcp(config), clock).init_stack()
    try:
        assert stack.dns.nameservers == [ip_from_str("10.0.0.53"), ip_from_str("10.0.0.54")]
        assert resolve(stack, "Retro.") == ip_from_str("10.0.0.2")
    finally:
        stack.end_stack()


def test_a_single_nameserver_given_the_old_way() -> None:
    stack = make_stack(nameserver=ip_from_str("10.0.0.53"))
    try:
        assert stack.dns.nameservers == [ip_from_str("10.0.0.53")]
    finally:
        stack.end_stack()


def test_no_udp_means_no_resolver() -> None:
    stack = make_stack(udp_enabled=False)
    try:
        with pytest.raises(StackError):
            stack.dns  # noqa: B018
    finally:
        stack.end_stack()


def test_resolve_raises_the_lookup_error() -> None:
    stack = make_stack()
    try:
        with pytest.raises(ResolveError) as info:
            resolve(stack, "peer.lan")
        assert str(info.value) == NO_NAMESERVER and info.value.name == "peer.lan"
        assert resolve(stack, "10.1.2.3") == ip_from_str("10.1.2.3")
    finally:
        stack.end_stack()


def test_resolve_a_nameserver_nobody_answers_arp_for() -> None:
    """Nobody at the address: the first query waits on ARP, the retry finds ARP has failed (IP says host
    unreachable at once), so the lookup ends with that, before its timeout."""
    stack = make_stack(nameservers=(ip_from_str("10.0.0.53"),))
    try:
        with pytest.raises(ResolveError) as info:
            resolve(stack, "peer.lan", timeout=60)
        assert str(info.value) == "cannot reach the nameserver: host unreachable (no ARP reply)"
    finally:
        stack.end_stack()


@pytest.mark.parametrize("text", ["10.0.0.1", "peer.lan", "PEER.LAN.", "retro"])
def test_host_arguments_that_are_fine(text: str) -> None:
    assert host_argument("mtcp-x", text) == text


@pytest.mark.parametrize(("text", "message"), [
    ("10.0.0.300", "mtcp-x: 10.0.0.300: not a dotted IPv4 address (a host name has a letter in it)"),
    ("a..b", "mtcp-x: a..b: not a host name: 'a..b': an empty label"),
])
def test_host_arguments_that_are_usage_errors(text: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        host_argument("mtcp-x", text)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == message


def run_dnstest(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    if config is not None:
        env["MTCPCFG"] = str(config)
    return subprocess.run([sys.executable, "-m", "mtcp_py.apps.dnstest", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("args", "message"), [
    (["-name", "peer.lan", "-timeout", "0"], "mtcp-dnstest: -timeout 0: seconds, at least 1"),
    (["-name", "peer.lan", "-timeout", "x"], "mtcp-dnstest: -timeout x: seconds, at least 1"),
    (["-name", "a..b"], "mtcp-dnstest: a..b: not a host name: 'a..b': an empty label"),
    (["-name", "1.2.3.400"], "mtcp-dnstest: 1.2.3.400: not a dotted IPv4 address (a host name has a letter in it)"),
])
def test_dnstest_bad_command_line_is_one_usage_line(args: list[str], message: str) -> None:
    result = run_dnstest("--link", "hub:x", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [message]


def test_dnstest_without_a_nameserver_is_one_line_and_status_1(tmp_path: Path) -> None:
    config = tmp_path / "mtcp.cfg"
    config.write_text("LINK hub:dnstest-none\nIPADDR 10.0.0.2\nHOSTNAME retro\n")
    result = run_dnstest("-name", "peer.lan", config=config)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"mtcp-dnstest: peer.lan: {NO_NAMESERVER}"]
    own = run_dnstest("-name", "retro.", config=config)
    assert own.returncode == 0 and "Machine name retro. resolved to 10.0.0.2" in own.stdout


def test_the_shared_reader_keeps_every_line_and_still_the_last_of_a_key() -> None:
    cfg = parse_cfg("NAMESERVER 10.0.0.53\n# note\nIPADDR 10.0.0.2\nNAMESERVER 10.0.0.54\n", "t.cfg")
    assert [(key, entry.value, entry.line) for key, entry in cfg.every] == [
        ("NAMESERVER", "10.0.0.53", 1), ("IPADDR", "10.0.0.2", 3), ("NAMESERVER", "10.0.0.54", 4)]
    assert cfg.entries["NAMESERVER"].value == "10.0.0.54"  # mTCP's rule for every other key
