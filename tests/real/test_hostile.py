"""Hostile frames against the stack on a TAP device, with the Linux kernel as the honest peer.

One stack runs mtcp-servers' echo in-process (on a thread of its own) for the whole module, so counters,
drop reasons and the packet pool can be asserted. A raw socket on the kernel's side of the TAP device
(tests/real/hostile.py) writes the frames. A live echo transfer from a kernel socket runs from the first
test to the last. The phases, in order:

  (a) malformed frames at every layer, each counted under the drop reason its parser should give; SYNs
      with broken options still answered; fragments that overlap or never complete;
  (b) a SYN flood from spoofed sources in the lab subnet against the echo port;
  (c) blind RST, SYN, ACK and data injections on the live connection, in and out of the window
      (RFC 5961, RFC 9293 3.10.7.4), and a flood of in-window RSTs against the challenge ACK limit;
  (d) a flood of valid pings and of UDP to closed ports.

After each phase the kernel's pings are all answered and 1 MiB echoes exactly; at the end the live
transfer is exact, no internal error was counted, and every receive buffer is back in the pool.
Skipped with a reason when not root.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from mtcp_py.apps.servers import Servers
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from tests.netns import KERNEL_IP, STACK_IP, NetNs, StackThread, need_root, private_netns
from tests.real.apputil import wait_until
from tests.real.hostile import (
    ACK,
    PSH,
    RST,
    SYN,
    Forge,
    Sniffer,
    Wire,
    bad_option_syns,
    fragment_attacks,
    malformed,
    ping_flood,
    syn_flood,
    udp_closed_flood,
)

pytestmark = pytest.mark.real
ECHO = 7
MiB = 1 << 20
T = TypeVar("T")
POLL = 0.005
"""How often a wait below checks its condition (each has a deadline)."""
CHALLENGE_BURST = 100
CHALLENGE_ACK_MOST = 20
"""RFC 5961 7 asks for ACK throttling without a number; Linux allows about one challenge ACK per 1000 per
second globally (and per socket one per half second for out-of-window ACKs). We ask for no more than this
many answers to a burst of CHALLENGE_BURST in-window resets inside a second."""


class ServingStack(StackThread):
    """The stack thread, also turning mtcp-servers' services after each poll."""

    def __init__(self, stack: Stack, servers: Servers) -> None:
        super().__init__(stack)
        self.servers = servers

    def _serve(self) -> bool:
        self.servers.turn()
        return super()._serve()

    def on(self, fn: Callable[[Stack], T]) -> T:
        return self.call(fn)  # type: ignore[arg-type]


class LiveTransfer:
    """A kernel socket echoing a paced stream through the stack for the whole module; pausable so that
    the injections can be aimed at exact sequence numbers."""

    def __init__(self, ns: NetNs, rate: float = 1.5e6) -> None:
        self.sock = ns.call(lambda: socket.create_connection((STACK_IP, ECHO), timeout=60))
        self.local = self.sock.getsockname()
        self.peer = self.sock.getpeername()
        self.rate = rate
        self.sent = 0
        self.received = 0
        self.mismatch_at: int | None = None
        self._pending = bytearray()
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._go.set()
        self._stop = threading.Event()
        self._sha_sent = hashlib.sha256()
        self._sha_got = hashlib.sha256()
        self.errors: list[BaseException] = []
        self._sender = threading.Thread(target=self._send_loop, daemon=True)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._sender.start()
        self._reader.start()

    def _send_loop(self) -> None:
        rng = random.Random(99)
        chunk = 8192
        try:
            while not self._stop.is_set():
                if not self._go.wait(0.1):
                    continue
                data = rng.randbytes(chunk)
                with self._lock:
                    self._pending += data
                    self.sent += len(data)
                    self._sha_sent.update(data)
                self.sock.sendall(data)
                time.sleep(chunk / self.rate)  # pacing, not synchronisation
            self.sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:
            self.errors.append(exc)

    def _read_loop(self) -> None:
        try:
            while data := self.sock.recv(65536):
                with self._lock:
                    expected = bytes(self._pending[: len(data)])
                    if expected != data and self.mismatch_at is None:
                        self.mismatch_at = self.received
                    del self._pending[: len(data)]
                    self.received += len(data)
                    self._sha_got.update(data)
        except BaseException as exc:
            self.errors.append(exc)

    def quiesce(self, timeout: float = 10) -> None:
        """Stop sending and wait until everything sent has come back."""
        self._go.clear()
        wait_until(lambda: not self._sender.is_alive() or self._idle(),
                   "the live transfer to drain", timeout=timeout, interval=POLL)

    def _idle(self) -> bool:
        with self._lock:
            return self.received == self.sent

    def resume(self) -> None:
        self._go.set()

    def finish(self, timeout: float = 30) -> tuple[int, int, bool]:
        """(sent, received, digests equal) after our FIN and the stack's."""
        self._go.set()
        self._stop.set()
        self._sender.join(timeout)
        self._reader.join(timeout)
        self.sock.close()
        return self.sent, self.received, self._sha_sent.digest() == self._sha_got.digest()


