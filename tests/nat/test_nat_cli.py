"""mtcp-nat's command line: bad input gets one clear line and exit 2; a run ends cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.real.apputil import stop_with, wait_for_line


def run_nat(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    return subprocess.run([sys.executable, "-m", "mtcp_py.apps.nat", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("args", "message"), [
    (["--guest", "hub:x", "--net", "10.0.2.0/30"], "--net 10.0.2.0/30: too small a network"),
    (["--guest", "hub:x", "--forward", "tcp:abc"], "--forward tcp:abc: write tcp:HOSTPORT:GUESTPORT"),
    (["--guest", "hub:x", "--forward", "tcp:2323:99999"], "'99999' is not a port"),
    (["--guest", "hub:x", "--forward", "icmp:1:2"], "--forward icmp:1:2: write"),
    (["--guest", "bogus:x"], "unknown link kind 'bogus'"),
    (["--guest", "hub:x", "--dns-server", "nameserver"], "--dns-server not an IPv4 address"),
    (["--guest", "hub:x", "--max-flows", "0"], "--max-flows 0"),
])
def test_bad_command_lines_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = run_nat(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("mtcp-nat: ") and message in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_run_ends_cleanly_on_sigterm_with_its_table() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([sys.executable, "-m", "mtcp_py.apps.nat", "--guest", "hub:natcli", "--stats",
                             "--dns-server", "127.0.0.1", "--forward", f"tcp:127.0.0.1:{port}:23"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    try:
        banner = wait_for_line(proc, "mtcp-nat: gateway")
        assert "gateway 10.0.2.2" in banner and "DNS 10.0.2.3 -> 127.0.0.1" in banner and "guest 10.0.2.15" in banner
        proc.send_signal(signal.SIGUSR1)
    finally:
        err = stop_with(proc)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"mtcp-nat: stopping" in err
