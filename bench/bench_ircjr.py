"""Benchmark (run as root: `python bench/bench_ircjr.py`): how many messages a second mtcp-ircjr takes
from a kernel-side flooder while its screen stays responsive, and its idle CPU while connected.

1. Flood: the screen runs headless (Textual's pilot) over TAP in a private namespace; a scripted server on a
   kernel socket sends N PRIVMSG lines to #vc as fast as TCP takes them. We time the last one's arrival in
   the session, and the time a key press takes to be handled while the flood runs.
2. Idle: the real program in tmux (a real terminal), connected and registered, left alone; its CPU time
   over the measurement window from /proc.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from mtcp_py.apps.ircjr_app import IrcjrApp  # noqa: E402
from mtcp_py.irc import IrcSettings  # noqa: E402
from mtcp_py.stack import Stack, StackConfig  # noqa: E402
from mtcp_py.wire import ip_from_str  # noqa: E402
from pktdrv import MonotonicTicks, open_link  # noqa: E402
from tests.irc.test_ircjr_app import until  # noqa: E402
from tests.irc.test_tmux import ScriptedServer, ircjr_in_tmux, wait_until  # noqa: E402
from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns  # noqa: E402

MESSAGES = 20_000
IDLE_SECONDS = 20.0


def flood(ns: NetNs) -> tuple[float, float]:
    server = ScriptedServer(ns)
    clock = MonotonicTicks()
    link = ns.call(lambda: open_link("tap:mtap0", clock))
    stack = Stack(link, StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP)), clock).init_stack()
    settings = IrcSettings(nick="jr", user="juser", real_name="Joe Retro", backscroll_channel=150)
    app = IrcjrApp(stack, settings, KERNEL_IP, 6667, "#vc")
    result: list[float] = []

    async def scenario() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.client.registered and app.client.current.name == "#vc", "the join")
            base = app.client.current.added
            lines = b"".join(b":Flood!f@h PRIVMSG #vc :message number %d of the flood, some text to fill\r\n" % i
                             for i in range(MESSAGES))
            start = time.monotonic()
            sender = threading.Thread(target=server.send, args=(lines,))
            sender.start()
            await until(pilot, lambda: app.client.current.added - base >= MESSAGES // 2, "half the flood", 120)
            before = time.monotonic()
            app.post_message(events.Key("x", "x"))  # a key press in the middle of the flood, as a terminal's
            while app.input_line.value != "x":
                await asyncio.sleep(0.001)  # polling the screen's state (the loop runs meanwhile)
            key_latency = time.monotonic() - before
            await until(pilot, lambda: app.client.current.added - base >= MESSAGES, "the whole flood", 120)
            result.extend([MESSAGES / (time.monotonic() - start), key_latency])
            sender.join()
            await pilot.press("alt+x")
            await until(pilot, lambda: not app.is_running, "the end")

    try:
        asyncio.run(scenario())
    finally:
        stack.end_stack()
        server.close()
    return result[0], result[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(ns: NetNs) -> float:
    server = ScriptedServer(ns)
    with TemporaryDirectory() as tmp, ircjr_in_tmux(ns, Path(tmp)) as tmux:
        wait_until(lambda: any("You joined channel #vc" in line for line in tmux.screen()), "the join")
        shell = int(tmux.run("display-message", "-p", "-t", tmux.name, "#{pane_pid}").strip())
        child = int(subprocess.run(["pgrep", "-P", str(shell)], capture_output=True, text=True).stdout.split()[0])
        time.sleep(2.0)  # let start-up work settle before measuring
        before, start = cpu_seconds(child), time.monotonic()
        time.sleep(IDLE_SECONDS)  # the measurement window itself, not a synchronisation
        used = cpu_seconds(child) - before
        share = used / (time.monotonic() - start) * 100
        tmux.run("send-keys", "-t", tmux.name, "M-x")
    server.close()
    return share


def main() -> int:
    with private_netns() as ns:
        rate, latency = flood(ns)
    with private_netns() as ns:
        idle = idle_cpu(ns)
    print(f"flood: {MESSAGES} messages at {rate:,.0f} messages/s; a key press during the flood took "
          f"{latency * 1000:.0f} ms")
    print(f"idle: {idle:.2f}% of a core over {IDLE_SECONDS:.0f} s connected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
