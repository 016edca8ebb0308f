"""mtcp-pkttool: frames built independently (tests/unit/frames.py, struct) decoded into the lines expected,
a known capture read line for line, filters, `listen -s 10` on a hub stopping after ten frames, and its
pcap opened by tcpdump."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mtcp_py.apps.pkttool import decode, main
from pktdrv.links import HUBS
from pktdrv.links.pcap import PcapWriter
from tests.netns import KERNEL_IP, private_netns
from tests.netns import STACK_IP as NS_STACK_IP
from tests.real.apputil import wait_until
from tests.unit.frames import BROADCAST, PEER_IP, PEER_MAC, STACK_IP, STACK_MAC, arp, echo_request, eth, ipv4, udp


def tcp_segment(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload


def dns_query(ident: int, name: str) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)


def dhcp_discover(xid: int, client: bytes) -> bytes:
    fixed = struct.pack("!BBBBIHH", 1, 1, 6, 0, xid, 0, 0x8000) + bytes(16) + client + bytes(10) + bytes(192)
    return fixed + b"\x63\x82\x53\x63" + b"\x35\x01\x01" + b"\xff"


FRAMES = [
    eth(BROADCAST, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, bytes(6), STACK_IP)),
    eth(PEER_MAC, STACK_MAC, 0x0806, arp(2, STACK_MAC, STACK_IP, PEER_MAC, PEER_IP)),
    eth(STACK_MAC, PEER_MAC, 0x0800, ipv4(PEER_IP, STACK_IP, 1, echo_request(b"x" * 56, 7, 1))),
    eth(STACK_MAC, PEER_MAC, 0x0800, ipv4(PEER_IP, STACK_IP, 6, tcp_segment(4096, 6667, 1000, 0, 0x02))),
    eth(PEER_MAC, STACK_MAC, 0x0800, ipv4(STACK_IP, PEER_IP, 6, tcp_segment(6667, 4096, 5000, 1001, 0x18, b"hi\r\n"))),
    eth(STACK_MAC, PEER_MAC, 0x0800, ipv4(PEER_IP, STACK_IP, 17, udp(PEER_IP, STACK_IP, 1024, 53,
                                                                      dns_query(0x1A2B, "example.com")))),
    eth(BROADCAST, PEER_MAC, 0x0800, ipv4(0, 0xFFFFFFFF, 17, udp(0, 0xFFFFFFFF, 68, 67,
                                                                   dhcp_discover(0xDEADBEEF, PEER_MAC)))),
    eth(BROADCAST, PEER_MAC, 0x86DD, bytes(40)),
    b"\x01\x02\x03",
]
EXPECTED = [
    "ARP who-has 10.9.0.1 tell 10.9.0.2",
    "ARP reply 10.9.0.1 is-at 02:00:00:00:00:01",
    "10.9.0.2 > 10.9.0.1 ICMP echo request id 7 seq 1 len 56",
    "10.9.0.2.4096 > 10.9.0.1.6667 TCP [S] seq 1000 ack 0 win 64240 len 0",
    "10.9.0.1.6667 > 10.9.0.2.4096 TCP [P.] seq 5000 ack 1001 win 64240 len 4",
    "10.9.0.2.1024 > 10.9.0.1.53 UDP len 29 DNS query 0x1a2b A example.com",
    "0.0.0.0.68 > 255.255.255.255.67 UDP len 244 DHCP DISCOVER xid 0xdeadbeef client 02:00:00:00:00:02",
    "IPv6 len 40",
    "runt frame of 3 bytes",
]


def test_each_frame_decodes_to_its_line() -> None:
    assert [decode(frame).line for frame in FRAMES] == EXPECTED
    assert decode(FRAMES[2], verbose=True).line == (
        "02:00:00:00:00:02 > 02:00:00:00:00:01 IPv4 id 0 ttl 64 len 84 10.9.0.2 > 10.9.0.1 ICMP echo request "
        "id 7 seq 1 len 56")


@pytest.mark.parametrize("cut", [15, 20, 34, 40, 50])
def test_truncated_frames_never_raise(cut: int) -> None:
    for frame in FRAMES:
        assert isinstance(decode(frame[:cut]).line, str)


def write_capture(path: Path) -> None:
    writer = PcapWriter(path)
    for index, frame in enumerate(FRAMES[:-1]):  # a pcap record of a runt is fine, but tcpdump frowns
        writer.write(1_700_000_000 + index * 0.25, frame)
    writer.close()


def test_read_a_known_capture_line_for_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    path = tmp_path / "known.pcap"
    write_capture(path)
    assert main(["read", str(path)]) == 0
    out = capsys.readouterr()
    stamps = [f"22:13:{20 + index // 4:02d}.{index % 4 * 250000:06d}" for index in range(len(FRAMES) - 1)]
    assert out.out.splitlines() == [f"{stamp} {line}" for stamp, line in zip(stamps, EXPECTED, strict=False)]
    assert "8 frames shown of 8 seen" in out.err
    assert main(["read", str(path), "-proto", "tcp", "-port", "6667"]) == 0
    assert [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()] == EXPECTED[3:5]
    assert main(["read", str(path), "-host", "0.0.0.0", "-raw"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("DHCP DISCOVER xid 0xdeadbeef client 02:00:00:00:00:02")
    assert lines[1] == "  0000  ff ff ff ff ff ff 02 00 00 00 00 02 08 00 45 00"
    time.tzset()


def test_listen_stops_after_ten_frames_and_writes_a_pcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"pkttool{time.monotonic_ns()}"
    config = tmp_path / "mtcp.cfg"
    config.write_text(f"LINK hub:{name}\nIPADDR 10.9.0.1\n")
    output = tmp_path / "listen.pcap"
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(main(
        ["listen", "--config", str(config), "-s", "10", "-outputfile", str(output)])))
    thread.start()
    hub = HUBS.get(name)
    wait_until(lambda: any(port.deliver is not None for port in hub.ports), "pkttool to open the hub",
               timeout=10, interval=0.005)
    peer = hub.port(mac=PEER_MAC)
    peer.open(lambda frame: None)
    for index in range(15):
        peer.send(eth(STACK_MAC, PEER_MAC, 0x0800, ipv4(PEER_IP, STACK_IP, 1, echo_request(b"x", 1, index))))
    thread.join(timeout=10)
    assert not thread.is_alive() and status == [0]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and lines[-1].endswith("ICMP echo request id 1 seq 9 len 1")
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        pytest.skip("tcpdump is not installed: the pcap was not checked by it")
    result = subprocess.run([tcpdump, "-n", "-r", str(output)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 10 and "ICMP echo request" in result.stdout


@pytest.mark.real
def test_listen_on_tap_sees_the_kernel_asking_for_us(tmp_path: Path) -> None:
    """As root: on TAP in a private namespace, the kernel pinging 10.0.2.15 (which nobody answers) puts ARP
    requests on the link; `listen -s 3 -proto arp` prints three and stops."""
    with private_netns() as ns:
        config = tmp_path / "mtcp.cfg"
        config.write_text(f"LINK tap:mtap0\nIPADDR {NS_STACK_IP}\n")
        proc = ns.popen(sys.executable, "-m", "mtcp_py.apps.pkttool", "listen", "--config", str(config), "-s", "3",
                        "-proto", "arp", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pinger = ns.popen("ping", "-i", "0.2", "-c", "100", NS_STACK_IP, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            pinger.kill()
            pinger.wait()
        assert proc.returncode == 0, err
        lines = out.decode().splitlines()
        assert len(lines) == 3 and all(line.endswith(f"ARP who-has {NS_STACK_IP} tell {KERNEL_IP}") for line in lines)
        assert b"arp" in err
