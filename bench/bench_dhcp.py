"""DHCP benchmark (not a test): time to a lease from dnsmasq over TAP in a private namespace. Needs root and
dnsmasq.

    python bench/bench_dhcp.py [--runs 10] [--dos-bin DIR]

- in process: DISCOVER sent to ACK taken, the client on a stack whose link was opened in the namespace;
- `mtcp-dhcp` as a user runs it (Python start-up, config read, stack up, lease, file written), median of runs;
- both against dnsmasq with --no-ping; then one `mtcp-dhcp` run against dnsmasq's default, which pings a
  new address before offering it (that wait is dnsmasq's, not ours);
- with mTCP's DHCP.EXE (--dos-bin or MTCP_DOS_BIN): the same on `mtcp-dosrun` (the emulated PC's start-up
  and DHCP.EXE's own one-second wait included).
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mtcp_py.dhcp import DhcpClient  # noqa: E402
from mtcp_py.runtime import run_until  # noqa: E402
from mtcp_py.stack import Stack, StackConfig  # noqa: E402
from pktdrv import MonotonicTicks, open_link  # noqa: E402
from tests.netns import NetNs, private_netns  # noqa: E402
from tests.real.test_dhcp_dnsmasq import running_dhcp_server  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def figures(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"{name}: median {statistics.median(ms):.1f} ms, min {ms[0]:.1f}, max {ms[-1]:.1f} ({len(ms)} runs)")


def in_process(ns: NetNs, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        clock = MonotonicTicks()
        link = ns.call(lambda c=clock: open_link("tap:mtap0?mac=02:00:00:0b:00:01", c))  # type: ignore[misc]
        stack = Stack(link, StackConfig(0, no_address=True, tcp_enabled=False, announce=False), clock).init_stack()
        try:
            client = DhcpClient(stack.udp, stack.mac, hostname="bench", rng=random.Random())
            stack.add_layer(client)
            started = time.perf_counter()
            client.start(clock.now())
            run_until(stack, lambda c=client: c.done, 60)  # type: ignore[misc]
            times.append(time.perf_counter() - started)
        finally:
            stack.end_stack()
        if client.lease is None:
            raise SystemExit(f"bench_dhcp: no lease: {client.result}")
    return times


def command_runs(ns: NetNs, folder: Path, runs: int, mac: Callable[[int], str]) -> list[float]:
    times = []
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    for index in range(runs):
        config = folder / f"run{index}.cfg"
        config.write_text(f"LINK tap:mtap0?mac={mac(index)}\nHOSTNAME bench\n")
        command = ns.cmd(sys.executable, "-m", "mtcp_py.apps.dhcp", "--config", str(config))
        times.append(timed(functools.partial(subprocess.run, command, check=True, capture_output=True, timeout=120,
                                             env=env)))
    return times


def dos_runs(ns: NetNs, folder: Path, dos_bin: Path, runs: int) -> list[float]:
    drive = folder / "c"
    drive.mkdir()
    (drive / "DHCP.EXE").write_bytes((dos_bin / "DHCP.EXE").read_bytes())
    times = []
    for _ in range(runs):
        (drive / "MTCP.CFG").write_bytes(b"LINK tap:mtap0?mac=02:00:00:0b:00:03\r\nPACKETINT 0x60\r\n")
        command = ns.cmd("env", f"PYTHONPATH={REPO}", sys.executable, "-m", "pktdrv.dos.cli", "--config",
                         str(drive / "MTCP.CFG"), "-C", str(drive), str(drive / "DHCP.EXE"))
        times.append(timed(functools.partial(subprocess.run, command, check=True, capture_output=True, timeout=180)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--dos-bin", default=os.environ.get("MTCP_DOS_BIN"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_dhcp: needs root (a private network namespace and a TAP device)")
    with tempfile.TemporaryDirectory() as temp, private_netns() as ns:
        folder = Path(temp)
        with running_dhcp_server(ns, folder, "--no-ping"):
            figures("in process, DISCOVER to ACK (dnsmasq --no-ping)", in_process(ns, args.runs))
            figures("mtcp-dhcp command to a lease written (dnsmasq --no-ping)",
                    command_runs(ns, folder, args.runs, lambda i: "02:00:00:0b:00:02"))
            if args.dos_bin and (Path(args.dos_bin) / "DHCP.EXE").is_file():
                figures("DHCP.EXE on mtcp-dosrun to a lease written (dnsmasq --no-ping)",
                        dos_runs(ns, folder, Path(args.dos_bin), max(1, args.runs // 3)))
    with tempfile.TemporaryDirectory() as temp, private_netns() as ns:
        folder = Path(temp)
        with running_dhcp_server(ns, folder):
            figures("mtcp-dhcp command, a new client, dnsmasq pinging the address first",
                    command_runs(ns, folder, 1, lambda i: "02:00:00:0b:01:01"))


if __name__ == "__main__":
    main()
