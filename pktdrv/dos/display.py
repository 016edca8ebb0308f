"""Showing the screen from the run loop: a refresh about 30 times a second, never from a thread of its own.

The machine calls `ScreenRefresh.after_slice(now)` between CPU slices and `before_sleep(now)` before an idle
sleep, with its own clock's time; a snapshot goes to the `Display` only when it differs from the last one.
What a display does with it (draw on a terminal, keep it for a dump) is the display's business; once the
program draws a full screen, console output goes to video memory only (bios.py), for the display to show.
"""

from __future__ import annotations

from typing import Protocol

from .video import Video, VideoSnapshot

REFRESH_INTERVAL = 1 / 30


class Display(Protocol):
    def show(self, screen: VideoSnapshot) -> None:
        """The screen changed (or is shown for the first time)."""
        ...


class ScreenRefresh:
    def __init__(self, video: Video, display: Display, interval: float = REFRESH_INTERVAL) -> None:
        self.video = video
        self.display = display
        self.interval = interval
        self.next_due = 0.0
        self.last: VideoSnapshot | None = None
        self.refreshes = 0

    def refresh(self, now: float) -> None:
        screen = self.video.snapshot()
        self.next_due = now + self.interval
        if screen != self.last:
            self.last = screen
            self.refreshes += 1
            self.display.show(screen)

    def after_slice(self, now: float) -> None:
        if now >= self.next_due:
            self.refresh(now)

    def before_sleep(self, now: float) -> float | None:
        """Show what the program drew before it went idle; returns the seconds until a refresh still owed
        (the sleep must end by then), or None when the screen is up to date."""
        if now >= self.next_due:
            self.refresh(now)
            return None
        if self.video.snapshot() != self.last:
            return self.next_due - now
        return None
