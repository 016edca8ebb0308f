"""`qemu-stream:tcp:...?listen=1` with QEMU itself: a tiny Linux guest on an emulated NE2000 (ne2k_pci).

QEMU (Debian `qemu-system-x86`) runs with `-netdev stream,server=off,addr.type=inet,...`, so it connects to
the link, and boots Debian's kernel (`linux-image-amd64`) with an initramfs made here of busybox
(`busybox-static`, packed with `cpio`) and the kernel's 8390 and ne2k-pci modules. The guest pings the
stack, then sends 256 KiB of random bytes to a TCP port on the stack and prints their SHA-256, which must
match what the stack received. Software emulation on loopback only; skipped with a reason when a piece is
missing.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpSocket
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.bridge import Bridge
from tests.links.linkutil import free_port
from tests.netns import KERNEL_IP, need_root, private_netns
from tests.real.apputil import wait_for_line

pytestmark = pytest.mark.real
STACK_IP = "10.0.2.15"
GUEST_IP = "10.0.2.30"
PORT = 5000
SIZE = 256 * 1024
GUEST_BOOT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /8390.ko
insmod /ne2k-pci.ko
ip link set eth0 up
"""
"""The start of every guest's init: busybox, the file systems, the NE2000 driver, the interface up."""
GUEST_INIT = GUEST_BOOT + """ip addr add {guest}/24 dev eth0
ping -c 3 -W 5 {target} && echo PING-OK
dd if=/dev/urandom of=/data bs=1024 count={kib} 2>/dev/null
echo SHA256 $(sha256sum /data)
nc {target} {port} < /data && echo NC-DONE
poweroff -f
"""
"""The guest's program: ping TARGET, then send SIZE random bytes to TARGET:PORT and say their SHA-256."""


def guest_pieces() -> tuple[str, list[str]]:
    for tool, package in (("qemu-system-x86_64", "qemu-system-x86"), ("busybox", "busybox-static"),
                          ("cpio", "cpio")):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (Debian package {package})")
    for kernel in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        version = kernel.removeprefix("/boot/vmlinuz-")
        folder = f"/lib/modules/{version}/kernel/drivers/net/ethernet/8390"
        modules = [f"{folder}/8390.ko", f"{folder}/ne2k-pci.ko"]
        if os.access(kernel, os.R_OK) and all(os.path.exists(m) for m in modules):
            return kernel, modules
    pytest.skip("needs a kernel in /boot with uncompressed 8390 and ne2k-pci modules (linux-image-amd64)")


