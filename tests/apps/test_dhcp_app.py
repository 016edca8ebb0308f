"""mtcp-dhcp on a hub against the scripted server (no root): the lease written, every other line kept;
NAK, silence and an offer without an address each exit 1 with the reason and leave the file untouched;
bad command lines and configurations exit 2 with one line.

The program runs in this process (a hub joins stacks of one process only) on a virtual clock, with the
server's stack polled beside its own; the usage errors run it as a command.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtcp_py import cfgfile
from mtcp_py.apps.dhcp import main
from pktdrv import VirtualClock
from tests.real.apputil import stop_with, wait_for_line
from tests.unit.test_dhcp_peer import (
    OFFER,
    ClientMessage,
    StackServer,
    addr,
    bootp_reply,
    option,
    standard_options,
)

CLIENT_MAC = "02:00:00:00:00:01"
WALL = 1796178117
_names = itertools.count()


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        assert "Traceback" not in self.err, self.err
        return self.err.splitlines()[-1]


@dataclass
class HubLab:
    hub: str
    clock: VirtualClock
    server: StackServer
    config: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> Run:
        argv = ["--config", str(self.config), "--link", f"hub:{self.hub}?mac={CLIENT_MAC}", *args]
        try:
            code = main(argv, clock=self.clock, rng=random.Random(3), wall_clock=lambda: WALL,
                        poll_also=[self.server.stack])
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)


ORIGINAL = (b"# mTCP settings for the lab\n"
            b"PACKETINT 0x60\n"
            b"HOSTNAME retro\n"
            b"IRCJR_NICK  bob\r\n"
            b"; a comment\n"
            b"MTU 1400\n")


@pytest.fixture
def lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[HubLab]:
    clock = VirtualClock()
    hub = f"dhcp-app{next(_names)}"
    server = StackServer(hub, clock)
    config = tmp_path / "mtcp.cfg"
    config.write_bytes(ORIGINAL)
    yield HubLab(hub, clock, server, config, capsys)
    server.close()


def untouched(lab: HubLab, before: os.stat_result) -> bool:
    after = lab.config.stat()
    return lab.config.read_bytes() == ORIGINAL and after.st_mtime_ns == before.st_mtime_ns and \
        after.st_ino == before.st_ino


def test_lease_is_written_and_every_other_line_kept(lab: HubLab) -> None:
    result = lab.run()
    assert result.code == 0, result.err
    written = lab.config.read_bytes()
    lines = written.split(b"\n")
    assert lines[0].startswith(b"DHCPVER DHCP Client version mtcp-py")
    assert lines[1].startswith(f"TIMESTAMP ( {WALL} ) ".encode())
    assert written.split(b"\n", 2)[2] == ORIGINAL + (b"IPADDR 10.9.0.50\n"
                                                     b"NETMASK 255.255.255.0\n"
                                                     b"GATEWAY 10.9.0.254\n"
                                                     b"NAMESERVER 10.9.0.53\n"
                                                     b"LEASE_TIME 3600\n")
    assert result.out.splitlines()[:5] == ["IPADDR = 10.9.0.50", "NETMASK = 255.255.255.0", "GATEWAY = 10.9.0.254",
                                           "NAMESERVER = 10.9.0.53", "LEASE_TIME = 3600 seconds"]
    assert "Domain name: lab.example" in result.out
    assert result.last_line == f"mtcp-dhcp: settings written to {lab.config}"


def test_stack_asks_from_no_address_even_when_the_file_has_one(lab: HubLab) -> None:
    lab.config.write_bytes(b"IPADDR 10.9.0.77\nNETMASK 255.255.255.0\nGATEWAY 10.9.0.1\nHOSTNAME retro\n")
    result = lab.run()
    assert result.code == 0, result.err
    assert [m.ip_src for m in lab.server.seen] == [0, 0]
    assert lab.server.seen[0].options[12] == b"retro"  # HOSTNAME sent as option 12
    written = lab.config.read_bytes()
    assert written.split(b"\n")[2:6] == [b"IPADDR 10.9.0.50", b"NETMASK 255.255.255.0", b"GATEWAY 10.9.0.254",
                                         b"HOSTNAME retro"]


def test_a_file_with_wrong_old_values_is_mended(lab: HubLab) -> None:
    """DHCP.EXE reads only PACKETINT, HOSTNAME and MTU: a broken IPADDR or NETMASK is what it is run to mend."""
    lab.config.write_bytes(b"IPADDR 10.9.0\nNETMASK 255.0.255.0\nGATEWAY nowhere\nHOSTNAME retro\n")
    result = lab.run()
    assert result.code == 0, result.err
    assert lab.config.read_bytes().split(b"\n")[2:] == [b"IPADDR 10.9.0.50", b"NETMASK 255.255.255.0",
                                                        b"GATEWAY 10.9.0.254", b"HOSTNAME retro",
                                                        b"NAMESERVER 10.9.0.53", b"LEASE_TIME 3600", b""]


def test_a_second_run_keeps_the_layout(lab: HubLab) -> None:
    assert lab.run().code == 0
    first = lab.config.read_bytes()
    assert lab.run().code == 0
    assert lab.config.read_bytes() == first  # same lease, same wall clock: the same bytes


def nak(message: ClientMessage) -> list[bytes]:
    return [bootp_reply(message.xid, message.chaddr, 0, [option(53, b"\x06"), option(54, addr(0x0A090001)),
                                                         option(56, b"wrong network")])]


def test_nak_exits_1_and_leaves_the_file(lab: HubLab) -> None:
    before = lab.config.stat()
    lab.server.on_request = nak
    result = lab.run("-retries", "2")
    assert result.code == 1
    assert result.last_line == (f"mtcp-dhcp: NAK: 10.9.0.1 refused 10.9.0.50 (wrong network); {lab.config} was "
                                "not changed")
    assert result.out == ""
    assert untouched(lab, before)


def test_no_offer_exits_1_and_leaves_the_file(lab: HubLab) -> None:
    before = lab.config.stat()
    lab.server.on_discover = lambda message: []
    result = lab.run("-retries", "2", "-timeout", "5")
    assert result.code == 1
    assert result.last_line.startswith("mtcp-dhcp: no offer: no DHCP server answered in 2 attempts of 5 s")
    assert result.last_line.endswith(f"; {lab.config} was not changed")
    assert untouched(lab, before)


def test_silent_link_says_no_frame_was_seen(lab: HubLab) -> None:
    lab.server.on_discover = lambda message: []
    result = lab.run("-retries", "1")
    assert result.code == 1
    assert "(no frame at all was seen on hub:" in result.last_line


def test_offer_without_an_address_exits_1(lab: HubLab) -> None:
    before = lab.config.stat()
    lab.server.on_discover = lambda m: [bootp_reply(m.xid, m.chaddr, 0, standard_options(OFFER))]
    result = lab.run("-retries", "1")
    assert result.code == 1
    assert result.last_line.startswith("mtcp-dhcp: no usable offer: 2 offer(s) refused in 1 attempt of 10 s: "
                                       "no address (2)")
    assert [m.kind for m in lab.server.seen] == [1, 1]  # DISCOVER, its retransmission; never a REQUEST
    assert untouched(lab, before)


def test_packetstats_prints_the_counters(lab: HubLab) -> None:
    result = lab.run("-packetstats")
    assert result.code == 0
    assert "Stack counters" in result.err and "discovers_sent" in result.err and "udp" in result.err


def test_a_file_that_cannot_be_written_exits_1_untouched(lab: HubLab, monkeypatch: pytest.MonkeyPatch) -> None:
    before = lab.config.stat()

    def refuse(path: object, data: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cfgfile, "replace_file", refuse)
    result = lab.run()
    assert result.code == 1
    assert result.last_line == (f"mtcp-dhcp: {lab.config}: the lease could not be written: Permission denied; the "
                                "file was not changed")
    assert result.out == ""
    assert untouched(lab, before)


# -- as a command: usage and configuration errors (exit 2, one line), SIGTERM (130) ------------------------


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mtcp_py.apps.dhcp", *args]


def run_command(*args: str, env_config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    if env_config is not None:
        env["MTCPCFG"] = str(env_config)
    return subprocess.run(command(*args), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          env=env)


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["-retries", "0"], "mtcp-dhcp: -retries 0: attempts, from 1 to 255"),
    (["-retries", "x"], "mtcp-dhcp: -retries x: attempts, from 1 to 255"),
    (["-timeout", "0"], "mtcp-dhcp: -timeout 0: seconds, from 1 to 120"),
    (["-timeout", "121"], "mtcp-dhcp: -timeout 121: seconds, from 1 to 120"),
    (["-timeout", "2.5"], "mtcp-dhcp: -timeout 2.5: seconds, from 1 to 120"),
])
def test_bad_options_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    config = tmp_path / "mtcp.cfg"
    config.write_text("LINK hub:x\n")
    result = run_command(*args, "--config", str(config))
    assert result.returncode == 2
    assert only_line(result) == message


def test_no_configuration_file_named_exits_2() -> None:
    result = run_command("--link", "hub:x")
    assert result.returncode == 2
    assert only_line(result) == "mtcp-dhcp: no configuration file to write the lease into: set MTCPCFG or give " \
                                "--config"


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_command(env_config=tmp_path / "none.cfg")
    assert result.returncode == 2
    assert only_line(result).startswith(f"mtcp-dhcp: {tmp_path / 'none.cfg'}: cannot read")


@pytest.mark.parametrize("line", [b"HOSTNAME not a name", b"HOSTNAME r\xe9tro"])
def test_bad_line_names_file_line_and_key(tmp_path: Path, line: bytes) -> None:
    """A host name goes on the wire as option 12: an accented letter (a Latin-1 file) is refused too."""
    config = tmp_path / "mtcp.cfg"
    text = b"LINK hub:x\n# fine\n" + line + b"\n"
    config.write_bytes(text)
    result = run_command(env_config=config)
    assert result.returncode == 2
    assert only_line(result).startswith(f"mtcp-dhcp: {config}:3: HOSTNAME: ")
    assert config.read_bytes() == text


def test_no_link_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "mtcp.cfg"
    config.write_text("HOSTNAME retro\n")
    result = run_command(env_config=config)
    assert result.returncode == 2
    assert "LINK: no link given" in only_line(result)


def test_sigterm_exits_130_and_leaves_the_file(tmp_path: Path) -> None:
    config = tmp_path / "mtcp.cfg"
    config.write_bytes(ORIGINAL + b"LINK hub:alone\n")
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    proc = subprocess.Popen(command("--config", str(config)), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        wait_for_line(proc, "DISCOVER sent")
    finally:
        err = stop_with(proc)
    assert proc.returncode == 130
    assert err.decode().splitlines()[-1] == f"mtcp-dhcp: interrupted: {config} was not changed"
    assert config.read_bytes() == ORIGINAL + b"LINK hub:alone\n"
