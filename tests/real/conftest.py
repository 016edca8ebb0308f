"""Fixtures for the real-kernel tests of the programs; the helpers are in apputil.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import KERNEL_IP, STACK_IP, NetNs, need_root, private_netns
from tests.real.apputil import MIB


@pytest.fixture
def ns() -> Iterator[NetNs]:
    need_root()
    with private_netns() as namespace:
        yield namespace


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mtcp.cfg"
    path.write_text(f"LINK tap:mtap0\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n")
    return path


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "payload.bin"
    path.write_bytes(os.urandom(8 * MIB))
    return path
