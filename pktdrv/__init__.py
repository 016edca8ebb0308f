"""pktdrv: the DOS packet driver interface (PC/TCP Packet Driver Specification 1.11), emulated.

It knows nothing of the stack that calls it, as a DOS packet driver knows nothing of its caller.
"""

from .clock import TICK_HZ, Clock, MonotonicTicks, VirtualClock, ms_to_ticks
from .driver import (
    DriverInfo,
    FunctionNumber,
    InterfaceClass,
    PacketDriver,
    Parameters,
    ReceiveMode,
    Receiver,
    Statistics,
)
from .errors import ErrorCode, PacketDriverError
from .links import Link, LinkError, open_link
from .registry import SIGNATURE, DriverRegistry

__all__ = [
    "SIGNATURE",
    "TICK_HZ",
    "Clock",
    "DriverInfo",
    "DriverRegistry",
    "ErrorCode",
    "FunctionNumber",
    "InterfaceClass",
    "Link",
    "LinkError",
    "MonotonicTicks",
    "PacketDriver",
    "PacketDriverError",
    "Parameters",
    "ReceiveMode",
    "Receiver",
    "Statistics",
    "VirtualClock",
    "ms_to_ticks",
    "open_link",
]
