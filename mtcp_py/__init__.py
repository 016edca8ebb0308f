"""mtcp_py: a TCP/IP stack built the way mTCP is, on the emulated DOS packet driver (`pktdrv`)."""

from .config import ConfigError, MtcpConfig, load_config
from .stack import Stack, StackConfig, StackError

__all__ = ["ConfigError", "MtcpConfig", "Stack", "StackConfig", "StackError", "load_config"]
