"""The resolver and the programs against dnsmasq, the real peer, in a private namespace over TAP.

dnsmasq runs on the kernel's side (10.0.2.1) answering for `.lan` only (`--local=/lan/`: an unknown name
there is NXDOMAIN), with `--host-record`s, `--cname`s to them, and one name with 40 addresses, whose answer
does not fit in 512 bytes (dnsmasq sets TC; the resolver asks again over TCP). A second kernel address,
10.0.2.2, holds a UDP socket on port 53 that never answers: the nameserver that is dead.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mtcp_py.blocking import resolve
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.clock import TICK_SECONDS
from tests.netns import KERNEL_IP, STACK_IP, NetNs, need_root, private_netns
from tests.real.apputil import app, kernel_peer, read_to_eof

DNSMASQ = "/usr/sbin/dnsmasq"
SILENT_IP = "10.0.2.2"
BIG_ADDRESSES = [f"10.0.3.{i}" for i in range(1, 41)]
TTL = 300


def need_dnsmasq() -> None:
    if shutil.which(DNSMASQ) is None and not Path(DNSMASQ).is_file():
        pytest.skip(f"needs dnsmasq ({DNSMASQ})")


def probe_query(name: str) -> bytes:
    """A query written out from RFC 1035 4.1.1 (not by the module under test): id 1, RD, one A question."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\1\0\1"