def make_initramfs(folder: Path, modules: list[str], target: str, init_script: str | None = None) -> Path:
    """Busybox, the NE2000 modules and an init: GUEST_INIT for `target`, or `init_script` as given."""
    root = folder / "root"
    for sub in ("bin", "proc", "sys", "dev"):
        (root / sub).mkdir(parents=True)
    shutil.copy(shutil.which("busybox") or "", root / "bin" / "busybox")
    for module in modules:
        shutil.copy(module, root)
    init = root / "init"
    init.write_text(init_script if init_script is not None else
                    GUEST_INIT.format(guest=GUEST_IP, target=target, kib=SIZE // 1024, port=PORT))
    init.chmod(0o755)
    names = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    archive = folder / "initrd.cpio"
    with archive.open("wb") as out:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=names, stdout=out, check=True)
    return archive


def start_qemu(popen: Callable[..., subprocess.Popen[bytes]], kernel: str, initrd: Path,
               port: int) -> tuple[subprocess.Popen[bytes], list[str]]:
    """QEMU connecting its NE2000 to 127.0.0.1:`port`; its console's lines are gathered as they come."""
    qemu = popen(
        ["qemu-system-x86_64", "-m", "256", "-kernel", kernel, "-initrd", str(initrd),
         "-append", "console=ttyS0 quiet panic=-1", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
         "-device", "ne2k_pci,netdev=n0,mac=52:54:00:12:34:56",
         "-netdev", f"stream,id=n0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    console: list[str] = []

    def read_console() -> None:
        assert qemu.stdout is not None
        for line in qemu.stdout:
            console.append(line.decode(errors="replace"))

    threading.Thread(target=read_console, daemon=True).start()
    return qemu, console


def test_qemu_ne2k_guest_pings_and_sends_256_kib_over_the_stream_link(tmp_path: Path) -> None:
    kernel, modules = guest_pieces()
    initrd = make_initramfs(tmp_path, modules, STACK_IP)
    port = free_port()
    clock = MonotonicTicks()
    link = open_link(f"qemu-stream:tcp:127.0.0.1:{port}?listen=1", clock)
    stack = Stack(link, StackConfig(ip_from_str(STACK_IP)), clock).init_stack()
    listener = stack.tcp.listen(PORT)
    qemu, console = start_qemu(subprocess.Popen, kernel, initrd, port)
    received = bytearray()
    conn: list[TcpSocket] = []

    def serve() -> bool:
        if not conn and (sock := listener.accept()) is not None:
            conn.append(sock)
        if conn:
            while data := conn[0].recv(65_536):
                received.extend(data)
            if len(received) >= SIZE and not conn[0].app_closed:
                conn[0].close()  # busybox nc ends when we close
        return qemu.poll() is not None

    try:
        assert run_until(stack, serve, 180), "the guest did not finish:\n" + "".join(console)
        qemu.wait(10)
        text = "".join(console)
        assert "PING-OK" in text, text
        match = re.search(r"SHA256 ([0-9a-f]{64})", text)
        assert match, text
        assert len(received) == SIZE
        assert hashlib.sha256(received).hexdigest() == match.group(1)
        assert "NC-DONE" in text, text
        counters = link.deframer.counters  # type: ignore[attr-defined]
        assert counters.bad_lengths == counters.oversize == 0
        assert stack.counters()["stack"]["internal_errors"] == 0
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        stack.end_stack()


def test_qemu_guest_reaches_the_linux_kernel_through_a_bridge_to_a_tap(tmp_path: Path) -> None:
    """The guest's NE2000 and the kernel's TAP device are two ports of pktdrv's bridge (what mtcp-bridge
    runs), in a private namespace: the guest pings the kernel and sends it 256 KiB, exact."""
    need_root()
    kernel, modules = guest_pieces()
    initrd = make_initramfs(tmp_path, modules, KERNEL_IP)
    with private_netns() as ns:
        server = ns.call(lambda: socket.create_server((KERNEL_IP, PORT)))
        received: list[bytes] = []

        def kernel_side() -> None:
            server.settimeout(120)
            conn, _ = server.accept()
            conn.settimeout(60)
            data = b""
            while len(data) < SIZE and (chunk := conn.recv(65536)):
                data += chunk
            received.append(data)
            conn.close()  # busybox nc ends when the other side closes

        thread = threading.Thread(target=kernel_side, daemon=True)
        thread.start()
        port = ns.call(free_port)
        bridge = Bridge()
        bridge.add_port(ns.call(lambda: open_link(f"qemu-stream:tcp:127.0.0.1:{port}?listen=1")))
        bridge.add_port(ns.call(lambda: open_link("tap:mtap0")))
        qemu, console = start_qemu(lambda args, **kw: ns.popen(*args, **kw), kernel, initrd, port)
        clock = MonotonicTicks()
        try:
            deadline = time.monotonic() + 180
            while qemu.poll() is None and time.monotonic() < deadline:
                select.select(bridge.fds(), [], [], 0.05)  # the edge's wait: until a port has frames
                bridge.turn(time.monotonic(), clock.now())
            assert qemu.poll() is not None, "the guest did not finish:\n" + "".join(console)
            thread.join(30)
            text = "".join(console)
            assert "PING-OK" in text, text
            match = re.search(r"SHA256 ([0-9a-f]{64})", text)
            assert match and received and len(received[0]) == SIZE, text
            assert hashlib.sha256(received[0]).hexdigest() == match.group(1)
            assert bridge.ports[0].counters.rx_frames > 100 and bridge.ports[1].counters.rx_frames > 50
        finally:
            if qemu.poll() is None:
                qemu.kill()
                qemu.wait()
            bridge.close()
            server.close()


def test_qemu_guest_pings_and_sends_256_kib_to_mtcp_nc_listen(tmp_path: Path) -> None:
    """The same guest against the program a user runs: `mtcp-nc -listen` on the stream link QEMU connects to."""
    kernel, modules = guest_pieces()
    initrd = make_initramfs(tmp_path, modules, STACK_IP)
    port = free_port()
    config = tmp_path / "mtcp.cfg"
    config.write_text(f"LINK qemu-stream:tcp:127.0.0.1:{port}?listen=1\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\n")
    received = tmp_path / "received.bin"
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    env["MTCPCFG"] = str(config)
    with received.open("wb") as sink:
        nc = subprocess.Popen([sys.executable, "-m", "mtcp_py.apps.nc", "-listen", str(PORT), "-bin", "-d"],
                              stdout=sink, stderr=subprocess.PIPE, env=env)
        qemu = None
        try:
            wait_for_line(nc, "waiting for a connection")
            qemu, console = start_qemu(subprocess.Popen, kernel, initrd, port)
            try:
                qemu.wait(timeout=180)
            except subprocess.TimeoutExpired:
                pass
            _, err = nc.communicate(timeout=60)
        finally:
            for proc in (qemu, nc):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
    text = "".join(console)
    assert "PING-OK" in text, text
    match = re.search(r"SHA256 ([0-9a-f]{64})", text)
    assert match, text
    assert nc.returncode == 0, err.decode()
    data = received.read_bytes()
    assert len(data) == SIZE and hashlib.sha256(data).hexdigest() == match.group(1)
