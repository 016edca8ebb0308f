#!/bin/sh
# QEMU 7.2+ with an ISA NE2000 on a stream socket that mtcp-nat (or mtcp-bridge) listens on:
#   mtcp-nat --guest 'qemu-stream:unix:/tmp/dos.sock?listen=1'
# DISK is a DOS disk image with an NE2000 packet driver (NE2000 0x60 9 0x300) and mTCP.
DISK=${1:?usage: qemu-ne2k.sh DISK.IMG}
exec qemu-system-i386 -m 16 -hda "$DISK" \
    -device ne2k_isa,iobase=0x300,irq=9,netdev=n0,mac=52:54:00:12:34:56 \
    -netdev stream,id=n0,server=off,addr.type=unix,addr.path=/tmp/dos.sock
