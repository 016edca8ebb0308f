"""Python's speed of light for TCP over TAP (not a test), beside the stack, in one run.

    python bench/bench_sol.py [--size-mib 64] [--runs 3]

The endpoint is the least a Python TCP can do: one thread, the TAP read in batches on it, the handshake
by hand, in-order data only (receiving, a loss ends the run; sending, it goes back to the first byte not
acknowledged at the third duplicate ACK, or after 0.2 s without one), both checksums verified in Python
(`mtcp_py.checksum.ones_sum`, the stack's own), an ACK every 8 segments and at the end of each batch.
Sending, it keeps at most 256 KiB in flight, what it offers itself (the stack's default too). Nothing of
the stack is used but that one function. Against it, the stack's receive and send MB/s at MTU 1500 over
the same kind of TAP, and the ratio; and the same per second of this process's CPU (user and system),
which other work on the machine disturbs much less than wall time. Needs root; nothing leaves the
namespace.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import select
import statistics
import struct
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_tcp  # noqa: E402
from bench_tcp import _NS, kernel_peer, receive, send, start_stack  # noqa: E402

from mtcp_py.checksum import ones_sum, pseudo_header_sum  # noqa: E402
from mtcp_py.wire import ip_from_str  # noqa: E402
from pktdrv import MonotonicTicks, open_link  # noqa: E402
from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns  # noqa: E402
from tests.real.kernel_peer import chunk_stream  # noqa: E402

MiB = 1 << 20
MTU = 1500
MSS = MTU - 40
MAC = bytes.fromhex("020000005301")
ME = ip_from_str(STACK_IP)
PEER = ip_from_str(KERNEL_IP)
FRAME = struct.Struct("!6s6sHBBHHHBBHIIHHIIBBHHH")
"""Ethernet, IPv4 without options, TCP without options: 54 bytes."""
SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08
WSCALE = 2
WINDOW = 0xFFFF
"""Advertised window, scaled by 2**WSCALE: 256 KiB, as the stack's (a larger one would overflow the TAP's
queue of 1000 frames in one burst, and the endpoint does not retransmit)."""


def window_scale(options: bytes) -> int:
    i = 0
    while i + 1 < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if kind == 3 and options[i + 1] == 3 and i + 2 < len(options):
            return min(options[i + 2], 14)
        i += max(options[i + 1], 2)
    return 0


VNET_PLAIN = bytes(10)
VNET_PARTIAL = struct.pack("=BBHHHH", 1, 0, 0, 0, 34, 16)
"""virtio_net_hdr with NEEDS_CSUM at the TCP checksum (tap:...?offload=1): the kernel sums the segment."""


class Endpoint:
    def __init__(self, fd: int, port: int, peer_port: int, vnet: bool = False) -> None:
        self.fd = fd
        self.vnet = vnet
        """Checksum offload, as the stack's offload=1: the TCP checksum is left to the kernel both ways."""
        self.port = port
        self.peer_port = peer_port
        self.peer_mac = b"\xff" * 6
        self.iss = 1000
        self.snd_nxt = self.iss
        self.snd_una = self.iss
        self.rcv_nxt = 0
        self.snd_wnd = 0
        """The peer's window in bytes."""
        self.snd_shift = 0
        self.ident = 0
        self.stalls = 0
        """Times send_all went back to SND.UNA after 0.2 s without progress: each costs the run 0.2 s."""

    def frame(self, flags: int, payload: bytes | memoryview = b"", options: bytes = b"") -> bytes:
        tcp_len = 20 + len(options) + len(payload)
        self.ident = (self.ident + 1) & 0xFFFF
        header = bytearray(FRAME.pack(self.peer_mac, MAC, 0x0800, 0x45, 0, 20 + tcp_len, self.ident, 0x4000, 64, 6,
                                      0, ME, PEER, self.port, self.peer_port, self.snd_nxt, self.rcv_nxt,
                                      (20 + len(options)) << 2, flags, WINDOW, 0, 0))
        struct.pack_into("!H", header, 24, ~ones_sum(header[14:34]) & 0xFFFF)
        if self.vnet:
            struct.pack_into("!H", header, 50, pseudo_header_sum(ME, PEER, 6, tcp_len))
            return VNET_PARTIAL + bytes(header) + options + bytes(payload)
        segment = bytes(header[34:]) + options + bytes(payload)
        struct.pack_into("!H", header, 50, ~ones_sum(segment, pseudo_header_sum(ME, PEER, 6, tcp_len)) & 0xFFFF)
        return bytes(header) + options + bytes(payload)

    def write(self, frame: bytes) -> None:
        while True:
            try:
                os.write(self.fd, frame)
                return
            except BlockingIOError:
                select.select([], [self.fd], [], 0.01)

    def frames(self, limit: int = 64) -> list[tuple[bytes, bool]]:
        """Frames read, each with whether the kernel vouched for its TCP checksum (NEEDS_CSUM, DATA_VALID)."""
        select.select([self.fd], [], [], 1.0)
        out = []
        for _ in range(limit):
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            out.append((data[10:], bool(data[0] & 3)) if self.vnet else (data, False))
        return out

    def answer_arp(self, frame: bytes) -> bool:
        if frame[12:14] != b"\x08\x06" or frame[38:42] != ME.to_bytes(4, "big") or frame[20:22] != b"\x00\x01":
            return False
        self.peer_mac = frame[22:28]
        reply = frame[6:12] + MAC + b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02" + MAC + frame[38:42] + frame[22:32]
        self.write((VNET_PLAIN if self.vnet else b"") + reply.ljust(60, b"\0"))
        return True

    def segment(self, frame: bytes, vouched: bool = False) -> tuple[int, int, int, int, memoryview] | None:
        """(flags, seq, ack, window, payload) of a valid segment for us, checksums verified; else None."""
        if len(frame) < 54 or frame[12:14] != b"\x08\x00":
            return None
        (_dst_mac, src_mac, _kind, _ver, _tos, total, _ident, _frag, _ttl, protocol, _ip_sum, _src, dst, _sport,
         dst_port, seq, ack, offset_byte, flags, window, _tcp_sum, _urgent) = FRAME.unpack_from(frame, 0)
        if protocol != 6 or dst != ME or dst_port != self.port or ones_sum(frame[14:34]) != 0xFFFF:
            return None
        if not vouched and ones_sum(frame[34 : 14 + total], pseudo_header_sum(PEER, ME, 6, total - 20)) != 0xFFFF:
            return None
        self.peer_mac = src_mac
        return flags, seq, ack, window, memoryview(frame)[34 + (offset_byte >> 4) * 4 : 14 + total]

    def handshake(self) -> None:
        options = struct.pack("!BBHBBBB", 2, 4, MSS, 1, 3, 3, WSCALE)
        self.write(self.frame(SYN, options=options))
        self.snd_nxt += 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for frame, vouched in self.frames():
                if self.answer_arp(frame):
                    continue
                seg = self.segment(frame, vouched)
                if seg is not None and seg[0] & SYN and seg[0] & ACK:
                    self.rcv_nxt = (seg[1] + 1) & 0xFFFF_FFFF
                    self.snd_una = seg[2]
                    self.snd_shift = window_scale(bytes(frame[54 : 34 + (frame[46] >> 4) * 4]))
                    self.snd_wnd = seg[3]  # a SYN's window is never scaled (RFC 7323 2.2)
                    self.write(self.frame(ACK))
                    return
        raise SystemExit("no SYN-ACK from the kernel")

    def receive_all(self, size: int) -> tuple[int, str]:
        digest = hashlib.sha256()
        got = 0
        unacked = 0
        while True:
            for frame, vouched in self.frames():
                if self.answer_arp(frame):
                    continue
                seg = self.segment(frame, vouched)
                if seg is None:
                    continue
                flags, seq, _ack, _window, payload = seg
                if seq != self.rcv_nxt:
                    raise SystemExit("a segment out of order: the endpoint does in-order only")
                if payload:
                    digest.update(payload)
                    got += len(payload)
                    self.rcv_nxt = (self.rcv_nxt + len(payload)) & 0xFFFF_FFFF
                    unacked += 1
                if flags & FIN:
                    self.rcv_nxt = (self.rcv_nxt + 1) & 0xFFFF_FFFF
                    self.write(self.frame(FIN | ACK))
                    return got, digest.hexdigest()
                if unacked >= 8:
                    self.write(self.frame(ACK))
                    unacked = 0
            if unacked:
                self.write(self.frame(ACK))
                unacked = 0

    def send_all(self, size: int) -> None:
        data = b"".join(chunk_stream(size))
        view = memoryview(data)
        sent = 0
        end = self.iss + 1 + size
        progress = time.monotonic()
        dups = 0
        went_back = False
        while (self.snd_una - end) & 0x8000_0000:
            # A loss (a burst can overrun the kernel's backlog when the machine is busy): go back to SND.UNA
            # at the third duplicate ACK, as fast retransmit would, or after 0.2 s without progress. Without
            # the first, every loss cost the run a 0.2 s stall, and the figure measured luck, not Python.
            if dups >= 3 and not went_back or time.monotonic() - progress > 0.2:
                sent = (self.snd_una - self.iss - 1) & 0xFFFF_FFFF
                if (dups < 3 or went_back) and self.snd_nxt != self.snd_una:
                    self.stalls += 1  # data was in flight: a loss (with nothing out, the window was shut)
                self.snd_nxt = self.snd_una
                went_back = True
                dups = 0
                progress = time.monotonic()
            # At most what the endpoint itself offers in flight: a burst of the kernel's whole window (megabytes)
            # overruns its backlog of 1000 frames whenever the machine is busy, as a larger offer would the TAP's.
            room = min(self.snd_wnd, WINDOW << WSCALE)
            while sent < size and ((self.snd_nxt - self.snd_una) & 0xFFFF_FFFF) + MSS <= room:
                piece = view[sent : sent + MSS]
                self.write(self.frame(ACK | PSH, piece))
                self.snd_nxt = (self.snd_nxt + len(piece)) & 0xFFFF_FFFF
                sent += len(piece)
            before = self.snd_una
            for frame, vouched in self.frames(256):
                if self.answer_arp(frame):
                    continue
                seg = self.segment(frame, vouched)
                if seg is None or not seg[0] & ACK:
                    continue
                if seg[2] == self.snd_una and self.snd_nxt != self.snd_una and not seg[4] \
                        and seg[3] << self.snd_shift == self.snd_wnd:
                    dups += 1
                elif ((seg[2] - self.snd_una) & 0xFFFF_FFFF) < 0x8000_0000:
                    self.snd_una = seg[2]
                    self.snd_wnd = seg[3] << self.snd_shift
            if self.snd_una != before:
                progress = time.monotonic()
                dups = 0
                went_back = False
        self.write(self.frame(FIN | ACK))


