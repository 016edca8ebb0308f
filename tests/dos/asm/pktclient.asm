; A packet-driver client: finds "PKT DRVR" at INT 60h, calls driver_info, registers ARP (0806) and IPv4
; (0800) with access_type, asks ARP who has 10.0.0.1, pings it once, refuses frames longer than its
; 256-byte buffers, reads get_statistics and releases both handles. Prints the peer's reply and the
; packets_in / packets_out / packets_lost counters in hex. Exit code: 0, or the step that failed.
org 100h
PKTINT  equ 60h
        xor ax, ax
        mov es, ax
        les bx, [es:PKTINT*4]
        lea di, [bx+3]
        mov si, signature
        mov cx, 8
        repe cmpsb
        mov al, 1
        jne fail
        mov ax, 01FFh           ; driver_info
        int PKTINT
        push cs
        pop ds
        mov al, 2
        jc fail
        cmp ch, 1               ; class 1: Ethernet
        jne fail
        mov si, arp_type        ; access_type for ARP
        mov dx, h_arp
        call access
        mov si, ip_type         ; and for IPv4
        mov dx, h_ip
        call access
        mov ah, 6               ; get_address
        mov bx, [h_arp]
        push cs
        pop es
        mov di, my_mac
        mov cx, 6
        int PKTINT
        mov al, 4
        jc fail
        mov si, my_mac          ; our MAC into both frames
        mov di, arp_frame + 6
        movsw
        movsw
        movsw
        mov si, my_mac
        mov di, arp_frame + 22
        movsw
        movsw
        movsw
        mov si, my_mac
        mov di, icmp_frame + 6
        movsw
        movsw
        movsw
        mov si, arp_frame       ; send_pkt: the ARP request (42 bytes: the driver pads it)
        mov cx, 42
        mov ah, 4
        int PKTINT
        mov al, 5
        jc fail
        sti
.arp:   int 28h
        cmp byte [got_arp], 0
        je .arp
        mov si, arp_buffer + 22 ; the peer's MAC, from its reply
        mov di, icmp_frame
        movsw
        movsw
        movsw
        mov si, icmp_frame + 14 ; IP header checksum
        mov cx, 10
        call checksum
        mov [icmp_frame + 24], ax
        mov si, icmp_frame + 34 ; ICMP checksum over header and payload
        mov cx, 20
        call checksum
        mov [icmp_frame + 36], ax
        mov si, icmp_frame
        mov cx, icmp_len
        mov ah, 4
        int PKTINT
        mov al, 6
        jc fail
.ping:  int 28h
        cmp byte [got_ip], 0
        je .ping
        mov al, 7
        cmp byte [ip_buffer + 34], 0  ; an echo reply
        jne fail
        mov ah, 24              ; get_statistics
        mov bx, [h_ip]
        int PKTINT
        mov al, 8
        jc fail
        mov ax, [si]            ; packets_in
        mov bx, [si+4]          ; packets_out
        mov dx, [si+24]         ; packets_lost
        push cs
        pop ds
        push dx
        push bx
        call print_ax
        pop ax
        call print_ax
        pop ax
        call print_ax
        mov ah, 3               ; release_type both
        mov bx, [h_ip]
        int PKTINT
        mov al, 9
        jc fail
        mov ah, 3
        mov bx, [h_arp]
        int PKTINT
        mov al, 10
        jc fail
        mov ah, 3               ; releasing again is an error: BAD_HANDLE (1) in DH
        mov bx, [h_arp]
        int PKTINT
        mov al, 11
        jnc fail
        cmp dh, 1
        jne fail
        mov ax, 4C00h
        int 21h
fail:   mov ah, 4Ch
        int 21h

access:                         ; access_type for the 2 type bytes at SI; handle stored at [DX]
        push dx
        mov ax, 0201h
        mov bx, 0FFFFh
        xor dl, dl
        mov cx, 2
        push cs
        pop es
        mov di, receiver
        int PKTINT
        pop dx
        mov bx, dx
        mov [bx], ax
        jnc .ok
        mov ax, 4C03h
        int 21h
.ok:    ret

; The receiver: a far routine the driver calls twice per frame with interrupts disabled.
receiver:
        or ax, ax
        jnz .filled
        xor di, di              ; refuse (0:0) frames that do not fit our 256-byte buffers
        mov es, di
        cmp cx, 256
        ja .done
        push cs
        pop es
        mov di, arp_buffer
        cmp bx, [cs:h_arp]
        je .done
        mov di, ip_buffer
.done:  retf
.filled:
        cmp bx, [cs:h_arp]
        jne .ip
        mov byte [cs:got_arp], 1
        retf
.ip:    mov byte [cs:got_ip], 1
        retf

checksum:                       ; CX big-endian words at SI -> AX, ready to store
        xor ax, ax
.next:  mov dx, [si]
        xchg dl, dh
        add ax, dx
        adc ax, 0
        add si, 2
        loop .next
        not ax
        xchg al, ah
        ret

%include "printax.inc"

signature db 'PKT DRVR'
arp_type db 08h, 06h
ip_type db 08h, 00h
h_arp   dw 0
h_ip    dw 0
got_arp db 0
got_ip  db 0
my_mac  times 6 db 0
arp_frame:
        times 6 db 0FFh
        times 6 db 0
        db 08h, 06h, 0, 1, 08h, 0, 6, 4, 0, 1
        times 6 db 0
        db 10, 0, 0, 2
        times 6 db 0
        db 10, 0, 0, 1
icmp_frame:
        times 12 db 0
        db 08h, 00h
        db 45h, 0, 0, 60, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1
        db 8, 0, 0, 0, 0, 1, 0, 1
        db 'abcdefghijklmnopqrstuvwxyz012345'
icmp_len equ $ - icmp_frame
arp_buffer times 256 db 0
ip_buffer times 256 db 0