@dataclass
class Lab:
    ns: NetNs
    stack: Stack
    thread: ServingStack
    wire: Wire
    forge: Forge
    live: LiveTransfer
    rng: random.Random
    barrier_seq: int = 0

    def counters(self) -> dict[str, dict[str, int]]:
        return self.thread.on(lambda s: s.counters())

    def tcb(self, local_port: int, remote_port: int) -> dict[str, Any]:
        """The stack's view of the connection (kernel port `remote_port` to stack port `local_port`)."""

        def read(stack: Stack) -> dict[str, Any]:
            sock = stack.tcp.connections.get((ip_from_str(KERNEL_IP), remote_port, local_port))
            if sock is None:
                return {"state": "gone"}
            adv = (sock.rcv_adv - sock.rcv_nxt) & 0xFFFF_FFFF
            return {"state": sock.state.value, "rcv_nxt": sock.rcv_nxt, "snd_una": sock.snd_una,
                    "snd_nxt": sock.snd_nxt, "snd_wnd": sock.snd_wnd, "max_snd_wnd": sock.max_snd_wnd,
                    "snd_mss": sock.snd_mss, "free": sock.rx.free, "adv": adv if adv < 1 << 31 else 0,
                    "error": sock.error}

        return self.thread.on(read)

    def barrier(self, sniff: Sniffer) -> None:
        """Return once everything the stack will send in answer to frames already written has been seen:
        two pings in turn, each written after the previous reply (a reply goes out while its request is
        processed, ACKs owed go out after each batch, so the second reply comes after them)."""
        for _ in range(2):
            self.barrier_seq += 1
            self.wire.send(self.forge.echo_request(0x7777, self.barrier_seq, b"barrier"))
            assert sniff.wait_reply(0x7777, self.barrier_seq), "the stack stopped answering pings"

    def deliver(self, frames: Iterator[bytes] | list[bytes], batch: int = 16) -> int:
        """Write frames in batches, each taken off the ring before the next, so the pool never overflows."""
        count = 0
        pool = self.stack.pool
        chunk: list[bytes] = []
        for frame in frames:
            chunk.append(frame)
            if len(chunk) == batch:
                count += self._deliver_batch(chunk, pool)
                chunk = []
        if chunk:
            count += self._deliver_batch(chunk, pool)
        return count

    def _deliver_batch(self, chunk: list[bytes], pool: Any) -> int:
        before = pool.counters.frames_received
        for frame in chunk:
            self.wire.send(frame)
        wait_until(lambda: pool.counters.frames_received - before >= len(chunk) and not pool.pending,
                   "a batch of frames to be taken", timeout=10, interval=POLL)
        return len(chunk)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    need_root()
    with private_netns() as ns:
        clock = MonotonicTicks()
        link = ns.call(lambda: open_link("tap:mtap0", clock))
        cfg = StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP), tcp=TcpConfig(max_sockets=32))
        stack = Stack(link, cfg, clock).init_stack()
        servers = Servers(stack, {"echo": ECHO}, backlog=8)
        servers.start()
        thread = ServingStack(stack, servers)
        wire = Wire(ns)
        try:
            with thread:
                live = LiveTransfer(ns)
                lab = Lab(ns, stack, thread, wire, Forge(wire.kernel_mac, stack.mac), live, random.Random(13))
                yield lab
                live.finish()
                thread.on(lambda s: servers.stop())
        finally:
            wire.close()
            stack.end_stack()


