"""The README's first command: the demo runs with no root and no configuration, and says what it did."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("extra", [[], ["--link-params", "drop=0.02&reorder=0.02&dup=0.01&seed=3"]])
def test_demo_pings_and_transfers(extra: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "mtcp_py.apps.demo", "--bytes", "1048576", *extra],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ping: 4/4 replies" in proc.stdout
    assert "1,048,576 bytes" in proc.stdout and "sha256 equal" in proc.stdout
    assert "tcp.segments_sent" in proc.stdout
