"""DOS machine benchmark (not a test): figures printed.

    python bench/bench_dos.py [--dos-bin DIR] [--pings 50]

- guest instructions per second in a tight loop (unicorn in slices, as the machine runs it);
- INT 21h calls per second (served in Python inside the CPU's interrupt hook);
- receiver upcalls per second (frames from a peer on the hub, through the NIC interrupt and the guest's
  far receiver, twice per frame);
- host CPU used while a DOS program idle-waits for 10 s: our own program at the BIOS 18.2 Hz, and with the
  PIT at 1,165 Hz as mTCP's PING sets it;
- with mTCP's binaries (--dos-bin or MTCP_DOS_BIN) and root: DOS PING's RTT to the kernel over TAP in a
  private namespace (median, p99, as PING reports them), host CPU of NC.EXE -listen idle for 10 s, and NC
  upload (NC -bin < FILE to a kernel listener) and download (a kernel client sends to NC -listen) in MB/s;
- the screen: the cost of one refresh (compare the 4,000-byte buffer, render what changed as ANSI);
- with IRCJR.EXE, root and ngircd: host CPU of IRCjr connected and idle, its screen drawn on a pty.
Needs nasm for the small guest programs.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pktdrv.dos.machine import Machine, MachineConfig  # noqa: E402
from pktdrv.dos.screen import ScreenRenderer  # noqa: E402
from pktdrv.driver import PacketDriver  # noqa: E402
from pktdrv.links import HUBS, open_link  # noqa: E402

LOOP_ASM = """
org 100h
        mov dx, 1500
outer:  mov cx, 0FFFFh
inner:  dec cx
        jnz inner
        dec dx
        jnz outer
        mov ax, 4C00h
        int 21h
"""
LOOP_INSTRUCTIONS = 1500 * (2 * 0xFFFF + 3) + 2

INT21_ASM = """
org 100h
        mov dx, 20
outer:  mov cx, 10000
inner:  mov ah, 19h
        int 21h
        loop inner
        dec dx
        jnz outer
        mov ax, 4C00h
        int 21h
"""
INT21_CALLS = 200_000

RECEIVER_ASM = """
org 100h
        mov ax, 0201h           ; access_type: class 1, any type, all frames
        mov bx, 0FFFFh
        xor dl, dl
        xor cx, cx
        xor si, si
        push cs
        pop es
        mov di, receiver
        int 60h
        mov [handle], ax
        sti
idle:   int 28h
        cmp word [count], FRAMES
        jb idle
        mov ah, 3
        mov bx, [handle]
        int 60h
        mov ax, 4C00h
        int 21h
receiver:
        or ax, ax
        jnz .second
        push cs
        pop es
        mov di, buffer
        retf
.second: inc word [cs:count]
        retf
handle  dw 0
count   dw 0
buffer  times 1514 db 0
"""
RECEIVED_FRAMES = 20_000

IDLE_ASM = """
org 100h
        cmp byte [82h], 'f'     ; 'f': the PIT at divisor 1024, as PING sets it: 64 times the ticks
        jne .start
        mov word [limit], 182 * 64
        mov al, 36h
        out 43h, al
        xor al, al
        out 40h, al
        mov al, 4
        out 40h, al
.start: mov ah, 0
        int 1Ah
        mov [start], dx
        sti
.wait:  int 28h                 ; idle: the host should sleep
        mov ah, 1
        int 16h
        mov ah, 0
        int 1Ah
        sub dx, [start]
        cmp dx, [limit]         ; 10 s
        jb .wait
        mov al, 36h
        out 43h, al
        xor al, al
        out 40h, al
        out 40h, al
        mov ax, 4C00h
        int 21h
