"""mTCP's own DHCP.EXE on the emulated packet driver against dnsmasq over TAP: it gets a lease and rewrites
the DOS side's MTCP.CFG, which shows that the emulated driver carries broadcasts and UDP as a DOS card
does. Then mtcp-dhcp, given a copy of the same file and the same MAC, must write the same file (only the
version and the time differ), and mTCP's PING.EXE must work from the file mtcp-dhcp wrote. On the hub (no
root, a virtual clock), DHCP.EXE and mtcp-dhcp meet the same scripted server: the same file from an ACK,
and exit status 1 with the file left alone after a NAK.

DHCP.EXE is not shipped (see docs/dosrun.md): these run when MTCP_DOS_BIN names a folder holding it; the
TAP ones as root (a private network namespace), with dnsmasq installed.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mtcp_py.apps import dhcp as dhcp_app
from mtcp_py.config import parse_config
from mtcp_py.wire import ip_from_str
from pktdrv import VirtualClock, open_link
from pktdrv.dos.machine import Machine, MachineConfig
from pktdrv.driver import PacketDriver
from tests.netns import KERNEL_IP, NetNs, private_netns
from tests.real.test_dhcp_dnsmasq import RANGE, need_dnsmasq, running_dhcp_server
from tests.unit.test_dhcp_peer import SERVER_IP, DhcpScript, ScriptedServer, StackServer, addr, bootp_reply, option

from .dosutil import REPO

MAC = "02:00:00:0d:05:01"
DOS_CFG = (f"LINK tap:mtap0?mac={MAC}\r\n".encode()
           + b"PACKETINT 0x60\r\n# comment\r\nHOSTNAME dosbox\r\nIRCJR_NICK bob\r\n")
STAMP = re.compile(rb"^TIMESTAMP \( \d+ \) \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\r$")


@pytest.fixture
def dos_bin() -> Path:
    folder = os.environ.get("MTCP_DOS_BIN")
    if not folder:
        pytest.skip("set MTCP_DOS_BIN to a folder holding mTCP's DHCP.EXE (not shipped)")
    if not (Path(folder) / "DHCP.EXE").is_file():
        pytest.skip(f"MTCP_DOS_BIN={folder} lacks DHCP.EXE")
    return Path(folder)


@pytest.fixture
def netns() -> Iterator[NetNs]:
    need_dnsmasq()
    with private_netns() as ns:
        yield ns


def dosrun(ns: NetNs, drive: Path, *args: str) -> tuple[int, str]:
    command = ns.cmd("env", f"PYTHONPATH={REPO}", sys.executable, "-m", "pktdrv.dos.cli", "--config",
                     str(drive / "MTCP.CFG"), "-C", str(drive), *args)
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    return result.returncode, result.stdout.decode("latin-1") + result.stderr.decode("latin-1")


def lease_lines(data: bytes) -> list[bytes]:
    """The file's lines with the two that must differ (DHCPVER's version, TIMESTAMP's time) blanked."""
    lines = data.split(b"\n")
    assert lines[0].startswith(b"DHCPVER DHCP Client version ") and lines[0].endswith(b"\r"), lines[0]
    assert STAMP.match(lines[1]), lines[1]
    return [b"DHCPVER", b"TIMESTAMP", *lines[2:]]