# -- checks between phases --------------------------------------------------------------------------------


def absorbed(lab: Lab, timeout: float = 10) -> None:
    """Wait until a flood has been taken: a ping written after it queues behind it in the TAP device, so its
    reply means the flood is through (taken, or refused by a full pool). Pings lost to a full pool are sent
    again."""
    deadline = time.monotonic() + timeout
    with Sniffer(lab.ns, lab.stack.mac) as sniff:
        while True:
            lab.barrier_seq += 1
            lab.wire.send(lab.forge.echo_request(0x7777, lab.barrier_seq, b"after the flood"))
            if sniff.wait_reply(0x7777, lab.barrier_seq, 0.5):
                break
            assert time.monotonic() < deadline, "the stack did not answer a ping after the flood"
        lab.barrier(sniff)


def pings_all_answered(lab: Lab, count: int = 20, size: int = 56) -> None:
    result = lab.ns.run("ping", "-c", str(count), "-i", "0.01", "-W", "2", "-s", str(size), STACK_IP, check=False)
    match = re.search(r"(\d+) received", result.stdout)
    assert match and int(match.group(1)) == count, result.stdout + result.stderr


def echo_one_mib(lab: Lab, timeout: float = 30) -> None:
    data = random.Random(len(lab.live.errors) + time.monotonic_ns()).randbytes(MiB)
    sock = lab.ns.call(lambda: socket.create_connection((STACK_IP, ECHO), timeout=timeout))

    def send() -> None:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    back = bytearray()
    while chunk := sock.recv(65536):
        back += chunk
    sender.join(timeout)
    sock.close()
    assert len(back) == len(data) and bytes(back) == data, f"echo of 1 MiB: {len(back)} bytes back"


def healthy(lab: Lab) -> None:
    pings_all_answered(lab)
    echo_one_mib(lab)
    assert not lab.live.errors, lab.live.errors
    assert lab.live.mismatch_at is None, f"the live transfer went wrong at byte {lab.live.mismatch_at}"
    counters = lab.counters()
    assert counters["stack"]["internal_errors"] == 0, lab.stack.last_internal_error


def delta(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]], layer: str) -> Counter[str]:
    return Counter({k: v - before.get(layer, {}).get(k, 0) for k, v in after.get(layer, {}).items()})


# -- (a) malformed frames ---------------------------------------------------------------------------------


def test_a_malformed_frames_counted_by_reason(lab: Lab) -> None:
    healthy(lab)
    before = lab.counters()
    cases = list(malformed(lab.forge, lab.rng))
    expected = Counter(reason for _, _, reason in cases if reason is not None)
    lab.deliver(frame for _, frame, _ in cases)
    wait_until(lambda: all(delta(lab.counters(), before, "drops")[r] >= n for r, n in expected.items()),
               "every malformed frame to be counted", timeout=10, interval=POLL)
    after = lab.counters()
    drops = delta(after, before, "drops")
    noise = sum(1 for what, _, _ in cases if what == "random bytes")
    for reason, count in expected.items():  # the random frames may land anywhere; nothing else does
        assert count <= drops[reason] <= count + noise, (reason, count, drops[reason])
    assert after["buffers"]["dropped_pool_empty"] == before["buffers"]["dropped_pool_empty"]
    ip_ = delta(after, before, "ip")
    icmp = delta(after, before, "icmp")
    assert ip_["not_for_us"] >= 3 and ip_["bad_source"] >= 9  # limited and directed broadcast, loopback
    assert icmp["broadcast_echo_ignored"] >= 3 and icmp["errors_bad_quote"] >= 6
    # The pings with TTL 0 and with garbage options are still for us and answered (RFC 1122 3.2.1.7, 3.2.1.8).
    assert icmp["echo_replies_sent"] >= 6
    assert delta(after, before, "arp")["replies_sent"] == 0  # nothing asked for our address
    healthy(lab)


