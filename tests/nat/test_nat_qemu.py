"""A QEMU Linux guest behind mtcp-nat: busybox's udhcpc takes its address from our DHCP server, and wget
fetches a file from the namespace's "internet" through the gateway, exact. QEMU's NE2000 (ne2k_pci) is on
a stream socket that mtcp-nat listens on, mtcp-nat running with no capabilities. The pieces (QEMU, a kernel
with the ne2k-pci module, busybox, cpio) as tests/links/test_qemu_guest.py finds them; skipped otherwise."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.links.linkutil import free_port
from tests.links.test_qemu_guest import GUEST_BOOT, guest_pieces, make_initramfs, start_qemu
from tests.netns import NetNs
from tests.real.apputil import wait_for_line

from .conftest import INTERNET
from .test_nat_programs import NO_PRIVILEGES, need_setpriv

pytestmark = pytest.mark.real
GUEST_INIT = GUEST_BOOT + """cat > /udhcpc.sh <<'SCRIPT'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add $ip/$mask dev $interface
ip route add default via $router
echo LEASE $ip $router $dns
SCRIPT
chmod +x /udhcpc.sh
udhcpc -i eth0 -q -n -t 5 -s /udhcpc.sh
wget -q -O /data http://{internet}:8080/mib.bin && echo SHA256 $(sha256sum /data)
poweroff -f
"""


def test_qemu_linux_guest_gets_a_lease_and_fetches_through_mtcp_nat(
        internet: tuple[NetNs, bytes], tmp_path: Path) -> None:
    need_setpriv()
    kernel, modules = guest_pieces()
    ns, body = internet
    initrd = make_initramfs(tmp_path, modules, INTERNET, GUEST_INIT.format(internet=INTERNET))
    port = ns.call(free_port)
    nat = ns.popen(*NO_PRIVILEGES, sys.executable, "-m", "mtcp_py.apps.nat", "--guest",
                   f"qemu-stream:tcp:127.0.0.1:{port}?listen=1", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    qemu = None
    try:
        wait_for_line(nat, "mtcp-nat: gateway")
        qemu, console = start_qemu(lambda args, **kw: ns.popen(*args, **kw), kernel, initrd, port)
        try:
            qemu.wait(timeout=240)  # the guest powers itself off when its script is done
        except subprocess.TimeoutExpired:
            pass
        text = "".join(console)
        assert qemu.poll() is not None, "the guest did not finish:\n" + text
        assert "LEASE 10.0.2.15 10.0.2.2 10.0.2.3" in text, text
        match = re.search(r"SHA256 ([0-9a-f]{64})", text)
        assert match, text
        assert match.group(1) == hashlib.sha256(body[: 1 << 20]).hexdigest()
    finally:
        if qemu is not None and qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        nat.terminate()
        nat.wait(timeout=20)