@pytest.mark.real
def test_dhcp_exe_gets_a_lease_and_mtcp_dhcp_writes_the_same_file(dos_bin: Path, netns: NetNs,
                                                                   tmp_path: Path) -> None:
    drive = tmp_path / "c"
    drive.mkdir()
    shutil.copy(dos_bin / "DHCP.EXE", drive / "DHCP.EXE")
    (drive / "MTCP.CFG").write_bytes(DOS_CFG)
    ours = tmp_path / "mtcp.cfg"
    ours.write_bytes(DOS_CFG)
    with running_dhcp_server(netns, tmp_path) as leases:
        code, output = dosrun(netns, drive, str(drive / "DHCP.EXE"), "-timeout", "10")
        assert code == 0, output
        assert "Good news everyone!" in output
        theirs = (drive / "MTCP.CFG").read_bytes()
        settings = parse_config(theirs.decode("latin-1"))
        assert ip_from_str(RANGE[0]) <= settings.ip <= ip_from_str(RANGE[1])
        assert (settings.netmask, settings.gateway) == (0xFFFFFF00, ip_from_str(KERNEL_IP))
        assert theirs.split(b"\n", 2)[2].startswith(DOS_CFG)  # DHCP.EXE kept the user's lines too
        record = next(line.split() for line in leases.read_text().splitlines() if MAC in line)
        assert ip_from_str(record[2]) == settings.ip and record[3] == "dosbox"

        env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
        result = netns.run(sys.executable, "-m", "mtcp_py.apps.dhcp", "--config", str(ours), check=False,
                           timeout=120, env=env, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
    assert lease_lines(ours.read_bytes()) == lease_lines(theirs)


@pytest.mark.real
def test_ping_exe_runs_from_the_file_mtcp_dhcp_wrote(dos_bin: Path, netns: NetNs, tmp_path: Path) -> None:
    if not (dos_bin / "PING.EXE").is_file():
        pytest.skip(f"MTCP_DOS_BIN={dos_bin} lacks PING.EXE")
    drive = tmp_path / "c"
    drive.mkdir()
    shutil.copy(dos_bin / "PING.EXE", drive / "PING.EXE")
    (drive / "MTCP.CFG").write_bytes(DOS_CFG)
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    with running_dhcp_server(netns, tmp_path):
        result = netns.run(sys.executable, "-m", "mtcp_py.apps.dhcp", "--config", str(drive / "MTCP.CFG"),
                           check=False, timeout=120, env=env, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
        code, output = dosrun(netns, drive, str(drive / "PING.EXE"), "-count", "2", KERNEL_IP)
    assert code == 0, output
    assert "Packets sent: 2, Replies received: 2, Replies lost: 0" in output


# -- on the hub, against the scripted server ----------------------------------------------------------------

HUB_CFG = b"PACKETINT 0x60\r\n# comment\r\nHOSTNAME dosbox\r\nIRCJR_NICK bob\r\n"
HUB_MAC = "02:00:00:0d:05:02"
Setup = Callable[[DhcpScript], None]
_hubs = itertools.count()


def dhcp_exe_on_hub(dos_bin: Path, drive: Path, setup: Setup) -> int:
    """DHCP.EXE -retries 2 -timeout 5 against the frame-level scripted server, as the machine's companion."""
    hub = f"dhcp-exe{next(_hubs)}"
    shutil.copy(dos_bin / "DHCP.EXE", drive / "DHCP.EXE")
    machine = Machine(MachineConfig(program=drive / "DHCP.EXE", args=["-retries", "2", "-timeout", "5"],
                                    drive=drive, virtual_clock=True,
                                    environment=[("MTCPCFG", "C:\\MTCP.CFG"), ("MTCPSLEEP", "1")]))
    machine.attach_driver(PacketDriver(open_link(f"hub:{hub}?mac={HUB_MAC}", clock=machine.clock)))
    server = ScriptedServer(hub, VirtualClock())
    setup(server)
    machine.attach_companion(server)
    try:
        return machine.run()
    finally:
        server.close()


def mtcp_dhcp_on_hub(config: Path, setup: Setup) -> int:
    """mtcp-dhcp with the same options against the same script, on a stack of its own."""
    hub = f"dhcp-ours{next(_hubs)}"
    clock = VirtualClock()
    server = StackServer(hub, clock)
    setup(server)
    try:
        return dhcp_app.main(["--config", str(config), "--link", f"hub:{hub}?mac={HUB_MAC}", "-retries", "2",
                              "-timeout", "5"], clock=clock, poll_also=[server.stack])
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        server.close()


def as_scripted(server: DhcpScript) -> None:
    """The script as it is: an OFFER of 10.9.0.50, then an ACK."""


def always_nak(server: DhcpScript) -> None:
    server.on_request = lambda m: [bootp_reply(m.xid, m.chaddr, 0, [option(53, b"\x06"),
                                                                    option(54, addr(SERVER_IP))])]


def test_on_the_hub_dhcp_exe_and_mtcp_dhcp_write_the_same_file(dos_bin: Path, tmp_path: Path,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    drive = tmp_path / "c"
    drive.mkdir()
    (drive / "MTCP.CFG").write_bytes(HUB_CFG)
    assert dhcp_exe_on_hub(dos_bin, drive, as_scripted) == 0
    assert "Good news everyone!" in capfd.readouterr().out
    ours = tmp_path / "mtcp.cfg"
    ours.write_bytes(HUB_CFG)
    assert mtcp_dhcp_on_hub(ours, as_scripted) == 0
    theirs = (drive / "MTCP.CFG").read_bytes()
    assert b"IPADDR 10.9.0.50\r\n" in theirs
    assert lease_lines(ours.read_bytes()) == lease_lines(theirs)


def test_on_the_hub_a_nak_is_errorlevel_1_and_the_file_kept(dos_bin: Path, tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    drive = tmp_path / "c"
    drive.mkdir()
    (drive / "MTCP.CFG").write_bytes(HUB_CFG)
    assert dhcp_exe_on_hub(dos_bin, drive, always_nak) == 1
    assert "Negative - Rejected!" in capfd.readouterr().out
    assert (drive / "MTCP.CFG").read_bytes() == HUB_CFG
    ours = tmp_path / "mtcp.cfg"
    ours.write_bytes(HUB_CFG)
    assert mtcp_dhcp_on_hub(ours, always_nak) == 1
    assert ours.read_bytes() == HUB_CFG
