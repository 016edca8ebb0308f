"""The kernel's side of the TCP tests: a small program run inside the private namespace.

    python -m tests.real.kernel_peer MODE PORT SIZE [COUNT]

It runs as a separate process so that it does not share the GIL with the stack under test. It listens on
the kernel's address (except echo-clients, which connects to the stack), prints "ready", serves one
connection as MODE says, and prints the byte count and sha256 of what it sent or received. The stream it
sends is `chunk_stream(size)`, which the tests use too.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import sys
import threading
from collections.abc import Iterator

MiB = 1 << 20
KERNEL_IP = "10.0.2.1"
STACK_IP = "10.0.2.15"


def chunk_stream(size: int) -> Iterator[bytes]:
    """`size` bytes in chunks of at most 1 MiB, each numbered so that a misplaced chunk cannot pass."""
    block = random.Random(1).randbytes(MiB)
    i = 0
    while size > 0:
        chunk = (i.to_bytes(8, "big") + block[8:])[:size]
        yield chunk
        size -= len(chunk)
        i += 1


def drain(conn: socket.socket, digest: hashlib._Hash) -> int:
    total = 0
    while data := conn.recv(MiB):
        digest.update(data)
        total += len(data)
    return total


def echo_clients(port: int, size: int, count: int) -> bool:
    """`size` bytes on each of `count` connections to the stack's echo port; True when every echo is exact."""
    results: list[bool] = []

    def client(k: int) -> None:
        sock = socket.create_connection((STACK_IP, port), timeout=60)
        data = random.Random(k).randbytes(size)
        got = bytearray()

        def reader() -> None:
            while chunk := sock.recv(1 << 16):
                got.extend(chunk)

        thread = threading.Thread(target=reader)
        thread.start()
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        thread.join(90)
        results.append(bytes(got) == data)
        sock.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return len(results) == count and all(results)


def serve(mode: str, port: int, size: int) -> tuple[int, str]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((KERNEL_IP, port))
    server.listen(8)
    print("ready", flush=True)
    conn, _ = server.accept()
    conn.settimeout(120)
    digest = hashlib.sha256()
    total = 0
    if mode == "send":
        for chunk in chunk_stream(size):
            conn.sendall(chunk)
            digest.update(chunk)
            total += len(chunk)
        conn.shutdown(socket.SHUT_WR)
        drain(conn, hashlib.sha256())
    elif mode == "recv":
        total = drain(conn, digest)
    elif mode == "reset":
        for chunk in chunk_stream(size):
            conn.sendall(chunk)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() aborts
        conn.close()
        total = size
    elif mode == "half-close-reply":
        total = drain(conn, digest)
        conn.sendall(b"reply after your FIN")
        conn.close()
    elif mode == "half-close-first":
        conn.shutdown(socket.SHUT_WR)
        total = drain(conn, digest)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return total, digest.hexdigest()


def main() -> None:
    mode, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "echo-clients":
        ok = echo_clients(port, size, int(sys.argv[4]))
        print("ok" if ok else "bad", flush=True)
        return
    total, hexdigest = serve(mode, port, size)
    print(total, hexdigest, flush=True)


if __name__ == "__main__":
    main()
