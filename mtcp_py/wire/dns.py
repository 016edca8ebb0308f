"""DNS messages (RFC 1035 4): the header and the fixed parts of questions and records declared with
`construct`; names, whose compression needs the whole message, read by hand.

A name in a reply may end in a pointer to an earlier name in the message (RFC 1035 4.1.4). Untrusted
pointers are where resolvers go wrong, so a pointer must point before the labels it ends (RFC 1035: "a prior
occurrence"; a compressor can only point at what it already wrote): each jump then lands strictly before
the last, so no loop can form, and reading a name takes at most one pass over the message. A pointer past the
end of the message, a reserved label type (0x40, 0x80), a label or name over its limit, counts that run
past the bytes carried, and record data that does not match its type all raise WireError, and only that.

Names are kept as text: lower-cased (DNS compares names case-insensitively, RFC 4343), without the
trailing dot, labels joined by "."; a byte that is not a printable character, and a "." or "\\" inside a
label, are written `\\DDD` as dig and zone files write them, so no label from the wire can pass for two.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from construct import BitsInteger, BitStruct, Bytes, ConstructError, Flag, Int16ub, Int32ub, Struct, this

from . import WireError, ip_to_str

PORT = 53
UDP_MAX = 512
"""The most a reply over UDP carries without EDNS (RFC 1035 4.2.1); more is truncated (TC) for TCP."""
MAX_NAME = 255
"""Octets of a name on the wire, length bytes and the root's zero included (RFC 1035 2.3.4)."""
MAX_LABEL = 63

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_PTR = 12
TYPE_AAAA = 28
CLASS_IN = 1
TYPE_NAMES = {TYPE_A: "A", TYPE_NS: "NS", TYPE_CNAME: "CNAME", TYPE_SOA: "SOA", TYPE_PTR: "PTR",
              TYPE_AAAA: "AAAA"}
NAME_TYPES = (TYPE_NS, TYPE_CNAME, TYPE_PTR)
"""Types whose data is a single (possibly compressed) name."""

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
RCODE_NAMES = {NOERROR: "NOERROR", FORMERR: "FORMERR", SERVFAIL: "SERVFAIL", NXDOMAIN: "NXDOMAIN",
               NOTIMP: "NOTIMP", REFUSED: "REFUSED"}

Flags = BitStruct(
    "response" / Flag,
    "opcode" / BitsInteger(4),
    "authoritative" / Flag,
    "truncated" / Flag,
    "recursion_desired" / Flag,
    "recursion_available" / Flag,
    "zero" / BitsInteger(3),
    "rcode" / BitsInteger(4),
)
Header = Struct(
    "ident" / Int16ub,
    "flags" / Flags,
    "questions" / Int16ub,
    "answers" / Int16ub,
    "authority" / Int16ub,
    "additional" / Int16ub,
)
HEADER_LEN = 12
QuestionTail = Struct("qtype" / Int16ub, "qclass" / Int16ub)
"""What follows a question's name."""
RecordTail = Struct("rtype" / Int16ub, "rclass" / Int16ub, "ttl" / Int32ub, "rdlength" / Int16ub,
                    "rdata" / Bytes(this.rdlength))
"""What follows a record's name: type, class, TTL and the data its length says."""
QUESTION_TAIL_LEN = 4
RECORD_FIXED_LEN = 10
# Compiled once (2 ms at import): parsing then costs a third of what the interpreted declarations do.
_HEADER = Header.compile()
_QUESTION_TAIL = QuestionTail.compile()
_RECORD_TAIL = RecordTail.compile()
_POINTER = 0xC0
_LENGTH = struct.Struct("!H")


class BadName(ValueError):
    """A name given to us (not from the wire) that cannot be asked for: empty label, too long, bad byte."""


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    qtype: int = TYPE_A
    qclass: int = CLASS_IN


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    rtype: int
    rclass: int
    ttl: int
    """Seconds; RFC 2181 8: a value with the top bit set is read as 0."""
    data: bytes
    target: str | None = None
    """The name an NS, CNAME or PTR record holds (decompressed)."""

    @property
    def address(self) -> int | None:
        """The IPv4 address of an A record, else None."""
        if self.rtype == TYPE_A and self.rclass == CLASS_IN:
            return int.from_bytes(self.data, "big")
        return None


