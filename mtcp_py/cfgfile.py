"""Writing a DHCP lease into the mTCP configuration file, in the form mTCP's DHCP.EXE writes it.

DHCP.EXE (APPS/DHCP/DHCP.CPP, createNewCfg) writes `DHCPVER DHCP Client version ...` and
`TIMESTAMP ( seconds ) ctime` first, then every line of the old file except its own keys, then `IPADDR`,
`NETMASK`, `GATEWAY`, `NAMESERVER` and `LEASE_TIME` at the end. Here each of those keys replaces its
first line in place (a key repeated later is dropped, since the reader takes the last) and a key the file
lacks goes where DHCP.EXE puts it, so a file DHCP.EXE wrote comes out in the same order, and every other
line stays byte for byte, line ending included. Lines added take the file's own line ending (CR LF for a
DOS file). A DOS end-of-file mark (Ctrl-Z) ends what the reader sees, so new lines go before it and what
follows it is kept as it was.

The new file is written beside the old one and renamed over it (the directory entry changes at once), so
a crash leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence

from pktdrv.mtcpcfg import DOS_EOF, parse_lines

from .dhcp import Lease
from .wire import ip_to_str

HEAD_KEYS = ("DHCPVER", "TIMESTAMP")
"""Written at the top of the file when it has none (DHCP.EXE writes them first)."""
TAIL_KEYS = ("IPADDR", "NETMASK", "GATEWAY", "NAMESERVER", "LEASE_TIME")
"""Written at the end of the file when it has none."""
LEASE_KEYS = HEAD_KEYS + TAIL_KEYS


def lease_values(lease: Lease, wall_time: float, version: str) -> list[tuple[str, str]]:
    """The keys DHCP.EXE writes, with their values. `wall_time` is seconds since 1970 (the edge's clock);
    the TIMESTAMP's text is ctime's, in local time, as DHCP.EXE's is."""
    return [
        ("DHCPVER", f"DHCP Client version {version}"),
        ("TIMESTAMP", f"( {int(wall_time)} ) {time.ctime(wall_time)}"),
        ("IPADDR", ip_to_str(lease.address)),
        ("NETMASK", ip_to_str(lease.netmask)),
        ("GATEWAY", ip_to_str(lease.gateway)),
        ("NAMESERVER", ip_to_str(lease.nameserver)),
        ("LEASE_TIME", str(lease.lease_seconds or 0)),
    ]


def line_key(line: str) -> str:
    """The key a line sets, upper-cased, by the reader's own rules (pktdrv.mtcpcfg); "" for a blank line or
    a comment."""
    return next(iter(parse_lines(line)), "")


def _line_ending(lines: Sequence[str]) -> str:
    for line in lines:
        for ending in ("\r\n", "\n", "\r"):
            if line.endswith(ending):
                return ending
    return "\n"


def rewrite(original: bytes, values: Sequence[tuple[str, str]]) -> bytes:
    """`original` with each (KEY, value) set: the key's first line replaced, its later lines dropped, a
    missing key added (HEAD_KEYS at the top, the others at the end); every other byte unchanged."""
    # Lines are split exactly as the reader splits them (latin-1, str.splitlines), so a line this sees as
    # setting a key is one the reader sees setting it; latin-1 maps bytes to characters one to one.
    head, eof, after = original.decode("latin-1").partition(DOS_EOF)
    lines = head.splitlines(keepends=True)
    eol = _line_ending(lines)
    wanted = {key.upper(): value for key, value in values}
    out: list[str] = []
    written: set[str] = set()
    for line in lines:
        key = line_key(line)
        if key not in wanted:
            out.append(line)
        elif key not in written:
            ending = line[len(line.splitlines()[0]):] or eol
            out.append(f"{key} {wanted[key]}{ending}")
            written.add(key)
    if out and out[-1] == out[-1].splitlines()[0]:
        out[-1] += eol  # the last line had no ending: it needs one before anything is added after it
    missing = [key for key in wanted if key not in written]
    top = [f"{key} {wanted[key]}{eol}" for key in missing if key in HEAD_KEYS]
    end = [f"{key} {wanted[key]}{eol}" for key in missing if key not in HEAD_KEYS]
    return "".join(top + out + end + [eof, after]).encode("latin-1")


def without_lease_keys(text: str) -> str:
    """`text` with the lines this program is about to replace blanked (kept as empty lines, so the reader's
    line numbers stay right): mtcp-dhcp must run on a file whose IPADDR is missing or wrong, to mend it, as
    DHCP.EXE reads only PACKETINT, HOSTNAME and MTU."""
    head, eof, after = text.partition(DOS_EOF)
    lines = head.splitlines(keepends=True)
    kept = [line if line_key(line) not in LEASE_KEYS else line[len(line.splitlines()[0]):] for line in lines]
    return "".join(kept) + eof + after


def replace_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a new file beside `path` and rename it over `path` (through a symbolic link, to the
    file it names); the old file's permissions are kept. Raises OSError; on error `path` is untouched."""
    target = os.path.realpath(path)
    directory = os.path.dirname(target) or "."
    try:
        mode: int | None = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        # The rename is durable only once the directory is on disk too.
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_lease(path: str | os.PathLike[str], lease: Lease, wall_time: float, version: str) -> bytes:
    """Rewrite the configuration file at `path` with the lease; returns what was written. Raises OSError."""
    with open(path, "rb") as current:
        original = current.read()
    data = rewrite(original, lease_values(lease, wall_time, version))
    replace_file(path, data)
    return data
