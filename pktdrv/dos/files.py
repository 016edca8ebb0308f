"""Drive C: a host folder seen through DOS eyes, and the handles a program opens on it.

DOS paths are resolved inside the folder only: `..` past its root, another drive letter, or a host
symlink whose target lies outside are refused with the DOS error, never followed. 8.3 names match host
names case-insensitively. NUL and CON are the DOS devices wherever they appear.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# DOS error codes (INT 21h AX on CF, and 59h)
ERROR_INVALID_FUNCTION = 1
ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_TOO_MANY_OPEN_FILES = 4
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_INVALID_ACCESS = 12
ERROR_INVALID_DRIVE = 15
ERROR_NOT_SAME_DEVICE = 17
ERROR_NO_MORE_FILES = 18
ERROR_FILE_EXISTS = 80

DEVICE_NAMES = {"NUL", "CON", "AUX", "PRN", "CLOCK$", "COM1", "LPT1"}
CHARACTER_DEVICE = 0x80
DEVICE_INFO_CON = 0x80D3
"""IOCTL 00 for CON: character device, console in and out, special (INT 29h), not EOF."""
DEVICE_INFO_NUL = 0x8084
DRIVE_C = 2


class DosError(Exception):
    """A DOS call fails with `code` (what the program finds in AX with CF set)."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(detail or f"DOS error {code}")
        self.code = code


@dataclass
class OpenFile:
    """One open file or device (DOS's system file table entry)."""

    name: str
    fd: int | None = None
    """Host file descriptor (None for NUL)."""
    device_info: int = DRIVE_C
    console_input: bool = False
    owns_fd: bool = True
    references: int = 1
    written: bool = False
    host_path: str = ""

    @property
    def is_device(self) -> bool:
        return bool(self.device_info & CHARACTER_DEVICE)