start   dw 0
limit   dw 182
"""


def assemble(source: str, folder: Path, name: str) -> Path:
    asm = folder / f"{name}.asm"
    asm.write_text(source)
    target = folder / f"{name.upper()}.COM"
    subprocess.run(["nasm", "-f", "bin", "-o", str(target), str(asm)], check=True)
    return target


def bench_loop(folder: Path) -> float:
    machine = Machine(MachineConfig(program=assemble(LOOP_ASM, folder, "loop")))
    start = time.perf_counter()
    machine.run()
    return LOOP_INSTRUCTIONS / (time.perf_counter() - start)


def bench_int21(folder: Path) -> float:
    machine = Machine(MachineConfig(program=assemble(INT21_ASM, folder, "int21")))
    start = time.perf_counter()
    machine.run()
    return INT21_CALLS / (time.perf_counter() - start)


def bench_receiver(folder: Path) -> float:
    source = RECEIVER_ASM.replace("FRAMES", str(RECEIVED_FRAMES))
    machine = Machine(MachineConfig(program=assemble(source, folder, "recv")))
    machine.attach_driver(PacketDriver(open_link("hub:bench", clock=machine.clock)))
    peer = HUBS.get("bench").port()
    peer.open(lambda _frame: None)
    assert machine.driver is not None and machine.nic is not None
    frame = machine.driver.link.mac + peer.mac + b"\x08\x00" + bytes(46)
    nic = machine.nic
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            if len(nic._queue) < 64 and machine.driver is not None and machine.driver.handles:
                peer.send(frame)
            else:
                time.sleep(0.0002)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    start = time.perf_counter()
    machine.run()
    elapsed = time.perf_counter() - start
    stop.set()
    feeder.join()
    return nic.delivered / elapsed


def child_cpu_seconds(command: list[str], **kwargs: object) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, result


def dosrun_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pktdrv.dos.cli", *args]


def bench_idle(folder: Path, fast_pit: bool) -> tuple[float, float]:
    program = assemble(IDLE_ASM, folder, "idle")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Start-up (Python, unicorn, loading) is measured apart and taken off: only the idle wait counts.
    startup_cpu, startup_wall, _ = child_cpu_seconds(dosrun_command("--link", "hub:idle", str(folder / "no.com")),
                                                     env=env)
    cpu, wall, result = child_cpu_seconds(
        dosrun_command("--link", "hub:idle", str(program), *(["f"] if fast_pit else [])), env=env)
    assert result.returncode == 0, result.stderr
    return 100 * max(0.0, cpu - startup_cpu) / max(wall - startup_wall, 1e-6), wall


def bench_mtcp(dos_bin: Path, pings: int) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("DOS PING RTT over TAP: skipped (needs root and iproute2)")
        return
    from tests.netns import KERNEL_IP, STACK_IP, private_netns

    with tempfile.TemporaryDirectory() as temp, private_netns() as ns:
        drive = Path(temp)
        for name in ("PING.EXE", "NC.EXE"):
            shutil.copy(dos_bin / name, drive / name)
        (drive / "MTCP.CFG").write_text(f"LINK tap:mtap0\nPACKETINT 0x60\nIPADDR {STACK_IP}\n"
                                        f"NETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n")
        env_args = ["env", f"PYTHONPATH={REPO}"]
        command = ns.cmd(*env_args, *dosrun_command("--config", str(drive / "MTCP.CFG"), str(drive / "PING.EXE"),
                                                    "-count", str(pings), "-timeout", "1", KERNEL_IP))
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        times = [float(t) for t in re.findall(r"received in ([\d.]+) ms", result.stdout)]
        if times:
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"DOS PING RTT to the kernel over TAP ({len(times)}/{pings} replies, PING's 0.86 ms ticks): "
                  f"median {statistics.median(times):.2f} ms, p99 {p99:.2f} ms")
        else:
            print("DOS PING: no replies\n" + result.stdout + result.stderr)
        nc = subprocess.Popen(ns.cmd(*env_args, *dosrun_command("--config", str(drive / "MTCP.CFG"),
                                                                str(drive / "NC.EXE"), "-listen", "2000")),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(2)  # past start-up: only the idle wait is measured
        pids = subprocess.run(["pgrep", "-f", "-P", str(nc.pid)], capture_output=True, text=True).stdout.split()
        pid = int(pids[-1]) if pids else nc.pid

        def cpu_of(process_id: int) -> float:
            fields = Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        before, start = cpu_of(pid), time.monotonic()
        time.sleep(10)
        used = cpu_of(pid) - before
        print(f"host CPU of NC.EXE -listen idle-waiting 10 s: {100 * used / (time.monotonic() - start):.2f}% of a core")
        nc.send_signal(signal.SIGINT)
        for _ in range(3):
            try:
                nc.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGINT)
        if nc.poll() is None:
            nc.kill()


def bench_nc_transfers(dos_bin: Path, mib: int) -> None:
    """NC upload and download of `mib` MiB with the kernel over TAP, in MB/s (10^6 bytes a second)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("DOS NC over TAP: skipped (needs root and iproute2)")
        return
    from tests.netns import KERNEL_IP, STACK_IP, private_netns

    payload = os.urandom(mib << 20)
    with tempfile.TemporaryDirectory() as temp, private_netns() as ns:
        drive = Path(temp)
        shutil.copy(dos_bin / "NC.EXE", drive / "NC.EXE")
        (drive / "MTCP.CFG").write_text(f"LINK tap:mtap0\nPACKETINT 0x60\nIPADDR {STACK_IP}\n"
                                        f"NETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\nMTU 1500\n")
        (drive / "UP.BIN").write_bytes(payload)
        base = ns.cmd("env", f"PYTHONPATH={REPO}", *dosrun_command("--config", str(drive / "MTCP.CFG"),
                                                                    "-C", str(drive), str(drive / "NC.EXE")))
        listener = ns.call(lambda: socket.create_server((KERNEL_IP, 9000)))
        received: list[float | int] = []

        def sink() -> None:
            connection, _ = listener.accept()
            total, first = 0, 0.0
            while chunk := connection.recv(1 << 16):
                first = first or time.monotonic()
                total += len(chunk)
            received.extend([total, time.monotonic() - first])
            connection.close()

        thread = threading.Thread(target=sink, daemon=True)
        thread.start()
        with (drive / "UP.BIN").open("rb") as source:
            subprocess.run([*base, "-target", KERNEL_IP, "9000", "-bin", "-w", "1"], stdin=source,
                           capture_output=True, timeout=600)
        thread.join(60)
        listener.close()
        if received and received[0] == len(payload):
            print(f"DOS NC upload to the kernel over TAP, {mib} MiB: {len(payload) / received[1] / 1e6:.2f} MB/s")
        else:
            print(f"DOS NC upload: incomplete ({received[0] if received else 0} of {len(payload)} bytes)")

        out = drive / "DOWN.BIN"
        with out.open("wb") as sink_file, (drive / "nc.err").open("wb") as err_file:
            # NC's standard input is at EOF from the start: -w gives the transfer time to finish.
            nc = subprocess.Popen([*base, "-listen", "9001", "-bin", "-w", "60"], stdin=subprocess.DEVNULL,
                                  stdout=sink_file, stderr=err_file)
            sent: list[float] = []

            def source_side() -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        connection = socket.create_connection((STACK_IP, 9001), timeout=2)
                        break
                    except OSError:
                        time.sleep(0.2)  # NC is still starting: its listener is not up yet
                else:
                    return
                connection.settimeout(60)
                start = time.monotonic()
                try:
                    connection.sendall(payload)
                except OSError:
                    return
                connection.shutdown(socket.SHUT_WR)
                connection.settimeout(120)
                try:
                    connection.recv(1)
                except OSError:
                    pass
                sent.append(time.monotonic() - start)
                connection.close()

            ns.call(lambda: source_side())
            try:
                nc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                nc.kill()
                nc.wait()
        if sent and out.stat().st_size == len(payload) and out.read_bytes() == payload:
            print(f"DOS NC download from the kernel over TAP, {mib} MiB: {len(payload) / sent[0] / 1e6:.2f} MB/s")
        else:
            print((drive / "nc.err").read_text(errors="replace")[-1500:])
            print(f"DOS NC download: incomplete ({out.stat().st_size} of {len(payload)} bytes)")


