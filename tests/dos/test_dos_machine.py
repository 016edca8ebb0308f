"""The DOS machine with its own small DOS programs (assembled with nasm at test time)."""

from __future__ import annotations

import functools
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pktdrv.dos.machine import Machine, MachineConfig, MachineError
from pktdrv.links import HUBS, open_link, read_pcap

from .dosutil import PEER_MAC, REPO, Responder, assemble, machine_for, run_cli


def test_files_on_drive_c_and_paths_outside_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    drive = tmp_path / "c"
    drive.mkdir()
    (tmp_path / "ESCAPE.TXT").write_text("outside")
    os.symlink(tmp_path, drive / "link")
    program = assemble("files", drive)
    code = machine_for(program).run()
    out, err = capfd.readouterr()
    assert code == 0, err
    # read back, found by 4Eh, then: three refusals with "path not found" (3), NUL's device word
    assert out.splitlines() == ["quick", "TEST.TXT", "0003 0003 0003 ", "8084 ", "files ok"]
    assert "unsupported INT 21h AH=39h" in err
    assert not (drive / "TEST.TXT").exists() and not (drive / "RENAMED.TXT").exists()


def test_stdin_stdout_binary_exact_and_exit_code(tmp_path: Path) -> None:
    program = assemble("stdio", tmp_path)
    data = bytes(range(256)) * 40 + b"\r\n\x1a\x00end"
    result = run_cli(["--link", "hub:stdio", str(program), "7"], stdin=data)
    assert result.stdout == data
    assert result.returncode == 7
    assert result.stderr.startswith(b"FF")  # both handles redirected: IOCTL 00 says file, not device