def wait_for_dnsmasq(ns: NetNs, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Until dnsmasq answers a query (each try waits for its reply, up to half a second)."""
    def answered() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.sendto(probe_query("peer.lan"), (KERNEL_IP, 53))
            try:
                return len(sock.recv(512)) > 12
            except OSError:
                return False

    deadline = time.monotonic() + timeout
    while not ns.call(answered):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"dnsmasq did not start (exit status {proc.poll()})")


@contextmanager
def running_dnsmasq(ns: NetNs) -> Iterator[subprocess.Popen[bytes]]:
    """dnsmasq on 10.0.2.1 with the test's names; ended at the end of the block."""
    need_dnsmasq()
    records = [f"--host-record=big.lan,{address}" for address in BIG_ADDRESSES]
    proc = ns.popen(DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                    "--bind-interfaces", f"--listen-address={KERNEL_IP}", "--local=/lan/", f"--local-ttl={TTL}",
                    "--pid-file=",
                    f"--host-record=peer.lan,{KERNEL_IP}", "--cname=alias.lan,peer.lan", "--cname=www.lan,alias.lan",
                    *records, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # a pipe nobody reads would fill
    try:
        wait_for_dnsmasq(ns, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def dns_ns() -> Iterator[NetNs]:
    need_root()
    need_dnsmasq()
    with private_netns() as ns, running_dnsmasq(ns):
        yield ns


def config_file(tmp_path: Path, *nameservers: str) -> Path:
    path = tmp_path / "mtcp.cfg"
    lines = [f"LINK tap:mtap0\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\nHOSTNAME retro\n"]
    lines += [f"NAMESERVER {ns}\n" for ns in nameservers]
    path.write_text("".join(lines))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return config_file(tmp_path, KERNEL_IP)


def run(ns: NetNs, config: Path, module: str, *args: str, stdin: bytes = b"",
        timeout: float = 60) -> tuple[int, str, str]:
    proc = app(ns, config, module, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(stdin, timeout=timeout)
    assert b"Traceback" not in err, err.decode()
    return proc.returncode, out.decode(), err.decode()


def dnstest(ns: NetNs, config: Path, *args: str) -> tuple[int, str, str]:
    return run(ns, config, "dnstest", *args)


# -- mtcp-dnstest ------------------------------------------------------------------------------------------


def test_dnstest_resolves_a_host_record(dns_ns: NetNs, config: Path) -> None:
    code, out, err = dnstest(dns_ns, config, "-name", "peer.lan")
    assert code == 0, err
    assert "Timeout set to 10 seconds, DNS Recursion = on" in out
    assert f"Machine name peer.lan resolved to {KERNEL_IP}" in out
    assert "Elapsed time in seconds: " in out


def test_dnstest_follows_a_cname_chain(dns_ns: NetNs, config: Path) -> None:
    code, out, err = dnstest(dns_ns, config, "-name", "www.lan")
    assert code == 0, err
    assert "Machine name www.lan is an alias of alias.lan -> peer.lan" in out
    assert f"Machine name www.lan resolved to {KERNEL_IP}" in out


def test_dnstest_norecurse_verbose_shows_the_exchange(dns_ns: NetNs, config: Path) -> None:
    code, out, err = dnstest(dns_ns, config, "-name", "alias.lan.", "-norecurse", "-verbose")
    assert code == 0, err
    assert "DNS Recursion = off" in out
    assert f"sent to {KERNEL_IP} (udp" in out and f"received from {KERNEL_IP} (udp" in out
    assert "QUERY flags: -;" in out  # RD clear
    assert f"answer: alias.lan. {TTL} CNAME peer.lan." in out
    assert f"answer: peer.lan. {TTL} A {KERNEL_IP}" in out
    assert f"Machine name alias.lan. resolved to {KERNEL_IP}" in out


def test_dnstest_reports_nxdomain(dns_ns: NetNs, config: Path) -> None:
    code, out, err = dnstest(dns_ns, config, "-name", "nosuch.lan")
    assert code == 1
    assert err.splitlines()[-1] == "mtcp-dnstest: nosuch.lan: no such host (NXDOMAIN)"
    assert "resolved to" not in out


def test_dnstest_truncated_answer_is_retried_over_tcp(dns_ns: NetNs, config: Path) -> None:
    code, out, err = dnstest(dns_ns, config, "-name", "big.lan", "-verbose")
    assert code == 0, err
    assert "flags: qr aa tc rd ra" in out  # dnsmasq's UDP answer, cut at 512 bytes
    assert f"sent to {KERNEL_IP} (tcp" in out and f"received from {KERNEL_IP} (tcp" in out
    first = out.split("Machine name big.lan resolved to ")[1].split()[0]
    others = out.split("Other addresses: ")[1].splitlines()[0].split(", ")
    assert sorted([first, *others]) == sorted(BIG_ADDRESSES)


def test_dnstest_own_hostname_and_dotted_address_send_nothing(dns_ns: NetNs, config: Path) -> None:
    for name, address in (("retro", STACK_IP), ("192.0.2.9", "192.0.2.9")):
        code, out, err = dnstest(dns_ns, config, "-name", name, "-verbose")
        assert code == 0, err
        assert f"Machine name {name} resolved to {address}" in out
        assert "sent to" not in out


def silent_nameserver(ns: NetNs) -> socket.socket:
    """A UDP socket on 10.0.2.2:53 that nobody reads: queries arrive, nothing answers."""
    ns.run("ip", "addr", "add", f"{SILENT_IP}/24", "dev", "mtap0")

    def bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((SILENT_IP, 53))
        return sock

    return ns.call(bind)


def test_a_nameserver_that_never_answers_times_out(dns_ns: NetNs, tmp_path: Path) -> None:
    with silent_nameserver(dns_ns) as silent:
        code, out, err = dnstest(dns_ns, config_file(tmp_path, SILENT_IP), "-name", "peer.lan", "-timeout", "2")
        silent.setblocking(False)
        assert silent.recv(512)  # it was asked
    assert code == 1
    assert err.splitlines()[-1] == "mtcp-dnstest: peer.lan: timed out"


def test_second_nameserver_is_used_when_the_first_is_dead(dns_ns: NetNs, tmp_path: Path) -> None:
    with silent_nameserver(dns_ns):
        code, out, err = dnstest(dns_ns, config_file(tmp_path, SILENT_IP, KERNEL_IP), "-name", "peer.lan",
                                 "-verbose")
    assert code == 0, err
    assert out.index(f"sent to {SILENT_IP} (udp") < out.index(f"received from {KERNEL_IP} (udp")
    assert f"Machine name peer.lan resolved to {KERNEL_IP}" in out


def test_refused_for_a_name_dnsmasq_will_not_look_up(dns_ns: NetNs, config: Path) -> None:
    """Outside `.lan` dnsmasq has no upstream server to ask: it refuses (its answer, not ours to pick)."""
    code, out, err = dnstest(dns_ns, config, "-name", "example.com")
    assert code == 1
    assert err.splitlines()[-1] == "mtcp-dnstest: example.com: refused (REFUSED)"


# -- names where addresses go --------------------------------------------------------------------------------


def test_ping_by_name(dns_ns: NetNs, config: Path) -> None:
    code, out, err = run(dns_ns, config, "ping", "-count", "2", "-interval", "0", "alias.lan")
    assert code == 0, err
    assert f"mtcp-ping: alias.lan is {KERNEL_IP}" in err
    assert "Packets sent: 2, Replies received: 2, Replies lost: 0" in out


def test_ping_an_unknown_name_is_one_line(dns_ns: NetNs, config: Path) -> None:
    code, out, err = run(dns_ns, config, "ping", "-count", "1", "nosuch.lan")
    assert code == 1
    assert err.splitlines()[-1] == "mtcp-ping: nosuch.lan: no such host (NXDOMAIN)"
    assert "Packets sent" not in out


def test_nc_target_by_name(dns_ns: NetNs, config: Path) -> None:
    payload = bytes(range(256)) * 64
    with kernel_peer(dns_ns, 9000, lambda conn, address: read_to_eof(conn)) as results:
        code, out, err = run(dns_ns, config, "nc", "-target", "www.lan", "9000", "-bin", stdin=payload)
    assert code == 0, err
    assert results == [payload]
    assert f"mtcp-nc: www.lan is {KERNEL_IP}" in err


def test_nc_target_unknown_name_is_one_line(dns_ns: NetNs, config: Path) -> None:
    code, out, err = run(dns_ns, config, "nc", "-target", "nosuch.lan", "9000")
    assert code == 1
    assert err.splitlines()[-1] == "mtcp-nc: nosuch.lan: no such host (NXDOMAIN)"


# -- the resolver in this process -------------------------------------------------------------------------


def test_answer_is_cached_for_dnsmasqs_ttl(dns_ns: NetNs) -> None:
    clock = MonotonicTicks()
    link = dns_ns.call(lambda: open_link("tap:mtap0", clock))
    config = StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP), nameservers=(ip_from_str(KERNEL_IP),))
    stack = Stack(link, config, clock).init_stack()
    try:
        assert resolve(stack, "www.lan", timeout=10) == ip_from_str(KERNEL_IP)
        sent = stack.dns.counters.queries_sent
        assert sent == 1
        entry = stack.dns.cached("www.lan", clock.now())
        assert entry is not None and entry.cname_chain == ("alias.lan", "peer.lan")
        assert entry.expires - clock.now() <= round(TTL / TICK_SECONDS) + 1  # dnsmasq's --local-ttl, no more
        again = stack.dns.start("WWW.lan.", clock.now())
        assert again.done and again.from_cache and again.address == ip_from_str(KERNEL_IP)
        assert stack.dns.counters.queries_sent == sent
    finally:
        stack.end_stack()
