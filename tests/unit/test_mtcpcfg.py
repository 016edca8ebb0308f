"""The one MTCPCFG reader (pktdrv.mtcpcfg), shared by the DOS machine's command and the stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtcp_py.config import ConfigError as StackConfigError
from mtcp_py.config import load_config, parse_config
from pktdrv.dos import cli
from pktdrv.mtcpcfg import ConfigError, cfg_path, parse_cfg, parse_lines, parse_packet_int, read_cfg


def test_one_error_class_for_both_readers() -> None:
    assert StackConfigError is ConfigError
    assert cli.ConfigError is ConfigError


def test_lines_keys_values_and_line_numbers() -> None:
    text = ("# comment\n  ; indented comment\n\nlink  hub:lan\nIRCJR_NICK\tsomeone # not a comment\nEMPTY\n"
            "link hub:b\r\n")
    entries = parse_lines(text)
    assert {k: (e.value, e.line) for k, e in entries.items()} == {
        "LINK": ("hub:b", 7),  # the last of a key wins
        "IRCJR_NICK": ("someone # not a comment", 5),  # the rest of the line, as mTCP's getAppValue has it
        "EMPTY": ("", 6),
    }


def test_dos_end_of_file_mark_ends_the_file() -> None:
    assert set(parse_lines("LINK hub:a\r\n\x1aGARBAGE here\n")) == {"LINK"}


@pytest.mark.parametrize(("text", "message"), [
    ("LINK hub:x # my hub", "f.cfg:1: LINK: 'hub:x # my hub': one value expected (a comment goes on a line of its "
                            "own, starting with #)"),
    ("\nLINK", "f.cfg:2: LINK: needs a value"),
    ("LINK mtap0", "f.cfg:1: LINK: mtap0: a link is written KIND:NAME, e.g. tap:mtap0, hub:lan, raw:br0"),
    ("LINK hub:x?drop=abc", "f.cfg:1: LINK: hub:x?drop=abc: drop=abc: not a number (a probability from 0 to 1)"),
    ("LINK slop:x", "f.cfg:1: LINK: slop:x: unknown link kind 'slop' (known: 86box, ethnet, hub, qemu-dgram, "
                    "qemu-stream, raw, slip, tap)"),
    ("PACKETINT 0x20", "f.cfg:1: PACKETINT: 0x20: a packet driver interrupt is 0x60 to 0x80"),
    ("PACKETINT sixty", "f.cfg:1: PACKETINT: sixty: not a hexadecimal number (a packet driver interrupt, 0x60 to "
                        "0x80)"),
    ("PACKETINT 0x60 # the default", "f.cfg:1: PACKETINT: '0x60 # the default': one value expected (a comment "
                                     "goes on a line of its own, starting with #)"),
])
def test_both_readers_refuse_the_same_lines_with_the_same_words(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as shared:
        parse_cfg(text, "f.cfg")
    with pytest.raises(ConfigError) as stack:
        parse_config(text, "f.cfg")
    assert str(shared.value) == str(stack.value) == message


@pytest.mark.parametrize(("line", "key"), [
    ("IPADDR 10.0.2.15 # home", "IPADDR"),
    ("NETMASK 255.255.255.0 x", "NETMASK"),
    ("MTU big", "MTU"),
    ("HOSTNAME a b", "HOSTNAME"),
])
def test_stack_keys_take_one_word(line: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"; header\n{line}\n", "s.cfg")
    assert str(info.value).startswith(f"s.cfg:2: {key}: ")
    assert "invalid literal" not in str(info.value)


def test_both_readers_agree_on_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "MTCP.CFG"
    path.write_text("# mTCP\r\nPACKETINT 61\r\nLINK hub:lan?drop=0.1\r\nIPADDR 10.0.2.15\r\nIRC_NICK me # hi\r\n")
    shared = read_cfg(path)
    config = load_config(path)
    assert shared.link == config.link == "hub:lan?drop=0.1"
    assert shared.packet_int == config.packet_int == 0x61
    assert config.app == {"IRC_NICK": "me # hi"}
    assert shared.entries["IRC_NICK"].value == "me # hi"


def test_packet_interrupt_is_hexadecimal_as_mtcp_reads_it() -> None:
    assert parse_packet_int("60") == parse_packet_int("0x60") == parse_packet_int("0X60") == 0x60
    assert parse_packet_int("7f") == 0x7F
    for bad in ("", "0x", "96", "0x81", "6O"):
        with pytest.raises(ValueError):
            parse_packet_int(bad)


def test_config_path_and_unreadable_file(tmp_path: Path) -> None:
    assert cfg_path(None, {}) is None
    assert cfg_path(None, {"MTCPCFG": "a.cfg"}) == "a.cfg"
    assert cfg_path("b.cfg", {"MTCPCFG": "a.cfg"}) == "b.cfg"
    with pytest.raises(ConfigError) as info:
        read_cfg(tmp_path / "missing.cfg")
    assert str(info.value) == f"{tmp_path / 'missing.cfg'}: cannot read: No such file or directory"
