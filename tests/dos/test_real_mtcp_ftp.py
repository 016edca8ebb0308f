"""mTCP's FTP.EXE on mtcp-dosrun against a kernel-side FTP server (pyftpdlib) over TAP: a script on stdin
logs in, fetches a file and puts one, both exact. FTP uses two TCP connections, the control one and a
data connection per transfer (passive by default: the DOS side opens it to the port PASV names).

FTP.EXE is not shipped (see docs/dosrun.md): runs when MTCP_DOS_BIN names a folder that holds it, as root
(a private network namespace), with pyftpdlib installed; skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netns import KERNEL_IP, NetNs
from tests.real.apputil import wait_until

from .dosutil import REPO
from .test_real_mtcp_screen import netns, program, tap_drive  # noqa: F401 - netns is a fixture

pytestmark = pytest.mark.real
FTP_SERVER = """
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
authorizer = DummyAuthorizer()
authorizer.add_user("retro", "dos", sys.argv[2], perm="elradfmw")
handler = FTPHandler
handler.authorizer = authorizer
FTPServer((sys.argv[1], 21), handler).serve_forever()
"""


def test_ftp_exe_gets_and_puts_a_file_exact(tmp_path: Path, netns: NetNs) -> None:  # noqa: F811
    pytest.importorskip("pyftpdlib", reason="needs pyftpdlib (pip install pyftpdlib) as the FTP server")
    ftp = program("FTP.EXE")
    home = tmp_path / "home"
    home.mkdir()
    down = os.urandom(200 * 1024)
    (home / "down.bin").write_bytes(down)
    (tmp_path / "c").mkdir()
    drive = tap_drive(tmp_path / "c", ftp)
    up = os.urandom(150 * 1024)
    (drive / "UP.BIN").write_bytes(up)
    server = netns.popen(sys.executable, "-c", FTP_SERVER, KERNEL_IP, str(home), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: ":21 " in netns.run("ss", "-ltn").stdout, "the FTP server listening", timeout=20)
        script = b"retro\r\ndos\r\nbin\r\nget down.bin DOWN.BIN\r\nput UP.BIN up.bin\r\nquit\r\n"
        command = netns.cmd("env", f"PYTHONPATH={REPO}", sys.executable, "-m", "pktdrv.dos.cli", "--config",
                            str(drive / "MTCP.CFG"), "-C", str(drive), str(drive / "FTP.EXE"), KERNEL_IP)
        result = subprocess.run(command, input=script, capture_output=True, timeout=180)
        output = result.stdout.decode("latin-1") + result.stderr.decode("latin-1")
        assert (drive / "DOWN.BIN").is_file(), output
        assert (drive / "DOWN.BIN").read_bytes() == down, output
        assert (home / "up.bin").read_bytes() == up, output
    finally:
        server.terminate()
        server.wait(timeout=10)
