"""mtcp-nat as a user runs it, with no privileges, and this project's programs as its guest over a QEMU
stream socket (what `mtcp-dosrun --link qemu-stream:...` and QEMU use too), in a private namespace whose
loopback holds the "internet" 198.51.100.1 (conftest.py).

mtcp-nat runs with every capability dropped (`setpriv --bounding-set=-all`: as root's uid it can still
read this checkout, but it cannot make a TAP device, open a raw socket or bind below 1024), which is what
"no root" means for what it does. The guest programs run one after another on the same socket, as a user
would type them: mtcp-dhcp, mtcp-dnstest, mtcp-nc. What they fetch is compared with what the servers hold.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import NetNs
from tests.real.apputil import wait_for_line

from .conftest import INTERNET

pytestmark = pytest.mark.real
NO_PRIVILEGES = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]
GUEST_MAC = "02:00:00:00:00:15"


def need_setpriv() -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to run mtcp-nat without privileges")


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mtcpnat") as folder:
        os.chmod(folder, 0o777)
        yield Path(folder)


@pytest.fixture
def nat(internet: tuple[NetNs, bytes], socket_dir: Path) -> Iterator[tuple[NetNs, Path, subprocess.Popen[bytes]]]:
    need_setpriv()
    ns, _ = internet
    sock = socket_dir / "guest.sock"
    proc = ns.popen(*NO_PRIVILEGES, sys.executable, "-m", "mtcp_py.apps.nat", "--guest",
                    f"qemu-stream:unix:{sock}?listen=1", "--dns-server", INTERNET, "--forward", "tcp:2323:5000",
                    "--stats", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_line(proc, "mtcp-nat: gateway 10.0.2.2")
        yield ns, sock, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def guest(ns: NetNs, config: Path, program: str, *args: str, stdin: bytes | Path = b"",
          timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, MTCPCFG=str(config))
    command = ns.cmd(sys.executable, "-m", f"mtcp_py.apps.{program}", *args)
    if isinstance(stdin, Path):
        with stdin.open("rb") as source:
            return subprocess.run(command, stdin=source, capture_output=True, timeout=timeout, env=env)
    return subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, env=env)


def test_a_guest_gets_online_through_mtcp_nat_with_no_privileges(
        nat: tuple[NetNs, Path, subprocess.Popen[bytes]], internet: tuple[NetNs, bytes], tmp_path: Path) -> None:
    ns, sock, proc = nat
    _, body = internet
    config = tmp_path / "guest.cfg"
    config.write_text(f"LINK qemu-stream:unix:{sock}?mac={GUEST_MAC}\n# the guest's own settings\nIRCJR_NICK retro\n")

    lease = guest(ns, config, "dhcp", "-timeout", "10")
    assert lease.returncode == 0, lease.stderr.decode()
    text = config.read_text()
    for line in ("IPADDR 10.0.2.15", "NETMASK 255.255.255.0", "GATEWAY 10.0.2.2", "NAMESERVER 10.0.2.3"):
        assert line in text.splitlines(), text
    assert "# the guest's own settings\nIRCJR_NICK retro\n" in text

    if shutil.which("dnsmasq"):
        answer = guest(ns, config, "dnstest", "-name", "retro.example")
        assert answer.returncode == 0, answer.stderr.decode()
        assert b"198.51.100.7" in answer.stdout

    fetched = guest(ns, config, "nc", "-target", INTERNET, "8080", "-bin", "-w", "60",
                    stdin=b"GET /big.bin HTTP/1.0\r\n\r\n")
    assert fetched.returncode == 0, fetched.stderr.decode()
    assert hashlib.sha256(fetched.stdout.partition(b"\r\n\r\n")[2]).digest() == hashlib.sha256(body).digest()

    upload = tmp_path / "up.bin"
    upload.write_bytes(os.urandom(8 << 20))
    echoed = guest(ns, config, "nc", "-target", INTERNET, "7", "-bin", "-w", "60", stdin=upload)
    assert echoed.returncode == 0, echoed.stderr.decode()
    assert hashlib.sha256(echoed.stdout).digest() == hashlib.sha256(upload.read_bytes()).digest()

    refused = guest(ns, config, "nc", "-target", INTERNET, "9", "-bin")
    assert refused.returncode == 1 and refused.stderr.decode().strip().endswith("connection refused")

    # A host connection to the forward reaches mtcp-nc -listen in the guest.
    received = tmp_path / "forwarded.bin"
    with received.open("wb") as sink:
        listener = ns.popen(sys.executable, "-m", "mtcp_py.apps.nc", "-listen", "5000", "-bin", "-d",
                            env=dict(os.environ, MTCPCFG=str(config)), stdout=sink, stderr=subprocess.PIPE)
        wait_for_line(listener, "waiting for a connection")
        data = os.urandom(256 << 10)
        (tmp_path / "fwd.bin").write_bytes(data)
        sender = ns.run("sh", "-c", f"nc -N 127.0.0.1 2323 < {tmp_path / 'fwd.bin'}", timeout=60)
        assert sender.returncode == 0, sender.stderr
        _, err = listener.communicate(timeout=60)
    assert listener.returncode == 0, err.decode()
    assert received.read_bytes() == data

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"acks" in err  # the --stats table: the DHCP server's counters


def test_without_privileges_a_tap_device_is_refused(internet: tuple[NetNs, bytes]) -> None:
    """The check that the setpriv wrapper really takes privileges away (so the test above proves something)."""
    need_setpriv()
    ns, _ = internet
    result = ns.run(*NO_PRIVILEGES, sys.executable, "-m", "mtcp_py.apps.nat", "--guest", "tap:natdenied0",
                    check=False, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "not permitted" in result.stderr.lower(), result.stderr


DOS_PROGRAMS = ("DHCP.EXE", "DNSTEST.EXE", "HTGET.EXE")


@pytest.fixture
def dos_bin() -> Path:
    folder = os.environ.get("MTCP_DOS_BIN")
    if not folder:
        pytest.skip("set MTCP_DOS_BIN to a folder holding mTCP's DHCP.EXE, DNSTEST.EXE, HTGET.EXE (not shipped)")
    missing = [p for p in DOS_PROGRAMS if not (Path(folder) / p).is_file()]
    if missing:
        pytest.skip(f"MTCP_DOS_BIN={folder} lacks {', '.join(missing)}")
    return Path(folder)


def test_real_mtcp_programs_on_mtcp_dosrun_through_mtcp_nat(
        dos_bin: Path, nat: tuple[NetNs, Path, subprocess.Popen[bytes]], internet: tuple[NetNs, bytes],
        tmp_path: Path) -> None:
    """mTCP's DHCP.EXE gets its lease from mtcp-nat, DNSTEST.EXE resolves through its DNS relay, and
    HTGET.EXE fetches a file from 198.51.100.1 exact: the emulated NE card on a QEMU stream socket."""
    ns, sock, _ = nat
    drive = tmp_path / "c"
    drive.mkdir()
    for name in DOS_PROGRAMS:
        shutil.copy(dos_bin / name, drive / name)
    (drive / "MTCP.CFG").write_bytes(f"LINK qemu-stream:unix:{sock}?mac={GUEST_MAC}\r\nPACKETINT 0x60\r\n"
                                     "HOSTNAME dosbox\r\n".encode())

    def dosrun(*args: str) -> tuple[int, str]:
        command = ns.cmd(sys.executable, "-m", "pktdrv.dos.cli", "--config", str(drive / "MTCP.CFG"),
                         "-C", str(drive), *args)
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
        return result.returncode, result.stdout.decode("latin-1") + result.stderr.decode("latin-1")

    code, output = dosrun(str(drive / "DHCP.EXE"), "-timeout", "10")
    assert code == 0, output
    settings = (drive / "MTCP.CFG").read_text(errors="replace")
    assert "IPADDR 10.0.2.15" in settings and "GATEWAY 10.0.2.2" in settings, settings
    if shutil.which("dnsmasq"):
        code, output = dosrun(str(drive / "DNSTEST.EXE"), "-name", "retro.example")
        assert code == 0, output
        assert "198.51.100.7" in output
    _, body = internet
    code, output = dosrun(str(drive / "HTGET.EXE"), "-o", "MIB.BIN", f"http://{INTERNET}:8080/mib.bin")
    assert code == 21, output  # HTGET's exit code for "200 OK"
    assert hashlib.sha256((drive / "MIB.BIN").read_bytes()).digest() == hashlib.sha256(body[: 1 << 20]).digest()