def _is_console(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def standard_files() -> list[OpenFile]:
    """Handles 0-4: stdin, stdout, stderr from the host (a redirected one is a file to the program)."""
    files: list[OpenFile] = []
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        console = _is_console(fd)
        info = DEVICE_INFO_CON if console else DRIVE_C
        files.append(OpenFile(name, fd, info, console_input=console and fd == 0, owns_fd=False))
    files.append(OpenFile("AUX", None, DEVICE_INFO_NUL, owns_fd=False))
    files.append(OpenFile("PRN", None, DEVICE_INFO_NUL, owns_fd=False))
    return files


def dos_datetime(timestamp: float) -> tuple[int, int]:
    """A host time as DOS (time, date) words."""
    t = time.localtime(timestamp)
    year = min(max(t.tm_year, 1980), 2107)
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return dos_time, dos_date


def host_timestamp(dos_time: int, dos_date: int) -> float:
    year = 1980 + (dos_date >> 9)
    month = max(1, (dos_date >> 5) & 0x0F)
    day = max(1, dos_date & 0x1F)
    parts = (year, month, day, dos_time >> 11, (dos_time >> 5) & 0x3F, (dos_time & 0x1F) * 2, 0, 0, -1)
    return time.mktime(parts)


def split_83(name: str) -> tuple[str, str]:
    base, _, ext = name.upper().partition(".")
    return base, ext


def wildcard_match(pattern: str, name: str) -> bool:
    """DOS matching on the 8.3 fields: '?' any one character (or none at the end), '*' the rest of a field."""
    def expand(field_pattern: str, width: int) -> str:
        out = ""
        for ch in field_pattern:
            if ch == "*":
                return (out + "?" * width)[:width]
            out += ch
        return out[:width].ljust(width)

    pbase, pext = split_83(pattern)
    nbase, next_ = split_83(name)
    if "." not in pattern and pext == "" and "*" in pbase:
        pext = "*"
    for pat, val, width in ((expand(pbase, 8), nbase.ljust(8)[:8], 8), (expand(pext, 3), next_.ljust(3)[:3], 3)):
        for i in range(width):
            if pat[i] != "?" and pat[i] != val[i]:
                return False
    return True


@dataclass
class DriveC:
    """The host folder that is drive C:, and the current directory inside it."""

    root: Path
    cwd: list[str] = field(default_factory=list)
    """Current directory as host component names below the root."""
    overlays: dict[str, Path] = field(default_factory=dict)
    """DOS paths (upper case, e.g. C:\\MTCP.CFG) shown as other host files."""

    def __post_init__(self) -> None:
        self.root = Path(os.path.realpath(self.root))

    def cwd_text(self) -> str:
        return "\\".join(c.upper() for c in self.cwd)

    def device_name(self, dos_path: str) -> str | None:
        last = dos_path.replace("/", "\\").rsplit("\\", 1)[-1]
        if len(last) >= 2 and last[1] == ":":
            last = last[2:]
        base = last.partition(".")[0].upper().rstrip()
        return base if base in DEVICE_NAMES else None

    def _components(self, dos_path: str) -> list[str]:
        """The path as DOS components from the root of C:, `.` and `..` applied; errors as DOS gives them."""
        path = dos_path.replace("/", "\\")
        if len(path) >= 2 and path[1] == ":":
            if path[0].upper() != "C":
                raise DosError(ERROR_PATH_NOT_FOUND, f"drive {path[0]}: does not exist")
            path = path[2:]
        parts = list(self.cwd) if not path.startswith("\\") else []
        for part in path.split("\\"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise DosError(ERROR_PATH_NOT_FOUND, "path leaves drive C:")
                parts.pop()
                continue
            if any(c in part for c in '<>|"\x00') or len(part) > 255:
                raise DosError(ERROR_PATH_NOT_FOUND, f"bad name {part!r}")
            parts.append(part)
        return parts

    def _inside(self, host: Path) -> bool:
        real = os.path.realpath(host)
        return real == str(self.root) or real.startswith(str(self.root) + os.sep)

    def _match(self, directory: Path, name: str) -> str | None:
        """The host name in `directory` that DOS name `name` stands for (case-insensitive), or None."""
        if (directory / name).exists() or (directory / name).is_symlink():
            return name
        wanted = name.upper()
        try:
            for entry in os.listdir(directory):
                if entry.upper() == wanted:
                    return entry
        except OSError:
            return None
        return None

    def resolve(self, dos_path: str, *, must_exist: bool = True) -> Path:
        """The host path for `dos_path`; its directory must exist, and the file too when `must_exist`."""
        parts = self._components(dos_path)
        canonical = "C:\\" + "\\".join(p.upper() for p in parts)
        if canonical in self.overlays:
            return self.overlays[canonical]
        host = self.root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            found = self._match(host, part)
            if found is None:
                if last and not must_exist:
                    host = host / part
                    break
                raise DosError(ERROR_FILE_NOT_FOUND if last else ERROR_PATH_NOT_FOUND, dos_path)
            host = host / found
            if not self._inside(host):
                raise DosError(ERROR_PATH_NOT_FOUND if not last else ERROR_ACCESS_DENIED,
                               f"{dos_path} leads outside drive C:")
            if not last and not host.is_dir():
                raise DosError(ERROR_PATH_NOT_FOUND, dos_path)
        if not self._inside(host.parent if not host.exists() else host):
            raise DosError(ERROR_ACCESS_DENIED, f"{dos_path} leads outside drive C:")
        return host

    def change_directory(self, dos_path: str) -> None:
        parts = self._components(dos_path)
        host = self.root
        names: list[str] = []
        for part in parts:
            found = self._match(host, part)
            if found is None or not (host / found).is_dir():
                raise DosError(ERROR_PATH_NOT_FOUND, dos_path)
            host = host / found
            if not self._inside(host):
                raise DosError(ERROR_PATH_NOT_FOUND, f"{dos_path} leads outside drive C:")
            names.append(found)
        self.cwd = names

    def directory_entries(self, dos_pattern: str) -> tuple[Path, str, list[str]]:
        """The host directory a find pattern names, the name pattern, and the names in that directory."""
        path = dos_pattern.replace("/", "\\")
        prefix = path[:2] if len(path) >= 2 and path[1] == ":" else ""
        rest = path[len(prefix):]
        head, sep, pattern = rest.rpartition("\\")
        directory_path = prefix + ((head or "\\") if sep else ".")
        directory = self.resolve(directory_path)
        if not directory.is_dir():
            raise DosError(ERROR_PATH_NOT_FOUND, dos_pattern)
        names = sorted(os.listdir(directory))
        if directory != self.root:
            names = [".", "..", *names]
        return directory, pattern, names


def read_input(file: OpenFile, count: int) -> bytes:
    """Read from a host descriptor; the console gives DOS cooked lines (CR LF at the end)."""
    if file.fd is None:
        return b""
    try:
        data = os.read(file.fd, count)
    except OSError as exc:
        raise DosError(ERROR_ACCESS_DENIED, f"read: {exc.strerror}") from None
    if file.console_input:
        data = data.replace(b"\n", b"\r\n")[:count]
    return data


def write_output(file: OpenFile, data: bytes) -> int:
    if file.fd is None:
        return len(data)
    view = memoryview(data)
    written = 0
    while written < len(data):
        written += os.write(file.fd, view[written:])
    file.written = True
    return written


def readable_now(fd: int) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(ready)


def open_host(path: Path, mode: int, create: bool, truncate: bool) -> int:
    """Open a host file for DOS access mode `mode` (0 read, 1 write, 2 both)."""
    flags = {0: os.O_RDONLY, 1: os.O_WRONLY, 2: os.O_RDWR}.get(mode & 3)
    if flags is None:
        raise DosError(ERROR_INVALID_ACCESS)
    if create:
        flags |= os.O_CREAT
    if truncate:
        flags |= os.O_TRUNC
    try:
        if path.is_dir():
            raise DosError(ERROR_ACCESS_DENIED, f"{path} is a directory")
        return os.open(path, flags | getattr(os, "O_BINARY", 0), 0o644)
    except FileNotFoundError:
        raise DosError(ERROR_FILE_NOT_FOUND if path.parent.exists() else ERROR_PATH_NOT_FOUND) from None
    except PermissionError:
        raise DosError(ERROR_ACCESS_DENIED) from None
    except OSError:
        raise DosError(ERROR_ACCESS_DENIED) from None


def attributes_of(path: Path) -> int:
    st = os.stat(path)
    attributes = 0x10 if stat.S_ISDIR(st.st_mode) else 0x20
    if not st.st_mode & stat.S_IWUSR:
        attributes |= 0x01
    return attributes


def console_streams_flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
