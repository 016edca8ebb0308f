"""INT 21h handle and file functions (3Bh-57h, 4Eh/4Fh) on drive C: and the devices NUL and CON."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from .files import (
    CHARACTER_DEVICE,
    DEVICE_INFO_CON,
    DEVICE_INFO_NUL,
    DRIVE_C,
    ERROR_ACCESS_DENIED,
    ERROR_FILE_EXISTS,
    ERROR_FILE_NOT_FOUND,
    ERROR_INVALID_FUNCTION,
    ERROR_INVALID_HANDLE,
    ERROR_NO_MORE_FILES,
    ERROR_PATH_NOT_FOUND,
    ERROR_TOO_MANY_OPEN_FILES,
    DosError,
    OpenFile,
    attributes_of,
    dos_datetime,
    host_timestamp,
    open_host,
    standard_files,
    wildcard_match,
)

if TYPE_CHECKING:
    from .machine import Machine

MAX_HANDLES = 40
FIND_MAGIC = b"MTCPFIND"


class FileServices:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.files: list[OpenFile | None] = [*standard_files(), *([None] * (MAX_HANDLES - 5))]
        self.caller = (0, 0)
        self._searches: dict[int, tuple[Path, str, list[str], int, int]] = {}
        self._next_search = 1

    def trace(self, text: str) -> None:
        raise NotImplementedError

    def handle(self, number: int) -> OpenFile:
        file = self.files[number] if 0 <= number < len(self.files) else None
        if file is None:
            raise DosError(ERROR_INVALID_HANDLE, f"handle {number} is not open")
        return file

    def _path(self, segment: int, offset: int) -> str:
        return self.machine.memory.asciiz(segment, offset, 128).decode("latin-1")

    def _install(self, file: OpenFile) -> int:
        for number, slot in enumerate(self.files):
            if slot is None:
                self.files[number] = file
                return number
        if file.fd is not None and file.owns_fd:
            os.close(file.fd)
        raise DosError(ERROR_TOO_MANY_OPEN_FILES)

    def _device(self, name: str, mode: int) -> OpenFile:
        if name == "CON":
            # CON opened for reading is the keyboard side (the host's stdin), otherwise the screen side.
            fd = 0 if mode & 3 == 0 else 1
            return OpenFile("CON", fd, DEVICE_INFO_CON, console_input=fd == 0 and os.isatty(0), owns_fd=False)
        return OpenFile(name, None, DEVICE_INFO_NUL, owns_fd=False)

    def _open_path(self, dos_path: str, mode: int, create: bool, truncate: bool, exclusive: bool = False) -> int:
        device = self.machine.drive.device_name(dos_path)
        if device is not None:
            return self._install(self._device(device, mode))
        host = self.machine.drive.resolve(dos_path, must_exist=not create)
        if exclusive and host.exists():
            raise DosError(ERROR_FILE_EXISTS, dos_path)
        fd = open_host(host, mode, create, truncate)
        return self._install(OpenFile(dos_path, fd, DRIVE_C, host_path=str(host)))

    def create(self) -> None:
        cpu = self.machine.cpu
        path = self._path(cpu.ds, cpu.dx)
        cpu.ax = self._open_path(path, 2, create=True, truncate=True)
        cpu.ok()
        self.trace(f"3Ch create {path!r} -> handle {cpu.ax}")

    def create_new(self) -> None:
        cpu = self.machine.cpu
        path = self._path(cpu.ds, cpu.dx)
        cpu.ax = self._open_path(path, 2, create=True, truncate=False, exclusive=True)
        cpu.ok()
        self.trace(f"5Bh create new {path!r} -> handle {cpu.ax}")

    def open(self) -> None:
        cpu = self.machine.cpu
        path = self._path(cpu.ds, cpu.dx)
        mode = cpu.al
        self.trace(f"3Dh open {path!r} mode {mode:02X}h")
        cpu.ax = self._open_path(path, mode & 7, create=False, truncate=False)
        cpu.ok()
        self.trace(f"3Dh -> handle {cpu.ax}")

    def close(self) -> None:
        cpu = self.machine.cpu
        number = cpu.bx
        file = self.handle(number)
        self.files[number] = None
        self._release(file)
        cpu.ok()
        self.trace(f"3Eh close handle {number}")

    def _release(self, file: OpenFile) -> None:
        file.references -= 1
        if file.references <= 0 and file.fd is not None and file.owns_fd:
            try:
                os.close(file.fd)
            except OSError:
                pass

    def close_all(self) -> None:
        for number, file in enumerate(self.files):
            if file is not None:
                self.files[number] = None
                self._release(file)

    def delete(self) -> None:
        cpu = self.machine.cpu
        path = self._path(cpu.ds, cpu.dx)
        host = self.machine.drive.resolve(path)
        try:
            if host.is_dir():
                raise DosError(ERROR_ACCESS_DENIED, path)
            host.unlink()
        except OSError:
            raise DosError(ERROR_ACCESS_DENIED, path) from None
        cpu.ok()
        self.trace(f"41h delete {path!r}")

    def seek(self) -> None:
        cpu = self.machine.cpu
        file = self.handle(cpu.bx)
        whence = cpu.al
        if whence > 2:
            raise DosError(ERROR_INVALID_FUNCTION)
        distance = (cpu.cx << 16) | cpu.dx
        if whence != 0 and distance & 0x80000000:
            distance -= 1 << 32
        if file.fd is None or file.is_device:
            position = 0
        else:
            try:
                position = os.lseek(file.fd, distance, (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END)[whence])
            except OSError:
                position = 0  # a pipe cannot seek; DOS devices report position 0
        cpu.dx, cpu.ax = (position >> 16) & 0xFFFF, position & 0xFFFF
        cpu.ok()

    def attributes(self) -> None:
        cpu = self.machine.cpu
        path = self._path(cpu.ds, cpu.dx)
        host = self.machine.drive.resolve(path)
        if cpu.al == 0:
            cpu.cx = attributes_of(host)
            cpu.ax = cpu.cx
        elif cpu.al == 1:
            mode = host.stat().st_mode
            host.chmod(mode & ~0o222 if cpu.cx & 1 else mode | 0o200)
        else:
            raise DosError(ERROR_INVALID_FUNCTION)
        cpu.ok()

    def ioctl(self) -> None:
        cpu = self.machine.cpu
        al = cpu.al
        if al == 0x00:
            file = self.handle(cpu.bx)
            info = file.device_info if file.is_device else (DRIVE_C | (0 if file.written else 0x40))
            cpu.dx = info
            cpu.ax = info
            self.trace(f"44h/00 device information handle {cpu.bx} -> {info:04X}h")
        elif al == 0x01:
            file = self.handle(cpu.bx)
            if file.is_device:
                file.device_info = (file.device_info & 0xFF00) | (cpu.dl | CHARACTER_DEVICE)
        elif al in (0x06, 0x07):
            file = self.handle(cpu.bx)
            cpu.al = 0xFF
        elif al == 0x08:
            cpu.ax = 1  # drive C: is fixed
        elif al == 0x09:
            cpu.dx = 0
        elif al == 0x0A:
            file = self.handle(cpu.bx)
            cpu.dx = 0
        else:
            self.machine.unsupported(f"INT 21h AX=44{al:02X}h", *self.caller)
            raise DosError(ERROR_INVALID_FUNCTION)
        cpu.ok()

    def duplicate(self) -> None:
        cpu = self.machine.cpu
        file = self.handle(cpu.bx)
        number = self._install(file)
        file.references += 1
        cpu.ax = number
        cpu.ok()

    def force_duplicate(self) -> None:
        cpu = self.machine.cpu
        file = self.handle(cpu.bx)
        target = cpu.cx
        if not 0 <= target < len(self.files):
            raise DosError(ERROR_INVALID_HANDLE)
        old = self.files[target]
        if old is not None:
            self._release(old)
        self.files[target] = file
        file.references += 1
        cpu.ok()

    def current_directory(self) -> None:
        cpu = self.machine.cpu
        if cpu.dl not in (0, 3):
            raise DosError(15)
        self.machine.memory.write(cpu.ds, cpu.si, self.machine.drive.cwd_text().encode("latin-1") + b"\x00")
        cpu.ax = 0x0100
        cpu.ok()

    def change_directory(self) -> None:
        cpu = self.machine.cpu
        path = self._path(cpu.ds, cpu.dx)
        self.machine.drive.change_directory(path)
        cpu.ok()
        self.trace(f"3Bh chdir {path!r}")

    def rename(self) -> None:
        cpu = self.machine.cpu
        old = self._path(cpu.ds, cpu.dx)
        new = self._path(cpu.es, cpu.di)
        source = self.machine.drive.resolve(old)
        target = self.machine.drive.resolve(new, must_exist=False)
        if target.exists():
            raise DosError(ERROR_ACCESS_DENIED, new)
        try:
            source.rename(target)
        except OSError:
            raise DosError(ERROR_ACCESS_DENIED, old) from None
        cpu.ok()

    def file_time(self) -> None:
        cpu = self.machine.cpu
        file = self.handle(cpu.bx)
        if file.fd is None or file.is_device:
            cpu.cx, cpu.dx = 0, 0x21
            cpu.ok()
            return
        if cpu.al == 0:
            cpu.cx, cpu.dx = dos_datetime(os.fstat(file.fd).st_mtime)
        elif cpu.al == 1:
            stamp = host_timestamp(cpu.cx, cpu.dx)
            try:
                os.utime(file.fd, (stamp, stamp))
            except (OSError, NotImplementedError):
                pass
        else:
            raise DosError(ERROR_INVALID_FUNCTION)
        cpu.ok()

    # -- find first / next -------------------------------------------------------------------------------------

    def find_first(self) -> None:
        cpu = self.machine.cpu
        pattern = self._path(cpu.ds, cpu.dx)
        attributes = cpu.cx
        try:
            directory, name_pattern, names = self.machine.drive.directory_entries(pattern)
        except DosError as exc:
            raise DosError(ERROR_PATH_NOT_FOUND if exc.code != ERROR_PATH_NOT_FOUND else exc.code) from None
        search = self._next_search
        self._next_search += 1
        self._searches[search] = (directory, name_pattern, names, 0, attributes)
        self.trace(f"4Eh find first {pattern!r}")
        if not self._find(search):
            raise DosError(ERROR_FILE_NOT_FOUND if names else ERROR_NO_MORE_FILES, pattern)
        cpu.ok()

    def find_next(self) -> None:
        cpu = self.machine.cpu
        dta_segment, dta_offset = self.machine.dos.dta
        state = self.machine.memory.read(dta_segment, dta_offset, 12)
        if state[:8] != FIND_MAGIC:
            raise DosError(ERROR_NO_MORE_FILES)
        search = struct.unpack("<I", state[8:12])[0]
        if search not in self._searches or not self._find(search):
            raise DosError(ERROR_NO_MORE_FILES)
        cpu.ok()

    def _find(self, search: int) -> bool:
        directory, pattern, names, index, attributes = self._searches[search]
        while index < len(names):
            name = names[index]
            index += 1
            if name not in (".", "..") and (len(name.partition(".")[0]) > 8 or len(name.partition(".")[2]) > 3
                                            or name.count(".") > 1 or name.startswith(".")):
                continue  # not an 8.3 name: DOS could not show it
            if not (wildcard_match(pattern, name) or (name in (".", "..") and pattern in ("*.*", "*"))):
                continue
            host = directory / name
            try:
                found_attributes = attributes_of(host)
                st = host.stat()
            except OSError:
                continue
            if found_attributes & 0x10 and not attributes & 0x10:
                continue
            if not self.machine.drive._inside(host) and name not in (".", ".."):
                continue
            self._searches[search] = (directory, pattern, names, index, attributes)
            dos_time, dos_date = dos_datetime(st.st_mtime)
            entry = (FIND_MAGIC + struct.pack("<I", search)).ljust(21, b"\x00")
            entry += struct.pack("<BHHI", found_attributes, dos_time, dos_date, min(st.st_size, 0xFFFFFFFF))
            entry += name.upper().encode("latin-1", "replace")[:12].ljust(13, b"\x00")
            dta_segment, dta_offset = self.machine.dos.dta
            self.machine.memory.write(dta_segment, dta_offset, entry)
            return True
        del self._searches[search]
        return False
