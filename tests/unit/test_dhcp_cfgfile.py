"""The lease written into the configuration file: the form mTCP's DHCP.EXE writes (seen running the real
one on mtcp-dosrun against dnsmasq), every other line kept byte for byte, and a file never left half
written."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py import cfgfile
from mtcp_py.cfgfile import LEASE_KEYS, lease_values, rewrite, write_lease
from mtcp_py.config import parse_config
from mtcp_py.dhcp import Lease
from pktdrv.mtcpcfg import parse_lines

LEASE = Lease(address=0x0A000246, netmask=0xFFFFFF00, routers=(0x0A000201,), nameservers=(0x0A000201, 0x0A000202),
              lease_seconds=43200, server=0x0A000201)
VALUES = lease_values(LEASE, 1796187821, "May 23 2013")

# The real DHCP.EXE (2013-04-26, "Version: May 23 2013"), given this MTCP.CFG, got 10.0.2.70 from dnsmasq
# and left the file below (TIMESTAMP aside: DOS time is local time and so depends on the machine).
DOS_BEFORE = b"LINK tap:mtap0\r\nPACKETINT 0x60\r\n# comment\r\nHOSTNAME dosbox\r\nIRCJR_NICK bob\r\n"
DOS_AFTER = (b"DHCPVER DHCP Client version May 23 2013\r\n"
             b"TIMESTAMP ( 1796187821 ) Wed Dec  2 00:03:41 2026\r\n"
             b"LINK tap:mtap0\r\nPACKETINT 0x60\r\n# comment\r\nHOSTNAME dosbox\r\nIRCJR_NICK bob\r\n"
             b"IPADDR 10.0.2.70\r\nNETMASK 255.255.255.0\r\nGATEWAY 10.0.2.1\r\nNAMESERVER 10.0.2.1\r\n"
             b"LEASE_TIME 43200\r\n")
TIMESTAMP = re.compile(rb"TIMESTAMP \( (\d+) \) (\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})\r?\n")


@pytest.fixture
def utc() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def without_timestamp(data: bytes) -> bytes:
    return TIMESTAMP.sub(b"TIMESTAMP\n", data)


def test_a_fresh_file_comes_out_as_dhcp_exe_writes_it() -> None:
    assert without_timestamp(rewrite(DOS_BEFORE, VALUES)) == without_timestamp(DOS_AFTER)


def test_a_file_dhcp_exe_wrote_keeps_its_layout() -> None:
    again = lease_values(Lease(0x0A000247, 0xFFFFFF00, (0x0A000201,), (0x0A000201,), 600, 0x0A000201),
                         1796190000, "May 23 2013")
    out = rewrite(DOS_AFTER, again)
    assert out.splitlines()[2:7] == DOS_AFTER.splitlines()[2:7]  # the user's lines, where they were
    assert [line.split()[0] for line in out.splitlines()] == [line.split()[0] for line in DOS_AFTER.splitlines()]
    assert b"IPADDR 10.0.2.71\r\n" in out and b"LEASE_TIME 600\r\n" in out


def test_timestamp_is_seconds_and_ctime(utc: None) -> None:
    match = TIMESTAMP.search(rewrite(b"", lease_values(LEASE, 1796178117, "v")))
    assert match is not None
    assert match.group(1) == b"1796178117"
    assert match.group(2) == b"Wed Dec  2 02:21:57 2026"  # C's ctime: day of month padded with a space


def test_keys_replaced_in_place_and_repeats_dropped() -> None:
    before = (b"; my settings\n"
              b"ipaddr 10.0.0.9\n"
              b"LINK tap:mtap0\n"
              b"   Gateway 10.0.0.1\n"
              b"# IPADDR 1.1.1.1 (a comment, kept)\n"
              b"IPADDR 10.0.0.10\n"
              b"NAMESERVER 8.8.8.8\n"
              b"NAMESERVER 8.8.4.4\n"
              b"IRCJR_NICK  bob  # not a comment in mTCP\n")
    out = rewrite(before, VALUES)
    assert out == (b"DHCPVER DHCP Client version May 23 2013\n"
                   + TIMESTAMP.search(out).group(0)  # type: ignore[union-attr]
                   + b"; my settings\n"
                   b"IPADDR 10.0.2.70\n"
                   b"LINK tap:mtap0\n"
                   b"GATEWAY 10.0.2.1\n"
                   b"# IPADDR 1.1.1.1 (a comment, kept)\n"
                   b"NAMESERVER 10.0.2.1\n"
                   b"IRCJR_NICK  bob  # not a comment in mTCP\n"
                   b"NETMASK 255.255.255.0\n"
                   b"LEASE_TIME 43200\n")


def test_line_endings_are_kept_and_new_lines_take_the_files() -> None:
    out = rewrite(b"LINK tap:mtap0\r\nIPADDR 1.2.3.4\nX 1\r", VALUES)
    lines = out.splitlines(keepends=True)
    assert b"LINK tap:mtap0\r\n" in lines and b"IPADDR 10.0.2.70\n" in lines and b"X 1\r" in lines
    assert b"NETMASK 255.255.255.0\r\n" in lines  # the first line's ending


def test_last_line_without_ending_gets_one() -> None:
    out = rewrite(b"LINK tap:mtap0\nHOSTNAME retro", VALUES)
    assert b"HOSTNAME retro\nNETMASK" not in out  # NETMASK replaces nothing: it goes at the end
    assert b"\nHOSTNAME retro\n" in out


def test_dos_end_of_file_mark_stays_last() -> None:
    out = rewrite(b"LINK tap:mtap0\r\n\x1aIPADDR 9.9.9.9 old junk after EOF\r\n", VALUES)
    head, eof, tail = out.partition(b"\x1a")
    assert eof and tail == b"IPADDR 9.9.9.9 old junk after EOF\r\n"
    assert head.endswith(b"LEASE_TIME 43200\r\n")
    assert parse_config(out.decode("latin-1")).ip == 0x0A000246


def test_empty_file_gets_the_lease() -> None:
    out = rewrite(b"", VALUES)
    assert [line.split()[0].decode() for line in out.splitlines()] == list(LEASE_KEYS)


def test_no_gateway_or_nameserver_is_written_as_zeros() -> None:
    bare = Lease(0x0A000246, 0xFFFFFF00, (), (), None, 0x0A000201)
    out = rewrite(b"", lease_values(bare, 0, "v"))
    assert b"GATEWAY 0.0.0.0\n" in out and b"NAMESERVER 0.0.0.0\n" in out and b"LEASE_TIME 0\n" in out


# -- written whole or not at all ---------------------------------------------------------------------------


def test_write_lease_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mtcp.cfg"
    path.write_bytes(DOS_BEFORE)
    path.chmod(0o640)
    written = write_lease(path, LEASE, 1796187821, "v")
    assert path.read_bytes() == written
    assert parse_config(written.decode("latin-1")).ip == LEASE.address
    assert path.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["mtcp.cfg"]  # no temporary file left


def test_a_failed_rename_leaves_the_old_file_and_no_litter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mtcp.cfg"
    path.write_bytes(DOS_BEFORE)

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cfgfile.os, "replace", crash)
    with pytest.raises(OSError):
        write_lease(path, LEASE, 0, "v")
    assert path.read_bytes() == DOS_BEFORE
    assert os.listdir(tmp_path) == ["mtcp.cfg"]


def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.cfg"
    real.write_bytes(b"LINK tap:mtap0\n")
    link = tmp_path / "mtcp.cfg"
    link.symlink_to(real)
    write_lease(link, LEASE, 0, "v")
    assert link.is_symlink()
    assert b"IPADDR 10.0.2.70\n" in real.read_bytes()


# -- every other line, byte for byte (fuzzed) --------------------------------------------------------------

KEYS = st.sampled_from(["LINK", "IPADDR", "ipaddr", "NETMASK", "GATEWAY", "NAMESERVER", "LEASE_TIME", "DHCPVER",
                        "TIMESTAMP", "HOSTNAME", "IRCJR_NICK", "#IPADDR", "; IPADDR", "", "  IPADDR", "MTU"])
VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x85\xa0\x1a"),
                max_size=20)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=300)
@given(st.lists(st.tuples(KEYS, VALUE, ENDINGS), max_size=12), st.booleans())
def test_other_lines_kept_and_the_lease_read_back(lines: list[tuple[str, str, str]], last_ending: bool) -> None:
    text = "".join(f"{key} {value}{ending}" for key, value, ending in lines)
    if not last_ending and text:
        text = text.rstrip("\r\n")
    original = text.encode("latin-1")
    out = rewrite(original, VALUES)

    def others(data: bytes) -> list[bytes]:
        return [line.rstrip(b"\r\n") if not line.endswith((b"\n", b"\r")) else line
                for line in data.splitlines(keepends=True)
                if next(iter(parse_lines(line.decode("latin-1"))), "") not in LEASE_KEYS]

    kept = others(out)
    expected = others(original)
    # Every other line, in order and byte for byte; only a last line that had no ending gains one.
    assert [line.rstrip(b"\r\n") for line in kept] == [line.rstrip(b"\r\n") for line in expected]
    assert [line for line in kept[:-1]] == [line for line in expected[:-1]]
    entries = parse_lines(out.decode("latin-1"))
    for key, value in VALUES:
        assert entries[key].value == value
    assert sum(1 for line in out.splitlines() if line.split()[:1] == [b"IPADDR"]) == 1


def test_lease_keys_blanked_for_reading_with_line_numbers_kept() -> None:
    text = "LINK tap:mtap0\r\nIPADDR 10.0.2\r\nnetmask 255.0.255.0\nHOSTNAME retro\n\x1aIPADDR x\n"
    assert cfgfile.without_lease_keys(text) == "LINK tap:mtap0\r\n\r\n\nHOSTNAME retro\n\x1aIPADDR x\n"
