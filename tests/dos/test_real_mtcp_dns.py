"""mTCP's own DNSTEST.EXE on the emulated packet driver (`python -m pktdrv.dos.cli`), against dnsmasq on the
kernel's side of a TAP device in a private namespace: the same server the resolver's real tests use.

DNSTEST.EXE is not shipped: these tests run when MTCP_DOS_BIN names a folder holding it, and as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import KERNEL_IP, STACK_IP, NetNs, need_root, private_netns
from tests.real.test_dns_dnsmasq import need_dnsmasq, running_dnsmasq

from .dosutil import REPO


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    folder = os.environ.get("MTCP_DOS_BIN")
    if not folder:
        pytest.skip("set MTCP_DOS_BIN to a folder holding mTCP's DNSTEST.EXE (not shipped)")
    if not (Path(folder) / "DNSTEST.EXE").is_file():
        pytest.skip(f"MTCP_DOS_BIN={folder} lacks DNSTEST.EXE")
    shutil.copy(Path(folder) / "DNSTEST.EXE", tmp_path / "DNSTEST.EXE")
    (tmp_path / "MTCP.CFG").write_text(
        f"LINK tap:mtap0\nPACKETINT 0x60\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n"
        f"NAMESERVER {KERNEL_IP}\nMTU 1500\n")
    return tmp_path


@pytest.fixture
def dns_ns() -> Iterator[NetNs]:
    need_root()
    need_dnsmasq()
    with private_netns() as ns, running_dnsmasq(ns):
        yield ns


def dnstest_exe(ns: NetNs, drive: Path, *args: str) -> tuple[int, str]:
    command = ns.cmd("env", f"PYTHONPATH={REPO}", sys.executable, "-m", "pktdrv.dos.cli", "--config",
                     str(drive / "MTCP.CFG"), "-C", str(drive), str(drive / "DNSTEST.EXE"), *args)
    result = subprocess.run(command, capture_output=True, timeout=120)
    return result.returncode, result.stdout.decode("latin-1") + result.stderr.decode("latin-1")


def test_dnstest_exe_resolves_a_host_record(dns_ns: NetNs, drive: Path) -> None:
    code, output = dnstest_exe(dns_ns, drive, "-name", "peer.lan")
    assert code == 0, output
    assert f"Machine name peer.lan resolved to {KERNEL_IP}" in output


def test_dnstest_exe_follows_the_cname(dns_ns: NetNs, drive: Path) -> None:
    code, output = dnstest_exe(dns_ns, drive, "-name", "alias.lan")
    assert code == 0, output
    assert f"Machine name alias.lan resolved to {KERNEL_IP}" in output


def test_dnstest_exe_and_ours_agree_on_nxdomain(dns_ns: NetNs, drive: Path) -> None:
    code, output = dnstest_exe(dns_ns, drive, "-name", "nosuch.lan")
    assert "Dns server error: (3) Name error" in output, output  # DNSTEST exits 0 even then
    env = dict(os.environ, MTCPCFG=str(drive / "MTCP.CFG"), PYTHONPATH=str(REPO))
    ours = subprocess.run(dns_ns.cmd(sys.executable, "-m", "mtcp_py.apps.dnstest", "-name", "nosuch.lan"),
                          capture_output=True, text=True, timeout=60, env=env)
    assert ours.returncode == 1
    assert ours.stderr.splitlines()[-1] == "mtcp-dnstest: nosuch.lan: no such host (NXDOMAIN)"