@dataclass(frozen=True, slots=True)
class Message:
    ident: int
    response: bool
    opcode: int
    authoritative: bool
    truncated: bool
    recursion_desired: bool
    recursion_available: bool
    rcode: int
    questions: tuple[Question, ...]
    answers: tuple[Record, ...]
    authority: tuple[Record, ...]
    additional: tuple[Record, ...]


# -- names ------------------------------------------------------------------------------------------------


def normalize(name: str) -> str:
    """A name as given by a person, as this module writes names: lower case, no trailing dot."""
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") and name != "." else name


def encode_name(name: str) -> bytes:
    """`name` (dots between labels, a trailing dot allowed) in wire form, uncompressed. BadName says why
    it cannot be: an empty label, a label over 63 octets, a name over 255, a character that is not ASCII."""
    text = normalize(name)
    if not text or text == ".":
        raise BadName("an empty name")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise BadName(f"{name!r}: not ASCII (an international name must be given in its xn-- form)") from None
    out = bytearray()
    for label in raw.split(b"."):
        if not label:
            raise BadName(f"{name!r}: an empty label")
        if len(label) > MAX_LABEL:
            raise BadName(f"{name!r}: a label is at most {MAX_LABEL} characters")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > MAX_NAME:
        raise BadName(f"{name!r}: a name is at most {MAX_NAME - 2} characters")
    return bytes(out)


def _label_text(label: bytes) -> str:
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C) else f"\\{b:03d}"
                   for b in label.lower())


def read_name(data: bytes | memoryview, offset: int) -> tuple[str, int]:
    """The name starting at `offset` and the offset just past it (past the first pointer, if any)."""
    labels: list[str] = []
    position = offset
    run_start = offset
    """Where the labels being read began: the name's start, then the last pointer's target."""
    end: int | None = None
    wire_length = 1
    size = len(data)
    while True:
        if position >= size:
            raise WireError("dns_truncated", "name runs past the message")
        length = data[position]
        kind = length & _POINTER
        if kind == _POINTER:
            if position + 1 >= size:
                raise WireError("dns_truncated", "pointer runs past the message")
            target = ((length & 0x3F) << 8) | data[position + 1]
            if target >= size:
                raise WireError("dns_pointer_outside", f"pointer to {target} in a {size}-byte message")
            if target >= run_start:
                # A pointer into (or after) the labels it ends: how every compression loop is made.
                raise WireError("dns_pointer_loop", f"pointer at {position} to {target}")
            if end is None:
                end = position + 2
            position = run_start = target
            continue
        if kind:
            raise WireError("dns_bad_label", f"label type {kind:#x}")
        if length == 0:
            break
        if position + 1 + length > size:
            raise WireError("dns_truncated", "label runs past the message")
        wire_length += length + 1
        if wire_length > MAX_NAME:
            raise WireError("dns_name_too_long")
        labels.append(_label_text(bytes(data[position + 1 : position + 1 + length])))
        position += 1 + length
    return ".".join(labels), (position + 1 if end is None else end)


# -- messages ---------------------------------------------------------------------------------------------


def build_query(ident: int, name: str, qtype: int = TYPE_A, recursion_desired: bool = True) -> bytes:
    """One question, as a stub resolver asks it; BadName when `name` cannot be asked for."""
    header = _HEADER.build(dict(
        ident=ident,
        flags=dict(response=False, opcode=0, authoritative=False, truncated=False,
                   recursion_desired=recursion_desired, recursion_available=False, zero=0, rcode=0),
        questions=1, answers=0, authority=0, additional=0))
    return header + encode_name(name) + _QUESTION_TAIL.build(dict(qtype=qtype, qclass=CLASS_IN))