def bench_screen_refresh(folder: Path) -> None:
    """Cost of one screen refresh: the 4,000-byte compare when nothing changed, one line changed, and the
    whole screen changed (each rendered as ANSI)."""
    machine = Machine(MachineConfig(program=assemble(LOOP_ASM, folder, "screen")))
    video = machine.bios.video
    video.full_screen = True
    renderer = ScreenRenderer()
    renderer.render(video.snapshot())
    rounds = 300
    start = time.perf_counter()
    last = video.snapshot()
    for _ in range(rounds):
        assert video.snapshot() == last
    unchanged = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for n in range(rounds):
        video.teletype(f"line {n:05d} of a screen being scrolled by teletype output\r\n".encode())
        renderer.render(video.snapshot())
    scrolled = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for n in range(rounds):
        machine.memory.write(0xB800, (n % 25) * 160, bytes([0x41 + n % 26, 0x1F]) * 80)
        renderer.render(video.snapshot())
    one_line = (time.perf_counter() - start) / rounds
    machine.shutdown()
    print(f"screen refresh: {unchanged * 1e6:.0f} us unchanged, {one_line * 1e6:.0f} us one line changed, "
          f"{scrolled * 1e6:.0f} us whole screen scrolled (teletype + render)")


def bench_ircjr_idle(dos_bin: Path) -> None:
    """IRCjr connected to ngircd over TAP, idle, with its screen drawn on a pseudo-terminal: host CPU."""
    if os.geteuid() != 0 or shutil.which("ngircd") is None or not (dos_bin / "IRCJR.EXE").is_file():
        print("IRCjr idle CPU: skipped (needs root, ngircd and IRCJR.EXE)")
        return
    from tests.netns import KERNEL_IP, STACK_IP, private_netns

    with tempfile.TemporaryDirectory() as temp, private_netns() as ns:
        drive = Path(temp)
        shutil.copy(dos_bin / "IRCJR.EXE", drive / "IRCJR.EXE")
        (drive / "MTCP.CFG").write_text(f"LINK tap:mtap0\nPACKETINT 0x60\nIPADDR {STACK_IP}\n"
                                        f"NETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\nIRCJR_NICK bench\n"
                                        "IRCJR_USER bench\nIRCJR_NAME bench\n")
        (drive / "ngircd.conf").write_text(f"[Global]\nName = irc.bench\nInfo = bench\nListen = {KERNEL_IP}\n"
                                           f"Ports = 6667\nPidFile = {drive}/ngircd.pid\nMotdPhrase = bench\n[Limits]\n"
                                           "MaxConnectionsIP = 0\n[Options]\nPAM = no\nIdent = no\nDNS = no\n")
        server = ns.popen("ngircd", "-n", "-f", str(drive / "ngircd.conf"), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        master, slave = pty.openpty()
        command = ns.cmd("env", f"PYTHONPATH={REPO}", *dosrun_command("--config", str(drive / "MTCP.CFG"), "-C",
                                                                      str(drive), str(drive / "IRCJR.EXE"),
                                                                      KERNEL_IP, "#bench"))
        irc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=subprocess.DEVNULL)
        os.close(slave)
        seen = bytearray()
        joined = threading.Event()

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                seen.extend(chunk)
                if b"Names in #bench" in seen:
                    joined.set()

        threading.Thread(target=drain, daemon=True).start()
        if not joined.wait(60):
            print("IRCjr idle CPU: IRCjr did not join its channel")
        else:
            before, start = process_cpu(irc.pid), time.monotonic()
            time.sleep(10)
            used = process_cpu(irc.pid) - before
            share = 100 * used / (time.monotonic() - start)
            print(f"IRCjr connected and idle 10 s, screen drawn on a pty: {share:.2f}% of a core")
        os.write(master, b"\x1bx")  # Alt-X: IRCjr's exit
        try:
            irc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            irc.kill()
            irc.wait()
        os.close(master)
        server.kill()
        server.wait()


