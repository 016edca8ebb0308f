"""The programs given bad input: bad options, bad link strings, bad configuration, links that cannot open,
destinations with no route. All on `hub:` links (in-memory, inside the program's process) or on a device
that does not exist, so they need no root and nothing leaves the machine.

Every case ends with one line on stderr naming the program and the reason, never a traceback: exit status 2
for a usage or configuration error, 1 when the program ran and failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real.apputil import stop_with, wait_for_line

PROGRAMS = {"ping": "mtcp-ping", "nc": "mtcp-nc", "servers": "mtcp-servers", "demo": "mtcp-demo"}


def env_without_mtcpcfg(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MTCPCFG"}, **extra}


def run_app(module: str, *args: str, config: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = env_without_mtcpcfg(**({"MTCPCFG": str(config)} if config else {}))
    return subprocess.run([sys.executable, "-m", f"mtcp_py.apps.{module}", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, env=env)


def one_line(result: subprocess.CompletedProcess[str], module: str) -> str:
    """The single stderr line a failing program prints, checked to name the program."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{PROGRAMS[module]}: "), lines[0]
    return lines[0]


@pytest.fixture
def lan_config(tmp_path: Path) -> Path:
    """An address and a netmask on a hub, and no GATEWAY: nothing off the link has a route."""
    path = tmp_path / "mtcp.cfg"
    path.write_text("LINK hub:bad-input\nIPADDR 10.0.0.2\nNETMASK 255.255.255.0\n")
    return path


# -- bugs found on the way ----------------------------------------------------------------------------------


def test_nc_target_off_link_without_gateway_is_no_route(lan_config: Path) -> None:
    """Was a Python traceback (TcpError from connect): now `no route`, exit 1."""
    result = run_app("nc", "-target", "192.0.2.1", "80", config=lan_config)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == "mtcp-nc: no route"


def test_ping_reports_an_unroutable_request_once(lan_config: Path) -> None:
    """Was reported twice (the reason, then `timeout` after waiting for a reply to nothing)."""
    result = run_app("ping", "-count", "3", "-timeout", "5", "-interval", "0", "192.0.2.1", config=lan_config)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    for seq in range(3):
        assert result.stdout.count(f"Packet sequence number {seq}:") == 1, result.stdout
        assert f"Packet sequence number {seq}: no route to host" in result.stdout
    assert "timeout" not in result.stdout
    assert "Packets sent: 0, Replies received: 0, Replies lost: 0, Not sent: 3" in result.stdout


# -- numeric options: one line, exit 2 ---------------------------------------------------------------------

