"""Loss and hostile-traffic benchmark (not a test), against the Linux kernel in private namespaces.

    python bench/bench_loss.py [--size-mib 16] [--runs 3] [--loss 5] [--flood 100000]

1. Throughput through LOSS% random loss each way, made by the kernel's nftables (numgen random, in a
   bridge's hooks: see tests/real/test_tcp_loss.py add_loss), median of RUNS, MB/s:
   (a) the anchor, Linux to Linux over a veth pair between two namespaces, both directions;
   (b) the stack to the kernel and the kernel to the stack over TAP, MTU 1500.
2. Hostile frames (tests/real/hostile.py mixed_flood: malformed frames, spoofed SYNs, pings, UDP to
   closed ports), FLOOD of them from a separate process, while a kernel -> stack transfer keeps going:
   the frames per second the stack took, and the transfer's rate before and during the flood.
3. Peak RSS of an `mtcp-servers` process idle and during a FLOOD-frame flood.
Needs root; nothing leaves the namespaces.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_tcp import _NS, connect, receive, send, start_stack  # noqa: E402

from mtcp_py.runtime import run_until, turn  # noqa: E402
from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns  # noqa: E402
from tests.real.kernel_peer import chunk_stream  # noqa: E402
from tests.real.test_tcp_loss import add_loss  # noqa: E402

MiB = 1 << 20
MTU = 1500
VETH_A, VETH_B = "10.0.9.1", "10.0.9.2"


# -- 1a. the anchor: Linux to Linux over veth ------------------------------------------------------------


def kernel_transfer(src: NetNs, dst: NetNs, dst_ip: str, port: int, size: int) -> float:
    """`size` bytes from a socket in `src` to one in `dst`; seconds until the receiver has read them all."""

    def listen() -> socket.socket:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((dst_ip, port))
        server.listen(1)
        return server

    server = dst.call(listen)
    client = src.call(lambda: socket.create_connection((dst_ip, port), timeout=120))
    conn, _ = server.accept()
    conn.settimeout(120)
    got = hashlib.sha256()
    count = [0]

    def drain() -> None:
        while data := conn.recv(MiB):
            got.update(data)
            count[0] += len(data)

    reader = threading.Thread(target=drain)
    start = time.perf_counter()
    reader.start()
    sent = hashlib.sha256()
    for chunk in chunk_stream(size):
        client.sendall(chunk)
        sent.update(chunk)
    client.shutdown(socket.SHUT_WR)
    reader.join(300)
    elapsed = time.perf_counter() - start
    for sock in (client, conn, server):
        sock.close()
    if count[0] != size or got.digest() != sent.digest():
        raise SystemExit(f"veth transfer mismatch: {count[0]} of {size} bytes")
    return elapsed


def veth_anchor(size: int, runs: int, loss: int) -> tuple[float, float]:
    with private_netns() as a, private_netns() as b:
        a.run("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b.name)
        a.run("ip", "addr", "add", f"{VETH_A}/24", "dev", "va")
        a.run("ip", "link", "set", "va", "up")
        b.run("ip", "addr", "add", f"{VETH_B}/24", "dev", "vb")
        b.run("ip", "link", "set", "vb", "gso_max_segs", "1")  # as the bridge on the other side
        b.run("ip", "link", "set", "vb", "up")
        add_loss(a, loss, port="va", cidr=f"{VETH_A}/24")
        a_to_b = [size / kernel_transfer(a, b, VETH_B, 6001 + i, size) / 1e6 for i in range(runs)]
        b_to_a = [size / kernel_transfer(b, a, VETH_A, 6101 + i, size) / 1e6 for i in range(runs)]
    return statistics.median(a_to_b), statistics.median(b_to_a)


# -- 1b. the stack over TAP ---------------------------------------------------------------------------------


def tap_through_loss(size: int, runs: int, loss: int) -> tuple[float, float]:
    with private_netns(mtu=MTU) as ns:
        add_loss(ns, loss)
        stack = start_stack(ns, MTU)
        _NS[id(stack)] = ns
        rx = [size / receive(stack, size, 5001 + i) / 1e6 for i in range(runs)]
        tx = [size / send(stack, size, 5101 + i) / 1e6 for i in range(runs)]
        stack.end_stack()
    return statistics.median(rx), statistics.median(tx)


# -- 2. hostile frames while a transfer goes on -----------------------------------------------------------------


def start_flood(ns: NetNs, stack_mac: bytes, count: int, rate: float = 0) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = ns.popen(  # type: ignore[assignment]
        sys.executable, "-m", "tests.real.hostile", stack_mac.hex(":"), str(count), "7", str(rate),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        raise SystemExit(f"flood generator: {line!r}")
    return proc


def go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def flood_during_transfer(count: int, rate: float) -> dict[str, float]:
    with private_netns(mtu=MTU) as ns:
        stack = start_stack(ns, MTU)
        _NS[id(stack)] = ns
        flood = start_flood(ns, stack.mac, count, rate)
        peer: subprocess.Popen[str] = ns.popen(  # type: ignore[assignment]
            sys.executable, "-m", "tests.real.kernel_peer", "send", "5201", str(1 << 40), stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, cwd=REPO)  # its end is our abort: no traceback wanted
        assert peer.stdout is not None and peer.stdout.readline().startswith("ready")
        sock = connect(stack, 5201)
        pool = stack.pool.counters
        marks: dict[str, tuple[float, int, int, int]] = {}
        got = [0]

        def mark(name: str) -> None:
            marks[name] = (time.perf_counter(), got[0], pool.frames_received, pool.dropped_pool_empty)

        def step() -> bool:
            while data := sock.recv(MiB):
                got[0] += len(data)
            now = time.perf_counter()
            if "warm" not in marks and got[0] >= 4 * MiB:
                mark("warm")
            elif "warm" in marks and "flood" not in marks and now - marks["warm"][0] >= 2.0:
                mark("flood")
                go(flood)
            elif "flood" in marks and flood.poll() is not None:
                mark("end")
                return True
            return sock.error is not None

        run_until(stack, step, 300)
        out = flood.communicate(timeout=30)[0].split()
        sock.abort()
        turn(stack)
        peer.kill()
        peer.wait()
        counters = stack.counters()
        stack.end_stack()
    if "end" not in marks:
        raise SystemExit(f"the transfer stopped: {sock.error}")
    (t0, b0, _, _), (t1, b1, f1, d1), (t2, b2, f2, d2) = marks["warm"], marks["flood"], marks["end"]
    seconds = t2 - t1
    data_frames = (b2 - b1 + MTU - 41) // (MTU - 40)
    return {"offered_fps": int(out[1]) / float(out[2]), "flood_seconds": seconds, "taken_fps": (f2 - f1) / seconds,
            "hostile_taken_fps": max(f2 - f1 - data_frames, 0) / seconds, "pool_dropped_fps": (d2 - d1) / seconds,
            "clean_mbs": (b1 - b0) / (t1 - t0) / 1e6, "flood_mbs": (b2 - b1) / seconds / 1e6,
            "internal_errors": counters["stack"]["internal_errors"]}


# -- 3. memory of mtcp-servers under a flood ------------------------------------------------------------------


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def servers_rss(count: int) -> tuple[float, float, float]:
    """(RSS idle, peak RSS idle, peak RSS after the flood), MB, of an mtcp-servers process."""
    with private_netns(mtu=MTU) as ns, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mtcp.cfg"
        config.write_text(f"LINK tap:mtap0\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n")
        proc = ns.popen(sys.executable, "-m", "mtcp_py.apps.servers", env=dict(os.environ, MTCPCFG=str(config)),
                        stderr=subprocess.PIPE, cwd=REPO)
        try:
            assert proc.stderr is not None
            while "mtcp-servers:" not in (line := proc.stderr.readline().decode()):
                if not line:
                    raise SystemExit("mtcp-servers did not start")
            ns.run("ping", "-c", "3", "-i", "0.2", STACK_IP)
            neigh = ns.run("ip", "neigh", "show", STACK_IP).stdout.split()
            mac = bytes.fromhex(neigh[neigh.index("lladdr") + 1].replace(":", ""))
            time.sleep(1.0)  # idle a while (a benchmark, not a test)
            idle, idle_peak = status_kib(proc.pid, "VmRSS"), status_kib(proc.pid, "VmHWM")
            flood = start_flood(ns, mac, count)
            go(flood)
            flood.communicate(timeout=120)
            ns.run("ping", "-c", "3", "-i", "0.2", STACK_IP)  # still answering
            peak = status_kib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(30)
    return idle / 1024, idle_peak / 1024, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loss", type=int, default=5, help="percent of TCP segments dropped each way")
    parser.add_argument("--flood", type=int, default=100_000, help="hostile frames per flood")
    parser.add_argument("--flood-rate", type=float, default=[20_000.0, 50_000.0], nargs="+",
                        help="offered frames per second during the transfer (0: as fast as the device takes them)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: private network namespaces, a veth pair and a TAP device")
    size = args.size_mib * MiB
    print(f"{args.loss}% random loss each way (nftables numgen, bridge hooks), {args.size_mib} MiB, MTU {MTU}, "
          f"median of {args.runs}")
    start = time.perf_counter()
    a_to_b, b_to_a = veth_anchor(size, args.runs, args.loss)
    rx, tx = tap_through_loss(size, args.runs, args.loss)
    print(f"  {'path':<34}{'MB/s':>8}")
    print(f"  {'Linux -> Linux (veth, anchor)':<34}{a_to_b:>8.2f}")
    print(f"  {'Linux <- Linux (veth, anchor)':<34}{b_to_a:>8.2f}")
    print(f"  {'kernel -> stack (TAP)':<34}{rx:>8.2f}")
    print(f"  {'stack -> kernel (TAP)':<34}{tx:>8.2f}")
    print(f"hostile frames ({args.flood} of mixed_flood from another process) during a kernel -> stack transfer:")
    for rate in args.flood_rate:
        flood = flood_during_transfer(args.flood, rate)
        print(f"  offered {flood['offered_fps']:>9,.0f} frames/s for {flood['flood_seconds']:5.2f} s: the stack took "
              f"{flood['taken_fps']:,.0f} frames/s (about {flood['hostile_taken_fps']:,.0f} hostile), its pool "
              f"refused {flood['pool_dropped_fps']:,.0f}/s; transfer {flood['clean_mbs']:.1f} MB/s before, "
              f"{flood['flood_mbs']:.1f} MB/s during; internal errors {flood['internal_errors']:.0f}")
    idle, idle_peak, peak = servers_rss(args.flood)
    print(f"mtcp-servers RSS: idle {idle:.1f} MB (peak {idle_peak:.1f} MB); peak after a {args.flood}-frame flood "
          f"{peak:.1f} MB (+{peak - idle_peak:.1f} MB)")
    print(f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
