"""Private network namespaces with a TAP device, for tests against the Linux kernel as the peer.

Every frame stays inside the namespace: the kernel's side of the TAP device is 10.0.2.1/24 and the stack
under test is 10.0.2.15. The test process itself never leaves its own namespace: links are opened from a
short-lived thread that has joined the private one (setns affects only the calling thread), and shell
commands run under `ip netns exec`.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest

CLONE_NEWNET = 0x40000000
KERNEL_IP = "10.0.2.1"
STACK_IP = "10.0.2.15"
TAP = "mtap0"
T = TypeVar("T")
_counter = itertools.count()


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a private network namespace and a TAP device")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2 (ip)")
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("needs /dev/net/tun")


class NetNs:
    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 60,
            **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.cmd(*args), check=check, timeout=timeout, capture_output=True, text=True,
                              **kwargs)  # type: ignore[call-overload]

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.cmd(*args), **kwargs)  # type: ignore[call-overload]

    def popen_text(self, *args: str, **kwargs: object) -> subprocess.Popen[str]:
        """As popen, with text streams."""
        return subprocess.Popen(self.cmd(*args), text=True, **kwargs)  # type: ignore[call-overload]

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on a thread inside the namespace (to open a TAP device or a socket there)."""
        result: list[T] = []
        error: list[BaseException] = []

        def inside() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(self.path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            try:
                result.append(fn())
            except BaseException as exc:  # handed to the caller's thread
                error.append(exc)

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return result[0]


@contextmanager
def private_netns(tap: str = TAP, kernel_cidr: str = f"{KERNEL_IP}/24", mtu: int = 1500) -> Iterator[NetNs]:
    need_root()
    name = f"mtcpt{os.getpid()}x{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    ns = NetNs(name)
    try:
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "tuntap", "add", "dev", tap, "mode", "tap")
        ns.run("ip", "link", "set", tap, "mtu", str(mtu))
        ns.run("ip", "addr", "add", kernel_cidr, "dev", tap)
        ns.run("ip", "link", "set", tap, "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


class StackThread:
    """Runs a stack's poll loop on a thread of its own while the test drives peers from the main thread.

    Only this thread touches the stack while it runs; `call(fn)` runs `fn(stack)` on it between polls.
    """

    def __init__(self, stack: object) -> None:
        from mtcp_py.runtime import run_until

        self.stack = stack
        self._stop = threading.Event()
        self._calls: list[tuple[Callable[[object], object], list[object], threading.Event]] = []
        self._lock = threading.Lock()
        self.error: BaseException | None = None

        def loop() -> None:
            try:
                run_until(stack, self._serve)  # type: ignore[arg-type]
            except BaseException as exc:
                self.error = exc

        self._thread = threading.Thread(target=loop, name="stack main line", daemon=True)

    def _serve(self) -> bool:
        with self._lock:
            calls, self._calls = self._calls, []
        for fn, out, done in calls:
            try:
                out.append(fn(self.stack))
            except BaseException as exc:
                out.append(exc)
            done.set()
        return self._stop.is_set()

    def call(self, fn: Callable[[object], T], timeout: float = 30) -> T:
        out: list[object] = []
        done = threading.Event()
        with self._lock:
            self._calls.append((fn, out, done))  # type: ignore[arg-type]
        if not done.wait(timeout):
            raise TimeoutError("the stack thread did not answer")
        if isinstance(out[0], BaseException):
            raise out[0]
        return out[0]  # type: ignore[return-value]

    def __enter__(self) -> StackThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.error is not None:
            raise self.error
