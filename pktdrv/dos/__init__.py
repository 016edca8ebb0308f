"""A small DOS machine whose INT 0x60 is the emulated packet driver."""
