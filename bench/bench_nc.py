"""Netcat from the command line, as a user sees it (not a test): 64 MiB each way against the kernel.

    python bench/bench_nc.py [--mib 64] [--runs 3]

kernel `nc` -> `mtcp-nc -listen -bin > /dev/null`, and `mtcp-nc -target -bin < file` -> kernel `nc -l`,
in a private namespace over TAP (needs root). Prints MB/s, the median of the runs, whole-command time
(start-up included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.netns import KERNEL_IP, STACK_IP, private_netns  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (a private network namespace and a TAP device)")
    size = args.mib << 20
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.bin"
        data.write_bytes(os.urandom(size))
        config = Path(tmp) / "mtcp.cfg"
        config.write_text(f"LINK tap:mtap0\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n")
        env = dict(os.environ, MTCPCFG=str(config))
        receive, send = [], []
        with private_netns() as ns:
            for _ in range(args.runs):
                proc = ns.popen(sys.executable, "-m", "mtcp_py.apps.nc", "-listen", "7000", "-bin", env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                assert proc.stderr is not None
                while b"waiting" not in proc.stderr.readline():
                    pass
                start = time.perf_counter()
                ns.run("sh", "-c", f"nc -N {STACK_IP} 7000 < {data}", timeout=600)
                proc.wait(timeout=600)
                receive.append(size / (time.perf_counter() - start) / 1e6)

                sink = ns.popen("sh", "-c", f"nc -l {KERNEL_IP} 7001 > /dev/null", stdin=subprocess.DEVNULL)
                ns.run("sh", "-c", "for i in $(seq 200); do ss -ltn | grep -q ':7001' && exit 0; sleep 0.02; done")
                start = time.perf_counter()
                with data.open("rb") as source:
                    ns.run(sys.executable, "-m", "mtcp_py.apps.nc", "-target", KERNEL_IP, "7001", "-bin",
                           env=env, stdin=source, timeout=600)
                sink.wait(timeout=600)
                send.append(size / (time.perf_counter() - start) / 1e6)
    print(f"kernel nc -> mtcp-nc -listen -bin > /dev/null, {args.mib} MiB: "
          f"median {statistics.median(receive):.1f} MB/s "
          f"(runs: {', '.join(f'{r:.1f}' for r in receive)})")
    print(f"mtcp-nc -target -bin < file -> kernel nc -l, {args.mib} MiB: median {statistics.median(send):.1f} MB/s "
          f"(runs: {', '.join(f'{r:.1f}' for r in send)})")


if __name__ == "__main__":
    main()
