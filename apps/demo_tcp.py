"""The demo's TCP part: stack A sends a block of data to stack B's discard-like sink, with a progress bar."""

from __future__ import annotations

import hashlib
import os
import time

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from mtcp_py.runtime import turn
from mtcp_py.stack import Stack
from mtcp_py.tcp import TcpSocket
from mtcp_py.wire import ip_from_str

PORT = 9
CHUNK = 65_536


def transfer(console: Console, sender: Stack, receiver: Stack, receiver_ip: str, size: int) -> bool:
    """Send `size` random bytes from `sender` to `receiver` over TCP; True when they arrive intact."""
    listener = receiver.tcp.listen(PORT, backlog=1)
    client = sender.tcp.connect(ip_from_str(receiver_ip), PORT, now=sender.clock.now())
    data = os.urandom(size)
    expected = hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    received = 0
    sent = 0
    server: TcpSocket | None = None
    start = time.monotonic()
    stacks = (sender, receiver)
    with Progress("[bold]TCP A -> B", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console,
                  transient=False) as progress:
        task = progress.add_task("transfer", total=size)
        while time.monotonic() - start < 120:
            for stack in stacks:
                turn(stack)
            if server is None:
                server = listener.accept()
            if client.error or (server is not None and server.error):
                break
            if client.is_connected and sent < size:
                sent += client.send(data[sent : sent + CHUNK])
                if sent == size:
                    client.close()
            if server is not None:
                while chunk := server.recv(CHUNK):
                    digest.update(chunk)
                    received += len(chunk)
                progress.update(task, completed=received)
                if server.at_eof:
                    server.close()
                    break
    listener.close()
    for stack in stacks:
        turn(stack)
    ok = received == size and digest.hexdigest() == expected
    elapsed = time.monotonic() - start
    verdict = "[green]sha256 equal[/]" if ok else f"[red]failed: {client.error or 'incomplete'}[/]"
    console.print(f"  {received:,} bytes in {elapsed:.2f} s, {verdict}")
    return ok