BAD_OPTIONS = [
    ("ping", ["-count", "0", "10.0.0.1"], "mtcp-ping: -count 0: requests, at least 1"),
    ("ping", ["-count", "-3", "10.0.0.1"], "mtcp-ping: -count -3: requests, at least 1"),
    ("ping", ["-count", "x", "10.0.0.1"], "mtcp-ping: -count x: requests, at least 1"),
    ("ping", ["-size", "-1", "10.0.0.1"], "mtcp-ping: -size -1: payload bytes, from 0 to 65507"),
    ("ping", ["-size", "70000", "10.0.0.1"], "mtcp-ping: -size 70000: payload bytes, from 0 to 65507"),
    ("ping", ["-size", "٣", "10.0.0.1"], "mtcp-ping: -size ٣: payload bytes, from 0 to 65507"),
    ("ping", ["-timeout", "0", "10.0.0.1"], "mtcp-ping: -timeout 0: seconds, a number more than 0"),
    ("ping", ["-timeout", "x", "10.0.0.1"], "mtcp-ping: -timeout x: seconds, a number more than 0"),
    ("ping", ["-timeout", "nan", "10.0.0.1"], "mtcp-ping: -timeout nan: seconds, a number more than 0"),
    ("ping", ["-timeout", "inf", "10.0.0.1"], "mtcp-ping: -timeout inf: seconds, a number more than 0"),
    ("ping", ["-interval", "-1", "10.0.0.1"], "mtcp-ping: -interval -1: seconds, a number 0 or more"),
    ("ping", ["10.0.0.300"], "mtcp-ping: 10.0.0.300: not a dotted IPv4 address (a host name has a letter in it)"),
    ("nc", ["-target", "10.0.0.1", "0"], "mtcp-nc: -target PORT 0: a port is a number, from 1 to 65535"),
    ("nc", ["-target", "10.0.0.1", "x"], "mtcp-nc: -target PORT x: a port is a number, from 1 to 65535"),
    ("nc", ["-target", "10.0.0.1", "70000"], "mtcp-nc: -target PORT 70000: a port is a number, from 1 to 65535"),
    ("nc", ["-listen", "0"], "mtcp-nc: -listen 0: a port is a number, from 1 to 65535"),
    ("nc", ["-listen", "-3"], "mtcp-nc: -listen -3: a port is a number, from 1 to 65535"),
    ("nc", ["-listen", "x"], "mtcp-nc: -listen x: a port is a number, from 1 to 65535"),
    ("nc", ["-listen", "5", "-w", "-1"], "mtcp-nc: -w -1: seconds, a number 0 or more"),
    ("nc", ["-listen", "5", "-w", "x"], "mtcp-nc: -w x: seconds, a number 0 or more"),
    ("nc", ["-listen", "5", "-w", "nan"], "mtcp-nc: -w nan: seconds, a number 0 or more"),
    ("nc", ["-target", "10.0.0.1", "7", "-srcport", "0"], "mtcp-nc: -srcport 0: a port is a number, from 1 to 65535"),
    ("nc", ["-target", "10.0.0.1", "7", "-srcport", "x"], "mtcp-nc: -srcport x: a port is a number, from 1 to 65535"),
    ("nc", ["-target", "10.0.0.1", "7", "-srcport", "70000"],
     "mtcp-nc: -srcport 70000: a port is a number, from 1 to 65535"),
    ("nc", ["-listen", "5", "-srcport", "6"], "mtcp-nc: -srcport is not valid with -listen"),
    ("servers", ["-echo", "0"], "mtcp-servers: -echo 0: a port is a number from 1 to 65535, or off"),
    ("servers", ["-echo", "70000"], "mtcp-servers: -echo 70000: a port is a number from 1 to 65535, or off"),
    ("servers", ["-chargen", "x"], "mtcp-servers: -chargen x: a port is a number from 1 to 65535, or off"),
    ("servers", ["-daytime", "٣"], "mtcp-servers: -daytime ٣: a port is a number from 1 to 65535, or off"),
    ("servers", ["-echo", "9"], "mtcp-servers: two services on one port"),
    ("demo", ["--count", "-1"], "mtcp-demo: --count -1: echo requests, at least 0"),
    ("demo", ["--size", "x"], "mtcp-demo: --size x: payload bytes, from 0 to 65507"),
    ("demo", ["--bytes", "-1"], "mtcp-demo: --bytes -1: bytes to transfer, at least 0"),
    ("demo", ["--link-params", "drop=abc"], "mtcp-demo: --link-params: drop=abc: not a number (a probability from "
                                             "0 to 1)"),
]
BACKLOGS = [("servers", ["-backlog", value], f"mtcp-servers: -backlog {value}: the backlog is a whole number of "
             "connections, at least 1") for value in ("0", "-3", "x", "²", "٣")]


