"""The dosbox/ kit: every configuration file is well formed and says what its guide says, every host
command in the guide names a link string that parses, and the mTCP files read as mTCP reads them. (What can
run here runs in tests/nat/test_nat_dosbox.py, tests/nat/test_nat_qemu.py and tests/links/.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mtcp_py.config import parse_config
from pktdrv.links import parse_link

KIT = Path(__file__).resolve().parents[1] / "dosbox"
GUIDE = (KIT / "README.md").read_text()


def sections(text: str) -> dict[str, list[str]]:
    """A DOSBox configuration file: its [sections] and their lines (comments dropped)."""
    out: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            out[current] = []
            continue
        assert current is not None, f"a line before any section: {raw!r}"
        out[current].append(line)
    return out


def test_every_file_the_guide_names_is_in_the_kit() -> None:
    for name in re.findall(r"`([\w.-]+\.(?:conf|CFG|sh))`", GUIDE):
        assert name == "MTCP.CFG" or (KIT / name).is_file(), name  # MTCP.CFG: the name DOS gives a copy
    for path in KIT.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}" in GUIDE, f"{path.name} is not in the guide"


@pytest.mark.parametrize("spec", re.findall(r"--guest '([^']+)'", GUIDE) + ["86box:"])
def test_link_strings_in_the_guide_parse(spec: str) -> None:
    parse_link(spec)


def test_dosbox_074_serial_line_matches_the_slip_listener() -> None:
    conf = sections((KIT / "dosbox-0.74-ethersl.conf").read_text())
    serial = dict(line.split("=", 1) for line in conf["serial"])
    assert serial["serial1"].startswith("nullmodem server:127.0.0.1 port:5555 transparent:1")
    assert "slip:socket://127.0.0.1:5555?listen=1&baud=115200&mtu=576" in GUIDE
    autoexec = conf["autoexec"]
    assert "ETHERSL 0x60 4 0x3f8 115200" in autoexec and "set MTCPSLIP=1" in autoexec


def test_dosbox_x_files_name_their_backends() -> None:
    ethnet = sections((KIT / "dosbox-x-ethnet.conf").read_text())
    assert "backend=ethnet" in ethnet["ne2000"] and "ipx=true" in ethnet["ipx"]
    pcap = sections((KIT / "dosbox-x-ne2000.conf").read_text())
    assert "backend=pcap" in pcap["ne2000"] and "realnic=dosx0" in pcap["ethernet, pcap"]


def test_mtcp_files_read_as_mtcp_reads_them() -> None:
    slip = parse_config((KIT / "MTCP-SLIP.CFG").read_text(), "MTCP-SLIP.CFG")
    assert (slip.ip, slip.gateway, slip.nameserver, slip.mtu) == (0x0A00020F, 0x0A000202, 0x0A000203, 576)
    ne2000 = parse_config((KIT / "MTCP-NE2000.CFG").read_text(), "MTCP-NE2000.CFG")
    assert ne2000.ip == 0 and ne2000.packet_int == 0x60  # DHCP fills in the addresses
