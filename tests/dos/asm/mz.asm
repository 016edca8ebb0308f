; An MZ executable written by hand: two segments, a relocation for the data segment's address, a stack
; segment, and a minimum allocation beyond the image (checked through the PSP's end-of-block word).
bits 16
header:
        db 'MZ'
        dw file_size % 512      ; bytes in the last page
        dw (file_size + 511) / 512
        dw 1                    ; relocations
        dw 2                    ; header paragraphs (32 bytes)
        dw 1000h                ; minimum extra paragraphs (64 KiB)
        dw 0FFFFh               ; maximum extra paragraphs
        dw stack_seg            ; SS (relative)
        dw 100h                 ; SP
        dw 0                    ; checksum
        dw start                ; IP
        dw 0                    ; CS (relative)
        dw reloc_table          ; relocation table offset
        dw 0                    ; overlay
reloc_table:
        dw fixup + 1, 0         ; the immediate of "mov ax, data_seg" in segment 0
        times 32 - ($ - header) db 0

section code vstart=0 align=16
start:
fixup:  mov ax, data_seg        ; relocated by the loader: plus the load segment
        mov ds, ax
        mov ah, 9
        mov dx, message
        int 21h
        mov ax, ss              ; SS must be the load segment plus stack_seg
        mov bx, ds
        sub ax, bx
        cmp ax, stack_seg - data_seg
        jne bad
        mov ah, 62h             ; the block must hold the image plus the minimum allocation
        int 21h
        mov es, bx
        mov ax, [es:2]
        sub ax, bx
        cmp ax, 1000h
        jb bad
        mov ax, 4C2Ah           ; 42: everything checked out
        int 21h
bad:    mov ax, 4C01h
        int 21h
        align 16, db 0
code_end:

data_seg equ (code_end - start) / 16
section data vstart=0 follows=code align=16
message db 'relocated data segment', 13, 10, '$'
        align 16, db 0
data_end:
stack_seg equ data_seg + (data_end - message) / 16
section stack follows=data align=16 vstart=0
        times 256 db 0

file_size equ 32 + (code_end - start) + (data_end - message) + 256
