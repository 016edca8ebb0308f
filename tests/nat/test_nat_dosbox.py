"""DOSBox 0.74 behind mtcp-nat, configured by the kit's own files (dosbox/dosbox-0.74-ethersl.conf and
dosbox/MTCP-SLIP.CFG): the null modem on COM1 connects to mtcp-nat's SLIP listener, Crynwr's ETHERSL shows
DOS an Ethernet card on it, and mTCP's PING reaches the gateway 10.0.2.2 while HTGET fetches a file from
the namespace's "internet" 198.51.100.1 through it, exact. Runs when MTCP_DOS_BIN and DOS_DRIVERS name the
(not shipped) programs and ETHERSL.COM, and DOSBox is installed; skipped otherwise."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.links.linkutil import free_port
from tests.links.test_dosbox_mtcp import dos_folder, read_dos
from tests.netns import NetNs
from tests.real.apputil import wait_for_line

from .conftest import INTERNET
from .test_nat_programs import NO_PRIVILEGES, need_setpriv

pytestmark = pytest.mark.real
KIT = Path(__file__).resolve().parents[2] / "dosbox"


def test_mtcp_in_dosbox_over_ethersl_reaches_the_internet_through_mtcp_nat(
        internet: tuple[NetNs, bytes], tmp_path: Path) -> None:
    need_setpriv()
    drive = dos_folder(tmp_path, "10.0.2.2")
    ns, body = internet
    port = ns.call(free_port)
    nat = ns.popen(*NO_PRIVILEGES, sys.executable, "-m", "mtcp_py.apps.nat", "--guest",
                   f"slip:socket://127.0.0.1:{port}?listen=1&baud=115200&mtu=576",
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dosbox = None
    try:
        wait_for_line(nat, "mtcp-nat: gateway")
        commands = ("PING -count 4 10.0.2.2 > PING.TXT\n"
                    f"HTGET -o GOT.BIN http://{INTERNET}:8080/small.bin > HTGET.TXT\n")
        shutil.copy(KIT / "MTCP-SLIP.CFG", drive / "MTCP.CFG")
        kit = (KIT / "dosbox-0.74-ethersl.conf").read_text()
        assert "port:5555" in kit and "mount c .\n" in kit
        config = tmp_path / "dosbox.conf"
        config.write_text("[sdl]\noutput=surface\n" + kit.replace("port:5555", f"port:{port}")
                          .replace("mount c .\n", f"mount c {drive}\n") + commands + "exit\n")
        home = tmp_path / "home"
        home.mkdir()
        env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", HOME=str(home))
        dosbox = ns.popen("dosbox", "-conf", str(config), env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        try:
            dosbox.wait(timeout=240)
        except subprocess.TimeoutExpired:
            pass
        assert dosbox.poll() is not None, "DOSBox did not finish"
        ping = read_dos(drive, "PING.TXT")
        assert re.search(r"Packets sent: 4, Replies received: 4", ping), ping
        got = drive / "GOT.BIN"
        assert got.exists(), read_dos(drive, "HTGET.TXT")
        assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(body[: 16 * 1024]).digest()
    finally:
        if dosbox is not None and dosbox.poll() is None:
            dosbox.kill()
            dosbox.wait()
        nat.terminate()
        nat.wait(timeout=20)