@pytest.mark.parametrize(("module", "args", "message"), BAD_OPTIONS + BACKLOGS)
def test_bad_option_is_one_usage_line(module: str, args: list[str], message: str) -> None:
    result = run_app(module, "--link", "hub:x", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert one_line(result, module) == message


# -- link strings and links -------------------------------------------------------------------------------

PROGRAM_ARGS = {"ping": ["10.0.0.1"], "nc": ["-target", "10.0.0.1", "7"], "servers": []}


@pytest.mark.parametrize("module", PROGRAM_ARGS)
@pytest.mark.parametrize(("link", "reason"), [
    ("hub:x?drop=abc", "drop=abc: not a number (a probability from 0 to 1)"),
    ("hub:x?delay=soon", "delay=soon: not a whole number (ticks of 55 ms every frame is held, 0 or more)"),
    ("hub:x?colour=red", "unknown link parameter 'colour' (known: baud, corrupt, delay, drop, dup, mac, mtu, pcap, "
                         "queue, rate, reorder, seed)"),
    ("lan", "a link is written KIND:NAME, e.g. tap:mtap0, hub:lan, raw:br0"),
])
def test_bad_link_string_is_a_usage_error_in_words(module: str, link: str, reason: str, lan_config: Path) -> None:
    result = run_app(module, "--link", link, *PROGRAM_ARGS[module], config=lan_config)
    assert result.returncode == 2, result.stderr
    assert one_line(result, module) == f"{PROGRAMS[module]}: link {link}: {reason}"


@pytest.mark.parametrize("module", PROGRAM_ARGS)
def test_link_that_cannot_open_exits_1_with_its_reason(module: str, lan_config: Path) -> None:
    """raw: on an interface that does not exist (without root: not permitted): the program ran and failed."""
    result = run_app(module, "--link", "raw:nosuch0", *PROGRAM_ARGS[module], config=lan_config)
    assert result.returncode == 1, result.stderr
    line = one_line(result, module)
    assert line.startswith(f"{PROGRAMS[module]}: raw:nosuch0: "), line
    assert "no such device" in line or "not permitted" in line, line


# -- the configuration file -------------------------------------------------------------------------------


@pytest.mark.parametrize(("module", "text", "where"), [
    ("ping", "LINK hub:x\nIPADDR 10.0.2.300\n", ":2: IPADDR: not an IPv4 address: '10.0.2.300'"),
    ("nc", "LINK hub:x\nIPADDR 10.0.0.2\nNETMASK 255.0.255.0\n",
     ":3: NETMASK: 255.0.255.0 is not a contiguous netmask"),
    ("servers", "LINK hub:x # the hub\n", ":1: LINK: 'hub:x # the hub': one value expected (a comment goes on a "
                                          "line of its own, starting with #)"),
    ("ping", "LINK hub:x?drop=2\n", ":1: LINK: hub:x?drop=2: drop=2: out of range (a probability from 0 to 1)"),
    ("nc", "LINK hub:x\nIPADDR 10.0.0.2\nMTU big\n", ":3: MTU: big: not a whole number (the MTU, 576 to 1500)"),
    ("servers", "LINK hub:x\nPACKETINT 0x20\n", ":2: PACKETINT: 0x20: a packet driver interrupt is 0x60 to 0x80"),
])
def test_bad_config_line_names_file_line_and_key(module: str, text: str, where: str, tmp_path: Path) -> None:
    config = tmp_path / "bad.cfg"
    config.write_text(text)
    result = run_app(module, *PROGRAM_ARGS[module], config=config)
    assert result.returncode == 2, result.stderr
    assert one_line(result, module) == f"{PROGRAMS[module]}: {config}{where}"


def test_no_link_and_no_address_are_configuration_errors(tmp_path: Path) -> None:
    result = run_app("ping", "10.0.0.1")
    assert result.returncode == 2
    assert "LINK: no link given" in one_line(result, "ping")
    config = tmp_path / "mtcp.cfg"
    config.write_text("LINK hub:x\n")
    result = run_app("ping", "10.0.0.1", config=config)
    assert result.returncode == 2
    assert one_line(result, "ping") == (f"mtcp-ping: {config}: IPADDR: no IP address configured: "
                                        "set IPADDR, or run mtcp-dhcp to get one")


def test_backlog_one_is_taken(lan_config: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mtcp_py.apps.servers", "--config", str(lan_config),
                             "-backlog", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env_without_mtcpcfg())
    try:
        wait_for_line(proc, "mtcp-servers:")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_backlog_above_the_stacks_most_is_said_not_silently_cut(lan_config: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mtcp_py.apps.servers", "--config", str(lan_config),
                             "-backlog", "100"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env_without_mtcpcfg())
    try:
        seen = wait_for_line(proc, "mtcp-servers: 10.")
    finally:
        err = stop_with(proc)
    assert "mtcp-servers: -backlog 100: the stack queues at most 16 per service; using 16" in seen
    assert proc.returncode == 0, err