def test_a_syns_with_broken_options_are_answered(lab: Lab) -> None:
    """RFC 9293 3.1 (MUST-7 context): a receiver must be prepared for an illegal option length; a SYN with
    one must be answered (SYN-ACK, or a reset), not silently lost. The kernel resets the SYN-ACKs."""
    unanswered = []
    with Sniffer(lab.ns, lab.stack.mac) as sniff:
        for what, frame, sport in bad_option_syns(lab.forge, ECHO, 41000):
            mark = sniff.mark()
            lab.wire.send(frame)
            seen = sniff.wait_for(mark, lambda s, p=sport: s.dport == p and bool(s.flags & (SYN | RST)), 2.0)  # type: ignore[misc]
            if seen is None:
                unanswered.append(what)
    assert not unanswered, f"SYNs silently dropped: {unanswered}"
    healthy(lab)


def test_a_mss_zero_does_not_make_tiny_segments(lab: Lab) -> None:
    """A peer announcing MSS 0 gets segments no smaller than 64 bytes (Linux's floor is tcp_min_snd_mss,
    48; a stack that sends 1-byte segments is an amplifier)."""
    if shutil.which("nft") is None:
        pytest.skip("needs nft (nftables) to keep the kernel from resetting a forged handshake")
    f = lab.forge
    sport = 42000
    lab.ns.run("nft", "add table inet forged; add chain inet forged out { type filter hook output priority 0; }; "
               f"add rule inet forged out tcp sport {sport} drop")
    try:
        with Sniffer(lab.ns, lab.stack.mac) as sniff:
            mark = sniff.mark()
            lab.wire.send(f.tcp_frame(sport, ECHO, 5000, 0, SYN, options=b"\x02\x04\x00\x00"))
            synack = sniff.wait_for(mark, lambda s: s.dport == sport and s.flags & (SYN | ACK) == SYN | ACK, 3)
            assert synack is not None, "no SYN-ACK to a SYN with MSS 0"
            mark = sniff.mark()
            lab.wire.send(f.tcp_frame(sport, ECHO, 5001, synack.seq + 1, ACK, window=65535))
            lab.wire.send(f.tcp_frame(sport, ECHO, 5001, synack.seq + 1, ACK | PSH, window=65535,
                                      payload=b"m" * 1000))
            echoed = sniff.wait_total(mark, lambda s: s.dport == sport, 1000, 5)
            sizes = [s.length for s in sniff.since(mark, lambda s: s.dport == sport and s.length > 0)]
            assert sizes, "nothing echoed on the forged connection"
            lab.wire.send(f.tcp_frame(sport, ECHO, 6001, 0, RST))  # rcv_nxt = 5001 + 1000: exact, ends it
        assert min(sizes) >= 64, f"segments of {sorted(set(sizes))[:8]} bytes to a peer with MSS 0 " \
                                 f"({echoed} of 1000 bytes echoed in 5 s)"
    finally:
        lab.ns.run("nft", "delete table inet forged", check=False)


def test_a_fragments_overlapping_and_never_completing(lab: Lab) -> None:
    before = lab.counters()
    frames = list(fragment_attacks(lab.forge, lab.rng))
    lab.deliver(frame for _, frame in frames)
    wait_until(lambda: delta(lab.counters(), before, "reassembly")["fragments"] >= len(frames),
               "every fragment to be taken", timeout=10, interval=POLL)
    r = delta(lab.counters(), before, "reassembly")
    assert r["overlaps"] >= 16 and r["no_slot"] > 0 and r["reassembled"] == 0
    pings_all_answered(lab)  # unfragmented traffic is untouched
    # Fragmented datagrams get through at once: the slots the attack holds are given up for them.
    pings_all_answered(lab, count=5, size=4000)
    healthy(lab)


# -- (b) SYN flood ------------------------------------------------------------------------------------------


