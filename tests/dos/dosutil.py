"""Helpers for the DOS machine tests: assembling the test programs, running them, a Python peer."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pktdrv.dos.machine import Companion, Machine, MachineConfig
from pktdrv.driver import PacketDriver
from pktdrv.links import HubLink, Link, open_link

ASM = Path(__file__).parent / "asm"
REPO = Path(__file__).resolve().parents[2]
PEER_IP = bytes([10, 0, 0, 1])
PEER_MAC = bytes.fromhex("020000aa0001")


def assemble(name: str, folder: Path, output: str | None = None) -> Path:
    """nasm -f bin tests/dos/asm/NAME.asm into `folder` (a .COM unless `output` says otherwise)."""
    nasm = shutil.which("nasm")
    if nasm is None:
        pytest.skip("nasm is not installed: the DOS test programs are assembled at test time")
    target = folder / (output or f"{name.upper()}.COM")
    subprocess.run([nasm, "-f", "bin", "-i", f"{ASM}/", "-o", str(target), str(ASM / f"{name}.asm")], check=True,
                   capture_output=True)
    return target


def machine_for(program: Path, args: list[str] | None = None, *, link: str | None = None,
                virtual: bool = True, drive: Path | None = None, trace: bool = False,
                companion: Companion | None = None) -> Machine:
    machine = Machine(MachineConfig(program=program, args=args or [], drive=drive, virtual_clock=virtual,
                                    trace=trace))
    if link is not None:
        machine.attach_driver(PacketDriver(open_link(link, clock=machine.clock)))
    if companion is not None:
        machine.attach_companion(companion)
    return machine


def run_cli(args: list[str], *, stdin: bytes = b"", timeout: float = 30,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """mtcp-dosrun's command line in a child; MTCPCFG only when `env` gives it (a developer's own is dropped)."""
    base = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    env = {**base, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pktdrv.dos.cli", *args], input=stdin, capture_output=True,
                          timeout=timeout, env=env)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Responder:
    """A tiny peer at 10.0.0.1 on the hub: answers ARP, and an echo request with first a 600-byte frame
    (which the DOS client refuses) and then the echo reply."""

    def __init__(self, link: Link) -> None:
        self.link = link
        link.open(self.on_frame)
        assert isinstance(link, HubLink)

    # A machine Companion: its queue is drained on the machine's line, between CPU slices.
    def turn(self) -> float | None:
        self.link.drain(64)
        return None

    def fileno(self) -> int | None:
        return None

    def on_frame(self, frame: bytes) -> None:
        kind = frame[12:14]
        if kind == b"\x08\x06" and frame[20:22] == b"\x00\x01" and frame[38:42] == PEER_IP:
            asker_mac, asker_ip = frame[22:28], frame[28:32]
            reply = (asker_mac + PEER_MAC + b"\x08\x06" + bytes.fromhex("0001080006040002") + PEER_MAC
                     + PEER_IP + asker_mac + asker_ip)
            self.link.send(reply.ljust(60, b"\x00"))
        elif kind == b"\x08\x00" and frame[23] == 1 and frame[30:34] == PEER_IP and frame[34] == 8:
            ip_length = struct.unpack("!H", frame[16:18])[0]
            ip_header = frame[14:34]
            icmp = bytearray(frame[34 : 14 + ip_length])
            big = frame[6:12] + PEER_MAC + b"\x08\x00" + bytes(600)
            self.link.send(big)
            icmp[0] = 0
            icmp[2:4] = b"\x00\x00"
            icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
            header = bytearray(ip_header)
            header[12:16], header[16:20] = ip_header[16:20], ip_header[12:16]
            self.link.send(frame[6:12] + PEER_MAC + b"\x08\x00" + bytes(header) + bytes(icmp))