def _record(data: bytes | memoryview, offset: int) -> tuple[Record, int]:
    name, offset = read_name(data, offset)
    if offset + RECORD_FIXED_LEN > len(data):
        raise WireError("dns_truncated", "record header runs past the message")
    (rdlength,) = _LENGTH.unpack_from(data, offset + RECORD_FIXED_LEN - 2)
    if offset + RECORD_FIXED_LEN + rdlength > len(data):
        raise WireError("dns_truncated", "record data runs past the message")
    try:  # parsed from a slice of exactly its length, so one record costs no more than its size
        tail = _RECORD_TAIL.parse(bytes(data[offset : offset + RECORD_FIXED_LEN + rdlength]))
    except ConstructError:
        raise WireError("dns_truncated", "record data runs past the message") from None
    start = offset + RECORD_FIXED_LEN
    after = start + tail.rdlength
    rdata = bytes(tail.rdata)
    target = None
    if tail.rtype == TYPE_A and tail.rclass == CLASS_IN and tail.rdlength != 4:
        raise WireError("dns_bad_rdata", f"an A record of {tail.rdlength} bytes")
    if tail.rtype in NAME_TYPES:
        target, name_end = read_name(memoryview(data)[:after], start)  # labels stay inside the record
        if name_end != after:
            raise WireError("dns_bad_rdata", "a name that does not fill its record")
    ttl = tail.ttl if tail.ttl < 0x8000_0000 else 0
    return Record(name, tail.rtype, tail.rclass, ttl, rdata, target), after


def parse(data: bytes | bytearray | memoryview) -> Message:
    """Every section of a message. Bytes after the last record are ignored (padding, as BIND does)."""
    view = bytes(data)
    if len(view) < HEADER_LEN:
        raise WireError("dns_truncated", f"{len(view)} bytes, no header")
    head = _HEADER.parse(view[:HEADER_LEN])
    offset = HEADER_LEN
    questions = []
    for _ in range(head.questions):
        name, offset = read_name(view, offset)
        if offset + QUESTION_TAIL_LEN > len(view):
            raise WireError("dns_truncated", "question runs past the message")
        tail = _QUESTION_TAIL.parse(view[offset : offset + QUESTION_TAIL_LEN])
        offset += QUESTION_TAIL_LEN
        questions.append(Question(name, tail.qtype, tail.qclass))
    sections: list[tuple[Record, ...]] = []
    for count in (head.answers, head.authority, head.additional):
        records = []
        for _ in range(count):
            record, offset = _record(view, offset)
            records.append(record)
        sections.append(tuple(records))
    f = head.flags
    return Message(head.ident, f.response, f.opcode, f.authoritative, f.truncated, f.recursion_desired,
                   f.recursion_available, f.rcode, tuple(questions), *sections)


def tcp_frame(message: bytes) -> bytes:
    """A message as it goes over TCP: after its length in two bytes (RFC 1035 4.2.2)."""
    return _LENGTH.pack(len(message)) + message


def tcp_length(prefix: bytes | bytearray | memoryview) -> int:
    """The length a TCP message's two-byte prefix gives; a zero length is no message."""
    (length,) = _LENGTH.unpack_from(prefix, 0)
    if length < HEADER_LEN:
        raise WireError("dns_truncated", f"a TCP message of {length} bytes")
    return int(length)


# -- for people (-verbose) --------------------------------------------------------------------------------


def type_name(rtype: int) -> str:
    return TYPE_NAMES.get(rtype, f"TYPE{rtype}")


def rcode_name(rcode: int) -> str:
    return RCODE_NAMES.get(rcode, f"RCODE{rcode}")


def describe_record(record: Record) -> str:
    if record.address is not None:
        value = ip_to_str(record.address)
    elif record.target is not None:
        value = record.target + "."
    else:
        value = f"({len(record.data)} bytes)"
    return f"{record.name}. {record.ttl} {type_name(record.rtype)} {value}"


def describe(message: Message) -> list[str]:
    """A summary as dig prints one: the header line, then each question and record."""
    flags = [flag for flag, on in (("qr", message.response), ("aa", message.authoritative),
                                   ("tc", message.truncated), ("rd", message.recursion_desired),
                                   ("ra", message.recursion_available)) if on]
    lines = [f"id {message.ident:#06x} {rcode_name(message.rcode) if message.response else 'QUERY'} "
             f"flags: {' '.join(flags) or '-'}; question {len(message.questions)}, answer {len(message.answers)}, "
             f"authority {len(message.authority)}, additional {len(message.additional)}"]
    lines.extend(f"  question: {q.name}. {type_name(q.qtype)}" for q in message.questions)
    for title, records in (("answer", message.answers), ("authority", message.authority),
                           ("additional", message.additional)):
        lines.extend(f"  {title}: {describe_record(r)}" for r in records)
    return lines