def test_b_syn_flood_from_spoofed_sources(lab: Lab) -> None:
    before = lab.counters()
    start = time.monotonic()
    lab.wire.send_all(syn_flood(lab.forge, lab.rng, ECHO, 2000))
    sent_in = time.monotonic() - start
    absorbed(lab)
    after = lab.counters()
    tcp = delta(after, before, "tcp")
    assert tcp["segments_received"] > 0
    # The echo port still takes a real connection at once, and the live transfer went on.
    healthy(lab)
    states = lab.thread.on(lambda s: Counter(state for _, _, state in s.tcp.socket_states()))
    assert states["SYN_RECEIVED"] <= 8, states
    print(f"SYN flood: 2000 frames written in {sent_in:.2f} s; {tcp['segments_received']} segments taken; "
          f"pool drops {delta(after, before, 'buffers')['dropped_pool_empty']}; tcp {dict(+tcp)}")


# -- (c) blind injections on the live connection --------------------------------------------------------------


def seq(value: int) -> int:
    return value & 0xFFFF_FFFF


def test_c_blind_injections_on_the_live_transfer(lab: Lab) -> None:
    live = lab.live
    kport = live.local[1]
    f = lab.forge
    problems: list[str] = []
    live.quiesce()
    wait_until(lambda: (t := lab.tcb(ECHO, kport))["snd_una"] == t["snd_nxt"],
               "the echo to be acknowledged", timeout=5, interval=POLL)
    with Sniffer(lab.ns, lab.stack.mac) as sniff:

        def inject(what: str, flags: int, seqno: int, ackno: int, payload: bytes = b"", window: int = 65535,
                   *, expect_ack: bool, changes: Callable[[dict[str, Any], dict[str, Any]], str | None]) -> None:
            t0 = lab.tcb(ECHO, kport)
            mark = sniff.mark()
            before = lab.stack.pool.counters.frames_received
            lab.wire.send(f.tcp_frame(kport, ECHO, seq(seqno), seq(ackno), flags, window=window, payload=payload))
            wait_until(lambda: lab.stack.pool.counters.frames_received > before and not lab.stack.pool.pending,
                       f"{what} to be taken", timeout=5, interval=POLL)
            lab.barrier(sniff)
            answers = sniff.since(mark, lambda s: s.dport == kport and s.flags & ACK != 0 and not s.flags & RST)
            acked = answers[0] if answers else None
            t1 = lab.tcb(ECHO, kport)
            if t1["state"] != "ESTABLISHED":
                problems.append(f"{what}: the connection is now {t1['state']} ({t1.get('error')})")
                return
            if expect_ack and acked is None:
                problems.append(f"{what}: no ACK sent (RFC asks for one)")
            if len(answers) > 1:
                problems.append(f"{what}: {len(answers)} segments in answer to one")
            if expect_ack and acked is not None and (acked.seq, acked.ack) != (t0["snd_nxt"], t0["rcv_nxt"]):
                problems.append(f"{what}: ACK {acked.seq}/{acked.ack}, expected {t0['snd_nxt']}/{t0['rcv_nxt']}")
            problem = changes(t0, t1)
            if problem:
                problems.append(f"{what}: {problem}")

        def unchanged(*keys: str) -> Callable[[dict[str, Any], dict[str, Any]], str | None]:
            def check(t0: dict[str, Any], t1: dict[str, Any]) -> str | None:
                moved = {k: (t0[k], t1[k]) for k in keys if t0[k] != t1[k]}
                return f"changed {moved}" if moved else None
            return check

        t = lab.tcb(ECHO, kport)
        rcv, una, nxt = t["rcv_nxt"], t["snd_una"], t["snd_nxt"]
        wnd_lo = min(t["free"], t["adv"] or t["free"])
        wnd_hi = max(t["free"], t["adv"])
        max_wnd = t["max_snd_wnd"]
        print(f"live connection {kport}->7: rcv_nxt {rcv} snd_una {una} snd_nxt {nxt} rcv window {wnd_lo}..{wnd_hi} "
              f"max_snd_wnd {max_wnd} snd_wnd {t['snd_wnd']}")
        keep = unchanged("rcv_nxt", "snd_una", "snd_nxt", "snd_wnd")
        # RST: out of the window silently dropped; in the window but not exact, a challenge ACK (RFC 5961 3.2).
        inject("RST one before RCV.NXT", RST, rcv - 1, 0, expect_ack=False, changes=keep)
        inject("RST just past the window", RST, rcv + wnd_hi, 0, expect_ack=False, changes=keep)
        inject("RST half the sequence space away", RST, rcv + (1 << 31), 0, expect_ack=False, changes=keep)
        inject("RST at RCV.NXT+1 (in window, off by one)", RST, rcv + 1, 0, expect_ack=True, changes=keep)
        inject("RST|ACK at the last byte of the window", RST | ACK, rcv + wnd_lo - 1, una, expect_ack=True,
               changes=keep)
        # SYN on a synchronized connection: a challenge ACK, never a reset (RFC 5961 4.2).
        inject("SYN at RCV.NXT", SYN, rcv, 0, expect_ack=True, changes=keep)
        inject("SYN out of the window", SYN, rcv + (1 << 30), 0, expect_ack=True, changes=keep)
        # Data without ACK: dropped (RFC 9293 3.10.7.4, fifth check: "if the ACK bit is off, drop").
        inject("data at RCV.NXT without ACK", PSH, rcv, 0, b"INJECTED-NO-ACK", expect_ack=False, changes=keep)
        # ACK beyond SND.NXT: an ACK back, the segment dropped (RFC 9293 3.10.7.4).
        inject("bare ACK too new, window 0", ACK, rcv, nxt + 5000, window=0, expect_ack=True, changes=keep)
        inject("data at RCV.NXT, ACK too new", ACK | PSH, rcv, nxt + 5000, b"INJECTED-NEW-ACK", expect_ack=True,
               changes=keep)
        # Data far out of the window: an ACK back, dropped.
        inject("data far out of the window", ACK | PSH, rcv + (1 << 30), una, b"INJECTED-FAR", expect_ack=True,
               changes=keep)
        # ACK older than SND.UNA - MAX.SND.WND: dropped with an ACK back (RFC 5961 5.2), no window update.
        old = una - max_wnd - 1
        inject("bare ACK too old, window 0", ACK, rcv, old, window=0, expect_ack=True, changes=keep)
        inject("data at RCV.NXT, ACK older than SND.UNA - MAX.SND.WND", ACK | PSH, rcv, old, b"INJECTED-OLD-ACK",
               expect_ack=True, changes=keep)
        # ICMP port unreachable quoting the connection with a sequence number we never sent (RFC 5927 4.1).
        quote = f.ipv4(6, f.tcp(ECHO, kport, nxt + 100_000, rcv, ACK, src=f.stack_ip, dst=f.kernel_ip)[:8],
                       src=f.stack_ip, dst=f.kernel_ip, total=40)
        lab.deliver([f.ip_frame(1, f.icmp(3, 3, 0, quote)), f.ip_frame(1, f.icmp(3, 1, 0, quote))])
        lab.barrier(sniff)
        if lab.tcb(ECHO, kport)["state"] != "ESTABLISHED":
            problems.append("forged ICMP unreachable: the connection is gone")
    live.resume()
    # The transfer carries on exactly: nothing injected reached the stream.
    target = live.sent + 256 * 1024
    wait_until(lambda: live.received >= target or live.mismatch_at is not None or bool(live.errors),
               "the live transfer to carry on", timeout=30, interval=POLL)
    if live.mismatch_at is not None:
        problems.append(f"the live echo stream differs from byte {live.mismatch_at}")
    assert not problems, "\n".join(problems)