def sol_run(ns: NetNs, direction: str, size: int, port: int, spec: str = "tap:mtap0") -> float:
    link = ns.call(lambda: open_link(spec, MonotonicTicks()))
    fd = link.fileno()
    assert fd is not None
    proc = kernel_peer(ns, "send" if direction == "recv" else "recv", size, port)
    endpoint = Endpoint(fd, 40_000 + port, port, vnet=link.checksum_offload)
    # TCP takes only frames addressed to the host itself, so the first SYN needs the kernel's MAC.
    endpoint.peer_mac = bytes.fromhex(ns.run("cat", "/sys/class/net/mtap0/address").stdout.strip().replace(":", ""))
    endpoint.handshake()
    start = time.perf_counter()
    cpu = time.process_time()
    if direction == "recv":
        got, digest = endpoint.receive_all(size)
        elapsed = time.perf_counter() - start
        bench_tcp.LAST_CPU[0] = time.process_time() - cpu
        out = proc.communicate(timeout=60)[0].split()
        if got != size or out[-1] != digest:
            raise SystemExit(f"speed-of-light receive mismatch: {got}")
    else:
        endpoint.send_all(size)
        if endpoint.stalls:
            print(f"  (speed of light send: {endpoint.stalls} stall(s) of 0.2 s after a loss)", flush=True)
        out = proc.communicate(timeout=60)[0].split()
        elapsed = time.perf_counter() - start
        bench_tcp.LAST_CPU[0] = time.process_time() - cpu
        if not out or int(out[0]) != size:
            raise SystemExit(f"speed-of-light send: the kernel side said {out}")
    link.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--offload", action="store_true",
                        help="also both with checksum offload (tap:mtap0?offload=1), in the same runs")
    args = parser.parse_args()
    size = args.size_mib * MiB
    variants = [("", "tap:mtap0")] + ([(" offload", "tap:mtap0?offload=1")] if args.offload else [])
    results: dict[str, list[float]] = {f"{who}{tag} {d}": [] for tag, _ in variants for who in ("sol", "stack")
                                       for d in ("recv", "send")}
    per_cpu: dict[str, list[float]] = {k: [] for k in results}
    """MB per CPU second of this process: steadier than wall time when other work shares the machine."""

    def record(key: str, seconds: float) -> None:
        results[key].append(size / seconds / 1e6)
        per_cpu[key].append(size / max(bench_tcp.LAST_CPU[0], 1e-9) / 1e6)

    for run in range(args.runs):  # interleaved, so the machine's mood is shared
        for tag, spec in variants:
            with private_netns(mtu=MTU) as ns:
                ns.run("sysctl", "-qw", "net.ipv4.tcp_no_metrics_save=1")
                record(f"sol{tag} recv", sol_run(ns, "recv", size, 5201 + run, spec))
                record(f"sol{tag} send", sol_run(ns, "send", size, 5301 + run, spec))
            with private_netns(mtu=MTU) as ns:
                stack = start_stack(ns, MTU, spec)
                _NS[id(stack)] = ns
                record(f"stack{tag} recv", receive(stack, size, 5401 + run))
                record(f"stack{tag} send", send(stack, size, 5501 + run))
                stack.end_stack()
    median = {k: statistics.median(v) for k, v in results.items()}
    cpu = {k: statistics.median(v) for k, v in per_cpu.items()}
    print(f"TCP over TAP at MTU {MTU}, {args.size_mib} MiB, median of {args.runs}")
    for tag, spec in variants:
        print(f" {spec}")
        for direction in ("recv", "send"):
            sol, ours = median[f"sol{tag} {direction}"], median[f"stack{tag} {direction}"]
            print(f"  {direction}: speed of light {sol:6.1f} MB/s   stack {ours:6.1f} MB/s   ratio {ours / sol:.2f}")
        for direction in ("recv", "send"):
            sol, ours = cpu[f"sol{tag} {direction}"], cpu[f"stack{tag} {direction}"]
            print(f"  {direction} per CPU second: speed of light {sol:6.1f} MB   stack {ours:6.1f} MB   "
                  f"ratio {ours / sol:.2f}")
    for key, values in results.items():  # every run, so a stall (or the machine's mood) shows
        print(f"  {key:18}: " + " ".join(f"{v:6.1f}" for v in values) + "   per CPU s: "
              + " ".join(f"{v:6.1f}" for v in per_cpu[key]))


if __name__ == "__main__":
    main()
