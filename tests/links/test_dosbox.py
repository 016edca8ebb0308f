"""`slip:socket://...?listen=1` with DOSBox 0.74 (Debian `dosbox`) as the null modem that connects to us.

DOS copies a file holding one SLIP-framed IPv4 datagram to COM1 (`COPY /B PKT.BIN COM1`); DOSBox's
`serial1=nullmodem server:127.0.0.1 port:P` connects to the link when it starts and sends the bytes the
guest's UART transmits. With `transparent:1` they arrive as written; without it DOSBox doubles 0xFF and
sends its modem lines as 0xFF then a state byte (src/hardware/serialport/nullmodem.cpp), which `dosbox=1`
undoes. DOSBox runs headless (SDL's dummy drivers), on loopback only. Skipped when dosbox is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from pktdrv import VirtualClock, open_link
from pktdrv.links.slip import SLIP_PEER_MAC, SlipLink
from tests.links.linkutil import STACK_MAC, free_port, ipv4, pump, rfc1055

DATAGRAM = ipv4(bytes([0xFF, 0xC0, 0xDB, 0xFF, 0xFF, 1, 2, 3]) + b"hello from DOS")
FILLER = 512
"""Bytes after the packet's last END, so the packet is on the wire before DOSBox exits (the UART sends
at 2400 baud and `exit` does not wait for it); they never end in an END, so they are not a packet."""


def slip_file(datagram: bytes) -> bytes:
    return rfc1055(datagram) + b"." * FILLER


@pytest.mark.parametrize("transparent", [True, False], ids=["transparent", "dosbox-escapes"])
def test_dos_writes_a_slip_packet_to_com1_and_the_link_takes_it(tmp_path: Path, transparent: bool) -> None:
    if shutil.which("dosbox") is None:
        pytest.skip("needs DOSBox 0.74 (Debian package dosbox)")
    drive = tmp_path / "c"
    drive.mkdir()
    (drive / "PKT.BIN").write_bytes(slip_file(DATAGRAM))
    port = free_port()
    link = open_link(f"slip:socket://127.0.0.1:{port}?listen=1&mac={STACK_MAC.hex(':')}"
                     + ("" if transparent else "&dosbox=1"), VirtualClock())
    assert isinstance(link, SlipLink)
    got: list[bytes] = []
    link.open(got.append)
    # A stack holds the link and speaks first (an ARP request for the far end, answered by the link).
    link.send((b"\xff" * 6 + STACK_MAC + b"\x08\x06" + struct.pack(
        ">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, STACK_MAC, socket.inet_aton("10.0.2.2"), bytes(6),
        socket.inet_aton("10.0.2.15"))).ljust(60, b"\0"))
    config = tmp_path / "dosbox.conf"
    config.write_text(
        "[sdl]\noutput=surface\n[serial]\n"
        f"serial1=nullmodem server:127.0.0.1 port:{port}{' transparent:1' if transparent else ''}\n"
        f"[autoexec]\nmount c {drive}\nc:\ncopy /b PKT.BIN COM1\nexit\n")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", HOME=str(home))
    dosbox = subprocess.Popen(["dosbox", "-conf", str(config)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        assert pump(link, lambda: any(f[12:14] == b"\x08\x00" for f in got), timeout=60), link.slip
        expected = (STACK_MAC + SLIP_PEER_MAC + b"\x08\x00" + DATAGRAM).ljust(60, b"\0")
        assert [f for f in got if f[12:14] == b"\x08\x00"] == [expected]
        assert link.slip.noise_packets == 0 and link.slip.bad_escapes == 0
        if not transparent:
            assert link.slip.dosbox_line_states >= 1  # DOSBox sent its RTS/DTR when it connected
        output, _ = dosbox.communicate(timeout=60)
        assert b"Serial1: Connected to 127.0.0.1" in output, output.decode(errors="replace")
    finally:
        if dosbox.poll() is None:
            dosbox.kill()
            dosbox.wait()
        link.close()