def process_cpu(process_id: int) -> float:
    fields = Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dos-bin", type=Path, default=os.environ.get("MTCP_DOS_BIN"))
    parser.add_argument("--pings", type=int, default=50)
    parser.add_argument("--nc-mib", type=int, default=16, help="size of the NC transfers (MiB)")
    parser.add_argument("--only-nc", action="store_true", help="only the NC transfers")
    parser.add_argument("--only-ircjr", action="store_true", help="only IRCjr's idle CPU")
    options = parser.parse_args()
    if options.only_ircjr:
        if options.dos_bin:
            bench_ircjr_idle(Path(options.dos_bin))
        return
    if options.only_nc:
        if options.dos_bin:
            bench_nc_transfers(Path(options.dos_bin), options.nc_mib)
        return
    if shutil.which("nasm") is None:
        sys.exit("bench_dos: needs nasm")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        print(f"guest instructions per second (tight DEC/JNZ loop): {bench_loop(folder) / 1e6:.1f} million")
        print(f"INT 21h calls per second (AH=19h): {bench_int21(folder):,.0f}")
        frames = bench_receiver(folder)
        print(f"receiver upcalls per second: {2 * frames:,.0f} ({frames:,.0f} frames/s, two upcalls each)")
        slow, wall = bench_idle(folder, fast_pit=False)
        print(f"host CPU while idle-waiting 10 s (INT 28h + INT 16h + INT 1Ah loop, PIT 18.2 Hz): {slow:.2f}% "
              f"of a core ({wall:.1f} s)")
        fast, wall = bench_idle(folder, fast_pit=True)
        print(f"host CPU while idle-waiting 10 s, PIT at 1,165 Hz: {fast:.2f}% of a core ({wall:.1f} s)")
        bench_screen_refresh(folder)
    if options.dos_bin:
        bench_mtcp(Path(options.dos_bin), options.pings)
        bench_nc_transfers(Path(options.dos_bin), options.nc_mib)
        bench_ircjr_idle(Path(options.dos_bin))
    else:
        print("mTCP binaries: not given (--dos-bin or MTCP_DOS_BIN); DOS PING RTT skipped")


if __name__ == "__main__":
    main()
