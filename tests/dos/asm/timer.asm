; The timer: INT 1Ch counted over 18 BIOS ticks (HLT between them), then channel 0 reprogrammed to
; divisor 1024 (about 1,165 Hz, as mTCP's PING does) with an INT 08h handler that sends its own EOI and
; chains to the BIOS every 64th tick; 640 fast ticks must move the BIOS clock by exactly 10. Prints the
; counts in hex; restores the PIT and the vectors.
org 100h
        mov ax, 351Ch
        int 21h
        mov [old1c], bx
        mov [old1c+2], es
        mov ax, 251Ch
        mov dx, tick1c
        int 21h
        call read_ticks
        mov [start], ax
        sti
.wait18: hlt
        call read_ticks
        sub ax, [start]
        cmp ax, 18
        jb .wait18
        push ds
        lds dx, [old1c]
        mov ax, 251Ch
        int 21h
        pop ds
        mov ax, [count1c]
        call print_ax

        mov ax, 3508h
        int 21h
        mov [old08], bx
        mov [old08+2], es
        mov ax, 2508h
        mov dx, tick08
        int 21h
        cli
        mov al, 36h             ; channel 0, lobyte/hibyte, mode 3
        out 43h, al
        xor al, al              ; 1024 = 0400h
        out 40h, al
        mov al, 4
        out 40h, al
        call read_ticks
        mov [start], ax
        sti
.wait640: hlt
        cmp word [count08], 640
        jb .wait640
        cli
        mov al, 36h             ; back to 65536
        out 43h, al
        xor al, al
        out 40h, al
        out 40h, al
        push ds
        lds dx, [old08]
        mov ax, 2508h
        int 21h
        pop ds
        sti
        call read_ticks
        sub ax, [start]
        call print_ax
        mov ax, 4C00h
        int 21h

read_ticks:
        push es
        mov ax, 40h
        mov es, ax
        mov ax, [es:6Ch]
        pop es
        ret

tick1c: inc word [cs:count1c]
        iret

tick08: inc word [cs:count08]
        test word [cs:count08], 63
        jz .chain
        push ax
        mov al, 20h
        out 20h, al
        pop ax
        iret
.chain: jmp far [cs:old08]

%include "printax.inc"

start   dw 0
count1c dw 0
count08 dw 0
old1c   dd 0
old08   dd 0