def test_c_reset_at_exactly_rcv_nxt_ends_a_connection(lab: Lab) -> None:
    """The control for the injections: an in-window RST at exactly RCV.NXT is accepted (RFC 5961 3.2), so
    the frames above did reach TCP with the right numbers."""
    sock = lab.ns.call(lambda: socket.create_connection((STACK_IP, ECHO), timeout=10))
    kport = sock.getsockname()[1]
    sock.sendall(b"hello")
    assert sock.recv(5) == b"hello"
    wait_until(lambda: (t := lab.tcb(ECHO, kport))["snd_una"] == t["snd_nxt"],
               "the echo to be acknowledged", timeout=5, interval=POLL)
    t = lab.tcb(ECHO, kport)
    lab.wire.send(lab.forge.tcp_frame(kport, ECHO, t["rcv_nxt"], 0, RST))
    wait_until(lambda: lab.tcb(ECHO, kport)["state"] in ("gone", "CLOSED"),
               "the reset to be taken", timeout=5, interval=POLL)
    sock.close()


def test_c_challenge_acks_are_rate_limited(lab: Lab) -> None:
    """A burst of in-window RSTs (never exact) on a second connection: RFC 5961 7 asks to throttle the
    challenge ACKs so a forger cannot make the stack send one per frame."""
    sock = lab.ns.call(lambda: socket.create_connection((STACK_IP, ECHO), timeout=10))
    kport = sock.getsockname()[1]
    sock.sendall(b"ping")
    assert sock.recv(4) == b"ping"
    wait_until(lambda: (t := lab.tcb(ECHO, kport))["snd_una"] == t["snd_nxt"],
               "the echo to be acknowledged", timeout=5, interval=POLL)
    t = lab.tcb(ECHO, kport)
    with Sniffer(lab.ns, lab.stack.mac) as sniff:
        mark = sniff.mark()
        start = time.monotonic()
        for i in range(CHALLENGE_BURST):
            lab.wire.send(lab.forge.tcp_frame(kport, ECHO, t["rcv_nxt"] + 1 + i, 0, RST))
            time.sleep(0.004)  # pacing: one frame per poll, so batching alone cannot hide the answers
        elapsed = time.monotonic() - start
        lab.barrier(sniff)
        answers = sniff.since(mark, lambda s: s.dport == kport and bool(s.flags & ACK))
    state = lab.tcb(ECHO, kport)["state"]
    sock.sendall(b"still")
    assert sock.recv(5) == b"still"
    sock.close()
    assert state == "ESTABLISHED"
    assert elapsed < 1.5
    assert len(answers) <= CHALLENGE_ACK_MOST, f"{len(answers)} challenge ACKs for {CHALLENGE_BURST} RSTs " \
                                               f"in {elapsed:.2f} s"
    healthy(lab)


