"""The MZ parser reads untrusted bytes: whatever they are, only a clean ProgramError may escape."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktdrv.dos.loader import ProgramError, build_environment, command_tail, parse_program


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=600))
def test_random_bytes_after_mz(body: bytes) -> None:
    try:
        program = parse_program(b"MZ" + body, "FUZZ.EXE")
    except ProgramError as exc:
        assert "\n" not in str(exc)
        return
    assert program.header is not None
    for offset, segment in program.relocations:
        assert segment * 16 + offset + 2 <= len(program.image)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), min_size=13, max_size=13), st.binary(max_size=300))
def test_structured_headers(fields: list[int], rest: bytes) -> None:
    data = b"MZ" + struct.pack("<13H", *fields) + rest
    try:
        parse_program(data, "FUZZ.EXE")
    except ProgramError:
        pass


def test_com_and_not_a_program() -> None:
    assert parse_program(b"\xc3", "A.COM").image == b"\xc3"
    for data, name in ((b"", "A.COM"), (b"\x7fELF....", "A.COM"), (b"hello", "A.EXE"), (b"\x90" * 0xFF01, "B.COM")):
        with pytest.raises(ProgramError):
            parse_program(data, name)


def test_environment_and_tail() -> None:
    env = build_environment([("A", "1")], "C:\\X.EXE")
    assert env == b"A=1\x00\x00\x01\x00C:\\X.EXE\x00"
    assert command_tail(["-count", "4"]) == b"\x09 -count 4\r"
    assert len(command_tail(["x" * 300])) == 128