def test_mz_executable_relocated_with_minimum_allocation(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    program = assemble("mz", tmp_path, "MZ.EXE")
    assert program.read_bytes()[:2] == b"MZ"
    code = machine_for(program).run()
    out, _ = capfd.readouterr()
    assert out == "relocated data segment\r\n"
    assert code == 42


def test_timer_ticks_and_reprogrammed_pit_on_the_virtual_clock(tmp_path: Path,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    program = assemble("timer", tmp_path)
    machine = machine_for(program)
    assert machine.run() == 0
    out, _ = capfd.readouterr()
    # 18 BIOS ticks gave 18 INT 1Ch; 640 ticks at divisor 1024 moved the BIOS clock by 10
    assert out.splitlines() == ["0012", "000A"]
    # 18 ticks of 54.9 ms, then 640 of 0.858 ms: 0.989 s + 0.549 s (the first tick may come early)
    assert 1.48 < machine.clock.seconds() < 1.60
    assert machine.pit.divisor == 65536


def test_vectors_written_directly_and_chained_dos(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    program = assemble("vectors", tmp_path)
    code = machine_for(program).run()
    out, err = capfd.readouterr()
    assert (code, out) == (0, "vectors ok\r\n"), err


def test_unknown_calls_answered_and_reported_once(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    program = assemble("unknown", tmp_path)
    assert machine_for(program).run() == 0
    out, err = capfd.readouterr()
    assert out == "unknown calls answered\r\n"
    assert err.count("unsupported INT 21h AH=EEh at ") == 1
    assert "unsupported INT 99h" in err


@pytest.mark.parametrize(("mode", "text"), [("u", "invalid instruction at"), ("j", "at C000:0000"),
                                            ("d", "divide error at")])
def test_cpu_fault_ends_the_run_with_one_line(tmp_path: Path, capfd: pytest.CaptureFixture[str], mode: str,
                                              text: str) -> None:
    program = assemble("fault", tmp_path)
    machine = machine_for(program, [mode], link=f"hub:fault{mode}")
    assert machine.run() == 125
    assert machine.driver is not None and machine.driver.terminated  # the link is released all the same
    _, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "CPU fault" in lines[0] and text in lines[0] and "bytes there" in lines[0]
    assert "Traceback" not in err


def test_ctrl_c_reaches_the_program_as_dos_delivers_it(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    program = assemble("ctrlc", tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    outcomes = {}
    for mode in "hds":
        process = subprocess.Popen([sys.executable, "-m", "pktdrv.dos.cli", "--link", "hub:c", str(program), mode],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        request.addfinalizer(functools.partial(kill_if_running, process))  # never leave a spinning machine
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\r\n"  # the program waits: now press Ctrl-C
        process.send_signal(signal.SIGINT)
        if mode == "s":
            # The spinning program never calls DOS: only a second Ctrl-C ends the machine. Two signals sent
            # back to back may reach Python as one, so keep pressing until the machine ends.
            deadline = time.monotonic() + 20
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        outcomes[mode] = (process.returncode, out, err)
    assert outcomes["h"][:2] == (3, b"caught Ctrl-C, INT 1Bh count 1")
    assert outcomes["d"][0] == 130
    assert outcomes["s"][0] == 130 and b"second Ctrl-C" in outcomes["s"][2]


def kill_if_running(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()


def run_packet_client(tmp_path: Path, hub: str, pcap: Path, trace: bool = False) -> tuple[int, Machine]:
    program = assemble("pktclient", tmp_path)
    HUBS.get(hub).ports.clear()
    responder = Responder(open_link(f"hub:{hub}?mac={PEER_MAC.hex(':')}"))
    machine = machine_for(program, link=f"hub:{hub}?mac=02:00:00:00:00:02&pcap={pcap}", trace=trace,
                          companion=responder)
    return machine.run(), machine


def test_packet_driver_client_against_a_peer_on_the_hub(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pcap = tmp_path / "run.pcap"
    code, machine = run_packet_client(tmp_path, "pkt1", pcap)
    out, err = capfd.readouterr()
    assert code == 0, err
    assert out.splitlines() == ["0002", "0002", "0001"]  # in: ARP and echo reply; out: 2; lost: the refused one
    assert machine.driver is not None and machine.driver.terminated  # the link is released at the end
    frames = [frame for _, frame in read_pcap(pcap)]
    assert len(frames) == 5
    arp_request, arp_reply, echo, refused, echo_reply = frames
    assert arp_request[:6] == b"\xff" * 6 and arp_request[12:14] == b"\x08\x06" and len(arp_request) == 60
    assert arp_request[38:42] == bytes([10, 0, 0, 1])
    assert arp_reply[20:22] == b"\x00\x02" and arp_reply[:6] == bytes.fromhex("020000000002")
    assert echo[:6] == PEER_MAC and echo[34] == 8 and echo[42:74] == b"abcdefghijklmnopqrstuvwxyz012345"
    assert len(refused) == 614
    assert echo_reply[34] == 0 and echo_reply[42:74] == echo[42:74]


def test_virtual_clock_runs_repeat_bit_for_bit(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    run_packet_client(tmp_path, "rep1", first)
    out1 = capfd.readouterr().out
    run_packet_client(tmp_path, "rep2", second)
    out2 = capfd.readouterr().out
    assert out1 == out2
    assert first.read_bytes() == second.read_bytes()


def test_trace_decodes_packet_driver_calls(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, _ = run_packet_client(tmp_path, "trace", tmp_path / "t.pcap", trace=True)
    err = capfd.readouterr().err
    assert code == 0
    assert "pktdrv access_type class=1 type=ffff number=0 typelen=2 types=0806" in err
    assert "-> handle 1" in err
    assert "pktdrv release_type handle=1 -> error BAD_HANDLE" in err
    assert "dos 4Ch exit 0" in err


def test_not_a_dos_program_or_truncated(tmp_path: Path) -> None:
    text = tmp_path / "README.EXE"
    text.write_text("not a program")
    result = run_cli(["--link", "hub:x", str(text)])
    assert result.returncode == 125 and result.stderr.count(b"\n") == 1 and b"not a DOS program" in result.stderr
    program = assemble("mz", tmp_path, "MZ.EXE")
    cut = tmp_path / "CUT.EXE"
    cut.write_bytes(program.read_bytes()[:100])
    result = run_cli(["--link", "hub:x", str(cut)])
    assert result.returncode == 125 and b"truncated" in result.stderr and result.stderr.count(b"\n") == 1
    with pytest.raises(MachineError):
        Machine(MachineConfig(program=tmp_path / "missing.com"))


def test_config_file_link_packetint_and_errors(tmp_path: Path) -> None:
    program = assemble("stdio", tmp_path)
    config = tmp_path / "MTCP.CFG"
    config.write_text("# mTCP\nLINK hub:cfg\nPACKETINT 0x61\nIPADDR 10.0.0.2\n")
    result = run_cli(["--config", str(config), str(program)])
    assert result.returncode == 0
    config.write_text("IPADDR 10.0.0.2\nPACKETINT 0x20\n")
    result = run_cli(["--config", str(config), "--link", "hub:x", str(program)])
    assert result.returncode == 2 and f"{config}:2: PACKETINT".encode() in result.stderr
    config.write_text("IPADDR 10.0.0.2\n")
    result = run_cli(["--config", str(config), str(program)])
    assert result.returncode == 2 and b"no link" in result.stderr


def test_mtcpcfg_names_the_config_file_when_config_is_not_given(tmp_path: Path) -> None:
    """mtcp-dosrun honours MTCPCFG as every mTCP program does: LINK and PACKETINT come from the file it
    names, and the DOS program sees that file as C:\\MTCP.CFG."""
    program = assemble("stdio", tmp_path)
    config = tmp_path / "HOME.CFG"
    config.write_text("# from MTCPCFG\nLINK hub:mtcpcfg\nPACKETINT 61\nIPADDR 10.0.0.2\n")
    result = run_cli([str(program)], env={"MTCPCFG": str(config)})
    assert result.returncode == 0, result.stderr
    config.write_text("IPADDR 10.0.0.2\nPACKETINT 0x20\n")
    result = run_cli([str(program)], env={"MTCPCFG": str(config)})
    assert result.returncode == 2
    assert result.stderr.decode() == f"mtcp-dosrun: {config}:2: PACKETINT: 0x20: a packet driver interrupt is " \
                                     "0x60 to 0x80\n"
    # --config wins over MTCPCFG.
    other = tmp_path / "OTHER.CFG"
    other.write_text("LINK hub:other\n")
    assert run_cli(["--config", str(other), str(program)], env={"MTCPCFG": str(config)}).returncode == 0
    result = run_cli([str(program)], env={"MTCPCFG": str(tmp_path / "missing.cfg")})
    assert result.returncode == 2 and b"missing.cfg: cannot read" in result.stderr


def test_link_errors_in_words_and_a_link_that_cannot_open(tmp_path: Path) -> None:
    program = assemble("stdio", tmp_path)
    result = run_cli(["--link", "hub:x?drop=abc", str(program)])
    assert result.returncode == 2
    assert result.stderr.decode() == "mtcp-dosrun: link hub:x?drop=abc: drop=abc: not a number (a probability " \
                                     "from 0 to 1)\n"
    config = tmp_path / "MTCP.CFG"
    config.write_text("LINK hub:x # my hub\n")
    result = run_cli(["--config", str(config), str(program)])
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"mtcp-dosrun: {config}:1: LINK: 'hub:x # my hub': one value expected")
    # raw: on no such device (or, without root, not permitted): the machine cannot run the program.
    result = run_cli(["--link", "raw:nosuch0", str(program)])
    assert result.returncode == 125, result.stderr
    err = result.stderr.decode()
    assert err.startswith("mtcp-dosrun: raw:nosuch0: ") and "Traceback" not in err
    assert "no such device" in err or "not permitted" in err


def test_environment_and_psp(tmp_path: Path) -> None:
    program = assemble("stdio", tmp_path)
    machine = machine_for(program, ["a", "b"])
    psp = machine.psp
    tail = machine.memory.read(psp, 0x80, 8)
    assert tail[:6] == b"\x04 a b\r"
    env_segment = machine.memory.word(psp, 0x2C)
    block = machine.memory.read(env_segment, 0, 200)
    assert b"\x00\x00\x01\x00C:\\STDIO.COM\x00" in block
    machine.shutdown()


def test_memory_control_blocks_allocate_free_resize(tmp_path: Path) -> None:
    program = assemble("stdio", tmp_path)
    machine = machine_for(program)
    arena = machine.arena
    arena.resize(machine.psp, 0x100)
    segment = arena.allocate(0x200, machine.psp)
    assert segment == machine.psp + 0x101
    before = arena.largest_free()
    arena.free(segment)
    assert arena.largest_free() == before + 0x201
    with pytest.raises(Exception):  # noqa: B017 - DosMemoryError with the largest block
        arena.allocate(0xFFFF, machine.psp)
    machine.shutdown()
    assert struct.calcsize("<H") == 2


def test_cycles_set_the_virtual_time_an_instruction_takes(tmp_path: Path) -> None:
    program = tmp_path / "LOOP.COM"
    # mov dx,16 / outer: mov cx,FFFFh / inner: dec cx / jnz inner / dec dx / jnz outer / mov ax,4C00h / int 21h
    program.write_bytes(bytes.fromhex("ba1000b9ffff4975fd4a75f7b8004ccd21"))
    instructions = 16 * (2 * 0xFFFF + 3)
    machine = Machine(MachineConfig(program=program, virtual_clock=True, cycles_per_ms=1000))
    assert machine.run() == 0
    # one instruction per microsecond, give or take the last slice (the machine counts whole slices)
    assert instructions / 1e6 <= machine.clock.seconds() < instructions / 1e6 + 0.031