# -- (d) floods of valid traffic ------------------------------------------------------------------------------


def test_d_ping_and_closed_udp_flood(lab: Lab) -> None:
    before = lab.counters()
    count = 5000
    start = time.monotonic()
    lab.wire.send_all(ping_flood(lab.forge, count))
    lab.wire.send_all(udp_closed_flood(lab.forge, count))
    elapsed = time.monotonic() - start
    absorbed(lab)
    after = lab.counters()
    icmp = delta(after, before, "icmp")
    udp = delta(after, before, "udp")
    # Every request that got a buffer was answered; the pool refuses what comes faster than the stack takes it.
    assert icmp["echo_requests_received"] >= lab.stack.pool.count
    assert icmp["echo_replies_sent"] == icmp["echo_requests_received"]
    # Every datagram to the closed port that got a buffer drew port unreachable, or was counted as over the
    # ICMP rate limit (a burst of 10 per 18 ticks): a flood cannot make the stack a flood of its own.
    assert udp["no_port"] >= lab.stack.pool.count
    assert udp["unreachables_sent"] + udp["unreachables_limited"] == udp["no_port"]
    assert udp["unreachables_limited"] > 0
    assert icmp["unreachables_sent"] == udp["unreachables_sent"]
    print(f"flood: {2 * count} frames written in {elapsed:.2f} s; echo requests taken "
          f"{icmp['echo_requests_received']}, unreachables sent {icmp['unreachables_sent']}, pool drops "
          f"{delta(after, before, 'buffers')['dropped_pool_empty']}")
    healthy(lab)


# -- the end ----------------------------------------------------------------------------------------------


def test_z_live_transfer_exact_and_pool_whole(lab: Lab) -> None:
    sent, received, same = lab.live.finish()
    assert not lab.live.errors, lab.live.errors
    assert sent > 0 and received == sent and same and lab.live.mismatch_at is None, (sent, received)
    pool = lab.stack.pool
    wait_until(lambda: pool.free == pool.count, "every receive buffer to be free", timeout=5, interval=POLL)
    counters = lab.counters()
    assert counters["stack"]["internal_errors"] == 0, lab.stack.last_internal_error
    print("drops:", counters["drops"])
