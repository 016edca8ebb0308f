"""The stack on `slip:` to slirp (Debian `slirp`), a real SLIP peer, on a pty, in a private namespace.

slirp speaks SLIP on its terminal; socat gives it one pty and us another (raw, no echo). Its own address
is 10.0.2.2, ours 10.0.2.15; with `host addr 127.0.0.1`, 10.0.2.2 means the namespace's own 127.0.0.1, so
a TCP server there is reached through it. slirp prints a text banner before it speaks SLIP, which the link
counts as noise. Debian's slirp 1.0.17 exits right after starting on amd64 (its main loop hands select() a
tv_usec of (u_int)-1 and glibc 2.36 answers EINVAL), so a small LD_PRELOAD library, built here with cc,
replaces an out-of-range tv_usec with a 5 s wait. Skipped with a reason when slirp, socat, cc or root is
missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtcp_py.blocking import connect
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.links import LinkWrapper
from pktdrv.links.slip import SlipLink
from tests.links.linkutil import serve_one
from tests.netns import NetNs, need_root, private_netns

pytestmark = pytest.mark.real
STACK_IP = "10.0.2.15"
SLIRP_IP = "10.0.2.2"
KiB = 1024
SELECT_FIX = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/select.h>

/* slirp 1.0.17 computes an unsigned time-out that underflows; glibc refuses it with EINVAL. */
int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    static int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    if (!real_select)
        real_select = dlsym(RTLD_NEXT, "select");
    if (t && (t->tv_usec < 0 || t->tv_usec >= 1000000 || t->tv_sec < 0)) {
        t->tv_sec = 5;
        t->tv_usec = 0;
    }
    return real_select(n, r, w, e, t);
}
"""


@dataclass
class Slirp:
    ns: NetNs
    pty: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def slirp(tmp_path: Path) -> Iterator[Slirp]:
    need_root()
    for tool, package in (("slirp", "slirp"), ("socat", "socat"), ("cc", "gcc")):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (Debian package {package})")
    source = tmp_path / "select_fix.c"
    source.write_text(SELECT_FIX)
    library = tmp_path / "select_fix.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source), "-ldl"], check=True,
                   capture_output=True, timeout=60)
    home = tmp_path / "home"
    home.mkdir()
    wrapper = tmp_path / "slirp.sh"
    wrapper.write_text(f"#!/bin/sh\nexport HOME={home} LD_PRELOAD={library}\n"
                       "exec slirp 'host addr 127.0.0.1' nozeros 'mtu 1500'\n")
    wrapper.chmod(0o755)
    pty = tmp_path / "slirp.pty"
    with private_netns() as ns:
        process = ns.popen("socat", "-d", "-d", f"PTY,link={pty},raw,echo=0", f"EXEC:{wrapper},pty,raw,echo=0",
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stderr is not None
        log = b""
        try:
            # socat logs each address as it opens it; the second is slirp's side, after our pty exists.
            while log.count(b"successfully connected") + log.count(b"starting data transfer loop") < 1:
                line = process.stderr.readline()
                if not line:
                    pytest.fail(f"socat ended before it started: {log.decode(errors='replace')}")
                log += line
            threading.Thread(target=process.stderr.read, daemon=True).start()
            yield Slirp(ns, str(pty), process)
        finally:
            process.terminate()
            process.wait(10)


def test_stack_over_slip_to_slirp_pings_and_sends_64_kib_exact(slirp: Slirp, tmp_path: Path) -> None:
    server = slirp.ns.call(lambda: socket.create_server(("127.0.0.1", 0)))
    port = server.getsockname()[1]
    upload = os.urandom(64 * KiB)
    thread, received = serve_one(server, len(upload), timeout=60)
    clock = MonotonicTicks()
    link = open_link(f"slip:{slirp.pty}?pcap={tmp_path / 'slip.pcap'}", clock)
    stack = Stack(link, StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(SLIRP_IP)), clock).init_stack()
    try:
        replies: list[int] = []
        stack.icmp.echo_listeners[0x5117] = lambda source, seq, data, now: replies.append(seq)
        for seq in range(4):
            assert stack.icmp.send_echo(ip_from_str(SLIRP_IP), 0x5117, seq, b"ping over slip", clock.now()).ok
            assert run_until(stack, lambda s=seq: s in replies, 10), f"no reply to ping {seq}"  # type: ignore[misc]
        stream = connect(stack, SLIRP_IP, port, timeout=20)
        stream.send_all(upload, timeout=60)
        stream.flush(timeout=60)
        thread.join(60)
        assert received == [upload]
        stream.abort()
        inner = link.inner if isinstance(link, LinkWrapper) else link
        assert isinstance(inner, SlipLink)
        assert inner.slip.packets >= 4 + 2 and inner.slip.bad_escapes == inner.slip.oversize == 0  # echoes, ACKs
        assert inner.view.counters.arp_answered >= 1
        assert stack.counters()["stack"]["internal_errors"] == 0
    finally:
        stack.end_stack()
        server.close()
