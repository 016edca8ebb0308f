"""TCP benchmark (not a test): bulk throughput against the Linux kernel over TAP, and peak memory.

    python bench/bench_tcp.py [--mtu 65000 9000 1500] [--size-mib 64] [--runs 3] [--skip-rss]
    python bench/bench_tcp.py --profile recv --mtu 1500     # where the time goes (cProfile, top 25)

Throughput: kernel -> stack and stack -> kernel, SIZE MiB each, median of RUNS, for each TAP MTU (the
stack's MSS follows the MTU; the receive pool holds 40 frames of MTU + 14 bytes).
Memory: the peak RSS of a child process that moves 1 MiB each way, then of one that moves 1 GiB each way.
Needs root (a private network namespace with a TAP device); nothing leaves the namespace.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtcp_py.runtime import run_until  # noqa: E402
from mtcp_py.stack import Stack, StackConfig  # noqa: E402
from mtcp_py.tcp import TcpConfig, TcpSocket  # noqa: E402
from mtcp_py.wire import ip_from_str  # noqa: E402
from pktdrv import MonotonicTicks, open_link  # noqa: E402
from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns  # noqa: E402
from tests.real.kernel_peer import chunk_stream  # noqa: E402

MiB = 1 << 20


LAST_CPU = [0.0]
"""CPU seconds (user and system) of the last receive() or send(), over the same span as its wall time."""
RX_BUFFERS = [40]
"""Receive pool size (StackConfig.packet_buffers); the TCP receive window follows it (3/4 of it)."""


def start_stack(ns: NetNs, mtu: int, spec: str = "tap:mtap0") -> Stack:
    clock = MonotonicTicks()
    link = ns.call(lambda: open_link(spec, clock))
    cfg = StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP), mtu=mtu, buffer_size=mtu + 14,
                      packet_buffers=RX_BUFFERS[0], tcp=TcpConfig(mss=mtu - 40))
    return Stack(link, cfg, clock).init_stack()


def kernel_peer(ns: NetNs, mode: str, size: int, port: int) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = ns.popen(  # type: ignore[assignment]
        sys.executable, "-m", "tests.real.kernel_peer", mode, str(port), str(size), stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None and proc.stdout.readline().startswith("ready")
    return proc


def connect(stack: Stack, port: int) -> TcpSocket:
    sock = stack.tcp.connect(ip_from_str(KERNEL_IP), port)
    if not run_until(stack, lambda: sock.is_connected or sock.error is not None, 10) or sock.error:
        raise SystemExit(f"connect failed: {sock.error}")
    return sock


def receive(stack: Stack, size: int, port: int) -> float:
    """Kernel -> stack; returns seconds from the first byte asked for to the last byte read."""
    proc = kernel_peer(ns_of(stack), "send", size, port)
    sock = connect(stack, port)
    h = hashlib.sha256()
    got = [0]
    start = time.perf_counter()
    cpu = time.process_time()

    def step() -> bool:
        while data := sock.recv(MiB):
            h.update(data)
            got[0] += len(data)
        if sock.at_eof and not sock.app_closed:
            sock.close()
        return sock.at_eof or sock.error is not None

    run_until(stack, step, 600)
    elapsed = time.perf_counter() - start
    LAST_CPU[0] = time.process_time() - cpu
    run_until(stack, lambda: sock.is_closed, 30)  # our FIN, which the kernel side waits for
    out = proc.communicate(timeout=60)[0].split()
    if got[0] != size or out[-1] != h.hexdigest():
        raise SystemExit(f"receive mismatch: {got[0]} bytes, {sock.error}")
    return elapsed


def send(stack: Stack, size: int, port: int) -> float:
    """Stack -> kernel; until the kernel has read everything (its EOF after our FIN)."""
    h = hashlib.sha256()
    for chunk in chunk_stream(size):  # the digest to check against, made before the clock starts: the
        h.update(chunk)               # sending is timed, not the checking (as the speed of light's)
    proc = kernel_peer(ns_of(stack), "recv", size, port)
    sock = connect(stack, port)
    chunks = chunk_stream(size)
    current = [memoryview(b"")]
    start = time.perf_counter()
    cpu = time.process_time()

    def step() -> bool:
        while not sock.app_closed and sock.is_connected:
            if not current[0]:
                nxt = next(chunks, None)
                if nxt is None:
                    sock.close()
                    break
                current[0] = memoryview(nxt)
            taken = sock.send(current[0])
            if not taken:
                break
            current[0] = current[0][taken:]
        return sock.is_closed or sock.error is not None

    run_until(stack, step, 600)
    elapsed = time.perf_counter() - start
    LAST_CPU[0] = time.process_time() - cpu
    out = proc.communicate(timeout=60)[0].split()
    if int(out[0]) != size or out[-1] != h.hexdigest():
        raise SystemExit(f"send mismatch: {out}, {sock.error}")
    return elapsed


_NS: dict[int, NetNs] = {}


def ns_of(stack: Stack) -> NetNs:
    return _NS[id(stack)]


def throughput(mtu: int, size: int, runs: int) -> tuple[float, float]:
    with private_netns(mtu=mtu) as ns:
        stack = start_stack(ns, mtu)
        _NS[id(stack)] = ns
        rx = [size / receive(stack, size, 5001 + i) / 1e6 for i in range(runs)]
        tx = [size / send(stack, size, 5101 + i) / 1e6 for i in range(runs)]
        stack.end_stack()
    return statistics.median(rx), statistics.median(tx)


def rss_child(size: int, mtu: int) -> None:
    with private_netns(mtu=mtu) as ns:
        stack = start_stack(ns, mtu)
        _NS[id(stack)] = ns
        receive(stack, size, 5001)
        send(stack, size, 5002)
        stack.end_stack()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def profile(direction: str, mtu: int, size: int) -> None:
    with private_netns(mtu=mtu) as ns:
        stack = start_stack(ns, mtu)
        _NS[id(stack)] = ns
        profiler = cProfile.Profile()
        profiler.enable()
        seconds = (receive if direction == "recv" else send)(stack, size, 5001)
        profiler.disable()
        stack.end_stack()
    print(f"{direction} at MTU {mtu}: {size / seconds / 1e6:.1f} MB/s under the profiler")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mtu", type=int, nargs="+", default=[65000, 9000, 1500])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", choices=["recv", "send"])
    parser.add_argument("--rx-buffers", type=int, default=40, help="receive pool frames (default 40, as mTCP)")
    args = parser.parse_args()
    RX_BUFFERS[0] = args.rx_buffers
    if os.geteuid() != 0:
        raise SystemExit("needs root: makes a private network namespace with a TAP device")
    if args.rss_child is not None:
        rss_child(args.rss_child, args.mtu[0])
        return
    if args.profile:
        profile(args.profile, args.mtu[0], args.size_mib * MiB)
        return
    size = args.size_mib * MiB
    print(f"bulk TCP against the kernel over TAP, {args.size_mib} MiB each way, median of {args.runs}, "
          f"{args.rx_buffers} receive buffers")
    for mtu in args.mtu:
        rx, tx = throughput(mtu, size, args.runs)
        print(f"  MTU {mtu:>5}: kernel -> stack {rx:7.1f} MB/s   stack -> kernel {tx:7.1f} MB/s")
    if not args.skip_rss:
        mtu = args.mtu[0]
        peaks = {}
        for label, nbytes in (("1 MiB", MiB), ("1 GiB", 1024 * MiB)):
            out = subprocess.run([sys.executable, __file__, "--rss-child", str(nbytes), "--mtu", str(mtu),
                                  "--rx-buffers", str(args.rx_buffers)],
                                 capture_output=True, text=True, check=True).stdout.split()
            peaks[label] = int(out[-1]) / 1024
            print(f"  peak RSS moving {label} each way (MTU {mtu}): {peaks[label]:.1f} MB")
        print(f"  difference: {peaks['1 GiB'] - peaks['1 MiB']:.1f} MB")


if __name__ == "__main__":
    main()
