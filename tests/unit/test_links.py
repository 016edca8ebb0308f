"""Link strings, the hub, the fault injector and the pcap writer."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import traceback
from pathlib import Path

import pytest

from pktdrv import LinkError, VirtualClock, open_link
from pktdrv.links import HUBS, FaultLink, Faults, Hub, LinkSpecError, PcapLink, parse_link, parse_link_spec, read_pcap
from pktdrv.links.base import Link

_names = itertools.count()


def hub_name() -> str:
    return f"links{next(_names)}"


def frame(n: int, size: int = 60) -> bytes:
    return b"\xff" * 6 + b"\x02" + bytes(5) + b"\x08\x00" + n.to_bytes(4, "big") + bytes(size - 18)


# -- link strings ---------------------------------------------------------------------------------------------


def test_parse_link_spec() -> None:
    assert parse_link_spec("hub:lan?drop=0.5&seed=3") == ("hub", "lan", {"drop": "0.5", "seed": "3"})
    assert parse_link_spec("tap:mtap0") == ("tap", "mtap0", {})


@pytest.mark.parametrize(("spec", "words"), [
    ("lan", "KIND:NAME"),
    ("hub:", "KIND:NAME"),
    ("slop:x", "unknown link kind 'slop'"),
    ("hub:x?bogus=1", "unknown link parameter 'bogus' (known: baud, corrupt, delay, drop, dup, mac, mtu, pcap, queue, "
                      "rate, reorder, seed)"),
    ("hub:x?drop=2", "drop=2: out of range (a probability from 0 to 1)"),
    ("hub:x?drop=abc", "drop=abc: not a number (a probability from 0 to 1)"),
    ("hub:x?drop=nan", "drop=nan: out of range (a probability from 0 to 1)"),
    ("hub:x?drop", "drop=: not a number"),
    ("hub:x?dup=x", "dup=x: not a number (a probability from 0 to 1)"),
    ("hub:x?reorder=-0.1", "reorder=-0.1: out of range (a probability from 0 to 1)"),
    ("hub:x?corrupt=1e", "corrupt=1e: not a number (a probability from 0 to 1)"),
    ("hub:x?delay=-1", "delay=-1: out of range (ticks of 55 ms every frame is held, 0 or more)"),
    ("hub:x?delay=1.5", "delay=1.5: not a whole number (ticks of 55 ms every frame is held, 0 or more)"),
    ("hub:x?rate=fast", "rate=fast: not a whole number (bytes per second, 0 or more; 0 is unlimited)"),
    ("hub:x?queue=-2", "queue=-2: out of range (frames waiting at the rate limit, 0 or more)"),
    ("hub:x?seed=abc", "seed=abc: not a whole number (the fault generator's seed, a whole number)"),
    ("hub:x?pcap=", "pcap=: needs a file name (pcap=FILE)"),
    ("hub:x?mac=zz", "mac=zz: not a MAC address"),
    ("hub:x?mtu=big", "mtu=big: not a whole number (an MTU from 68 to 65535)"),
    ("tap:" + "x" * 16, "a device name is 1 to 15 characters"),
])
def test_bad_link_strings_name_themselves(spec: str, words: str) -> None:
    """Every parameter's error is in words (no Python message), a LinkSpecError (a usage error, exit 2 in the
    programs), raised before anything is opened."""
    with pytest.raises(LinkSpecError) as info:
        open_link(spec, VirtualClock())
    assert str(info.value) == f"link {spec}: {info.value.reason}"
    assert words in info.value.reason
    assert "invalid literal" not in str(info.value) and "could not convert" not in str(info.value)
    with pytest.raises(LinkSpecError):
        parse_link(spec)


def test_hub_link_opens_without_root_with_wrappers(tmp_path: Path) -> None:
    name = hub_name()
    link = open_link(f"hub:{name}?mac=02:00:00:00:00:05&drop=0.1&pcap={tmp_path / 'a.pcap'}", VirtualClock())
    assert isinstance(link, PcapLink)
    assert isinstance(link.inner, FaultLink)
    assert link.mac == bytes.fromhex("020000000005")
    assert link.spec == f"hub:{name}"
    link.close()


def test_pcap_to_unwritable_path_closes_the_link() -> None:
    name = hub_name()
    with pytest.raises(LinkError) as info:
        open_link(f"hub:{name}?pcap=/nonexistent/dir/x.pcap", VirtualClock())
    assert "cannot write" in str(info.value)
    assert HUBS.get(name).ports == []


def _open_as_nobody(specs: list[str]) -> list[str]:
    """Try each spec in a forked child that has dropped root; the messages come back through a pipe."""
    import pktdrv.links.raw  # noqa: F401 - imported while we may still read everything
    import pktdrv.links.tap  # noqa: F401

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        out = []
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            for spec in specs:
                try:
                    open_link(spec).close()
                    out.append("opened")
                except LinkError as exc:
                    out.append(str(exc))
        except BaseException:
            out.append(traceback.format_exc())
        os.write(w, "\n".join(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode().split("\n")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_tap_and_raw_without_privilege_name_themselves() -> None:
    if os.geteuid() == 0:
        messages = _open_as_nobody(["tap:mtapnr0", "raw:lo"])
    else:
        messages = []
        for spec in ("tap:mtapnr0", "raw:lo"):
            with pytest.raises(LinkError) as info:
                open_link(spec)
            messages.append(str(info.value))
    assert len(messages) == 2, messages
    for spec, message in zip(("tap:mtapnr0", "raw:lo"), messages, strict=True):
        assert message.startswith(spec + ": "), message
        assert "not permitted" in message or "no such device" in message, message


def test_tap_name_too_long() -> None:
    with pytest.raises(LinkError) as info:
        open_link("tap:" + "x" * 16)
    assert "1 to 15 characters" in str(info.value)


# -- the hub --------------------------------------------------------------------------------------------------


def test_hub_delivers_to_all_others_not_back() -> None:
    hub = Hub("h")
    ports = [hub.port() for _ in range(3)]
    got: list[list[bytes]] = [[], [], []]
    for port, sink in zip(ports, got, strict=True):
        port.open(sink.append)
    assert len({p.mac for p in ports}) == 3
    ports[0].send(frame(1))
    assert got == [[], [], []]  # queued for each other port, as a device's receive queue holds it
    for port in ports:
        port.drain(10)
    assert got == [[], [frame(1)], [frame(1)]]
    ports[1].close()
    ports[2].send(frame(2))
    for port in ports:
        port.drain(10)
    assert got == [[frame(2)], [frame(1)], [frame(1)]]
    assert ports[1] not in hub.ports
    with pytest.raises(LinkError):
        ports[1].send(frame(3))
    with pytest.raises(LinkError):
        ports[0].send(bytes(1515))
    assert hub.frames == 2


# -- the fault injector ---------------------------------------------------------------------------------------


def run_faults(faults: Faults, n: int = 200) -> tuple[list[bytes], FaultLink]:
    hub = Hub("f")
    clock = VirtualClock()
    link = FaultLink(hub.port(), faults)
    link.open(lambda f: None)
    sink = hub.port()
    got: list[bytes] = []
    sink.open(got.append)
    for i in range(n):
        link.send(frame(i))
        clock.advance(1)
        link.poll(clock.now())
    clock.advance(1000)
    link.poll(clock.now())
    sink.drain(10 * n)
    return got, link


def test_fault_seed_determinism() -> None:
    faults = Faults(drop=0.1, dup=0.1, reorder=0.1, corrupt=0.1, seed=7)
    a, la = run_faults(faults)
    b, lb = run_faults(faults)
    assert a == b
    assert la.tx.counters == lb.tx.counters
    c, _ = run_faults(Faults(drop=0.1, dup=0.1, reorder=0.1, corrupt=0.1, seed=8))
    assert c != a


def test_fault_counters() -> None:
    got, link = run_faults(Faults(drop=0.2, dup=0.1, reorder=0.1, corrupt=0.1, seed=1), n=500)
    c = link.tx.counters
    assert c.dropped > 50 and c.duplicated > 20 and c.reordered > 20 and c.corrupted > 20
    assert c.passed == len(got) == 500 - c.dropped + c.duplicated
    originals = {frame(i) for i in range(500)}
    assert 1 <= sum(1 for f in got if f not in originals) <= 2 * c.corrupted
    numbers = [int.from_bytes(f[14:18], "big") for f in got if f in originals]
    assert numbers != sorted(numbers)  # something came out of order


def test_fault_delay_releases_at_the_right_tick() -> None:
    hub = Hub("d")
    link = FaultLink(hub.port(), Faults(delay=3))
    link.open(lambda f: None)
    sink = hub.port()
    got: list[bytes] = []
    sink.open(got.append)
    link.send(frame(1))
    assert link.next_deadline() == 3
    for tick in (0, 1, 2):
        link.poll(tick)
        sink.drain(10)
        assert got == []
    link.poll(3)
    sink.drain(10)
    assert got == [frame(1)]
    assert link.tx.counters.delayed == 1
    assert link.next_deadline() is None


def test_fault_rate_limit() -> None:
    hub = Hub("r")
    clock = VirtualClock()
    # 1000 bytes a second: about 55 bytes a tick, so 60-byte frames go out about one per tick.
    link = FaultLink(hub.port(), Faults(rate=1000, queue=5))
    link.open(lambda f: None)
    sink = hub.port()
    got: list[bytes] = []
    sink.open(got.append)
    for i in range(8):
        link.send(frame(i))
    assert link.tx.counters.rate_dropped == 3
    sent_at: list[int] = []
    while clock.now() < 100 and len(got) < 5:
        clock.advance(1)
        before = len(got)
        link.poll(clock.now())
        sink.drain(10)
        sent_at.extend([clock.now()] * (len(got) - before))
    assert [int.from_bytes(f[14:18], "big") for f in got] == [0, 1, 2, 3, 4]
    assert sent_at[-1] - sent_at[0] >= 3  # spread out, not all at once


def test_faults_reject_bad_values() -> None:
    for kwargs in ({"drop": 1.5}, {"dup": -0.1}, {"rate": -1}):
        with pytest.raises(ValueError):
            Faults(**kwargs)  # type: ignore[arg-type]
    assert not Faults().active


# -- the pcap writer -------------------------------------------------------------------------------------------


def capture(path: Path) -> None:
    clock = VirtualClock()
    name = hub_name()
    link: Link = open_link(f"hub:{name}?pcap={path}", clock)
    peer = HUBS.get(name).port()
    peer.open(lambda f: None)
    link.open(lambda f: None)
    link.send(frame(1))
    link.poll(clock.advance(20))  # the wrapper stamps with the tick it is handed, never reading a clock
    peer.send(frame(2, 100))
    link.drain(10)
    link.close()
    peer.close()


def test_pcap_header_and_records(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    capture(path)
    data = path.read_bytes()
    assert data[:24] == bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000")
    records = list(read_pcap(path))
    assert [f for _, f in records] == [frame(1), frame(2, 100)]
    assert records[0][0] == 0.0
    assert records[1][0] == pytest.approx(20 * 65_536 / 1_193_182, abs=1e-6)


def test_pcap_virtual_clock_capture_is_byte_identical(tmp_path: Path) -> None:
    capture(tmp_path / "a.pcap")
    capture(tmp_path / "b.pcap")
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_tcpdump_reads_the_capture(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    capture(path)
    out = subprocess.run(["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == 2


def test_reorder_with_delay_holds_one_tick_then_the_delay() -> None:
    """Regression: a reordered frame let out by poll() was delayed a second time (about twice the delay)."""
    clock = VirtualClock()
    hub = Hub("reorder-delay")
    sender_port, receiver_port = hub.port(), hub.port()
    got: list[tuple[int, bytes]] = []
    receiver_port.open(lambda frame: got.append((clock.now(), frame)))
    link = FaultLink(sender_port, Faults(reorder=1.0, delay=3, seed=1))
    link.open(lambda frame: None)
    link.send(b"\x01" * 60)  # held for a successor that never comes
    for _ in range(10):
        clock.advance(1)
        link.poll(clock.now())
        receiver_port.drain(10)
    assert [tick for tick, _ in got] == [4]  # one tick waiting for a successor, then the delay of 3
    assert link.tx.counters.delayed == 1


def test_hub_mtu_out_of_range_is_refused() -> None:
    for bad in ("0", "-5", "70000"):
        with pytest.raises(LinkError, match=rf"hub:x\?mtu={bad}: mtu={bad}"):
            open_link(f"hub:x?mtu={bad}")
