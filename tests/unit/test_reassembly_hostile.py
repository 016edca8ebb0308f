"""Reassembly against hostile fragment patterns: thousands of tiny pieces, overlaps spanning several pieces.

Regression: every fragment used to be compared with every piece already held (and the held bytes summed
again), so a datagram sent in 8-byte pieces cost time quadratic in their number: about 0.6 s of the stack's
main line for one 64 KiB datagram, for anyone who could send it 8,000 small frames.
"""

from __future__ import annotations

import random
import time

from mtcp_py.reassembly import Reassembler
from mtcp_py.wire.ipv4 import Ipv4Repr


def piece(offset: int, data: bytes, more: bool = True, ident: int = 7) -> tuple[Ipv4Repr, memoryview]:
    header = Ipv4Repr(0x0A000201, 0x0A00020F, 1, len(data), ident=ident, more_fragments=more, frag_offset=offset)
    return header, memoryview(data)


def feed_tiny_pieces(count: int, rng: random.Random) -> tuple[float, bytes | None, bytes]:
    payload = rng.randbytes(8 * count)
    order = list(range(count))
    rng.shuffle(order)
    reassembler = Reassembler(max_size=65_535)
    result = None
    start = time.perf_counter()
    for i in order:
        header, data = piece(8 * i, payload[8 * i : 8 * i + 8], more=i != count - 1)
        whole = reassembler.add(header, data, 0)
        if whole is not None:
            result = whole[1]
    return time.perf_counter() - start, result, payload


def test_eight_thousand_tiny_pieces_in_random_order_reassemble_exactly() -> None:
    _, result, payload = feed_tiny_pieces(8190, random.Random(5))
    assert result == payload


def test_tiny_pieces_cost_linear_not_quadratic_time() -> None:
    rng = random.Random(6)
    small = min(feed_tiny_pieces(1024, rng)[0] for _ in range(3))
    large = min(feed_tiny_pieces(8190, rng)[0] for _ in range(3))
    # Eight times the pieces: about eight times the time when linear, sixty-four when quadratic.
    assert large < 24 * small, (small, large)


def test_an_overlap_spanning_several_pieces_condemns_the_datagram() -> None:
    reassembler = Reassembler()
    for offset in (0, 16, 32):
        assert reassembler.add(*piece(offset, bytes(8)), 0) is None
    assert reassembler.add(*piece(8, bytes(40)), 0) is None  # covers the gaps and the pieces at 16 and 32
    assert reassembler.counters.overlaps == 1 and reassembler.in_progress == 0


def test_exact_repeats_are_duplicates_and_a_changed_repeat_is_an_overlap() -> None:
    reassembler = Reassembler()
    assert reassembler.add(*piece(8, b"abcdefgh"), 0) is None
    assert reassembler.add(*piece(8, b"abcdefgh"), 0) is None
    assert reassembler.counters.duplicates == 1
    assert reassembler.add(*piece(0, b"01234567"), 0) is None
    whole = reassembler.add(*piece(16, b"tail", more=False), 0)
    assert whole is not None and whole[1] == b"01234567abcdefghtail"
    reassembler.add(*piece(8, b"12345678", ident=9), 0)
    assert reassembler.add(*piece(8, b"XXXXXXXX", ident=9), 0) is None
    assert reassembler.counters.overlaps == 1


def test_empty_fragments_are_not_kept_as_pieces() -> None:
    reassembler = Reassembler()
    for _ in range(1000):
        reassembler.add(*piece(64, b""), 0)
    assert reassembler.add(*piece(0, bytes(8)), 0) is None
    whole = reassembler.add(*piece(8, bytes(8), more=False), 0)
    assert whole is not None and whole[1] == bytes(16)


def test_slots_held_by_fragments_that_never_complete_do_not_keep_a_new_datagram_out() -> None:
    """Regression: with every slot taken by datagrams that would never complete, a new one was refused
    until they timed out, so four forged fragments per timeout kept all fragmented traffic out."""
    reassembler = Reassembler(slots=4, timeout_ticks=91)
    for ident in range(4):
        assert reassembler.add(*piece(0, bytes(8), ident=100 + ident), ident) is None
    assert reassembler.in_progress == 4
    assert reassembler.add(*piece(0, b"first-8-", ident=1), 10) is None
    whole = reassembler.add(*piece(8, b"last", more=False, ident=1), 10)
    assert whole is not None and whole[1] == b"first-8-last"
    assert reassembler.counters.no_slot == 1
    # The oldest (ident 100) was given up; the other three are still there.
    assert reassembler.add(*piece(8, bytes(8), more=False, ident=100), 11) is None
    assert reassembler.add(*piece(8, bytes(8), more=False, ident=101), 11) is not None
