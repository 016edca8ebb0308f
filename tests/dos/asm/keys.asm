; A key echoer: sets mode 3 (a full-screen program), then for each key read through INT 16h AH=10h prints
; "AX shift" in hex (the shift state from INT 16h AH=02h while the key waits), one key a line, until 'q'.
; With argument 'b' it first idles 2 s (INT 28h) while keys pile up, then prints how many keys the BIOS
; ring at 0040:001E holds (from its head and tail pointers at 0040:001A/001C).
org 100h
        mov ax, 0003h
        int 10h
        mov ah, 9
        mov dx, ready
        int 21h
        cmp byte [82h], 'b'
        jne .next
.wait:  mov ah, 0               ; let a burst pile up: 2 s of BIOS ticks
        int 1Ah
        mov [start], dx
.tick:  int 28h
        mov ah, 0
        int 1Ah
        sub dx, [start]
        cmp dx, 36
        jb .tick
        push es
        mov ax, 40h
        mov es, ax
        mov ax, [es:1Ch]        ; (tail - head) mod 32 bytes, two per key
        sub ax, [es:1Ah]
        and ax, 1Fh
        shr ax, 1
        pop es
        push ax
        mov ah, 9
        mov dx, waiting
        int 21h
        pop ax
        call print_ax
.next:  mov ah, 11h              ; wait for a key (polling), then the shift state while it waits
        int 16h
        jz .next
        mov ah, 02h
        int 16h
        mov [shift], al
        mov ah, 10h
        int 16h
        cmp ax, 1071h           ; 'q'
        je .done
        push ax
        call print_hex
        mov dl, ' '
        mov ah, 2
        int 21h
        pop ax
        mov al, [shift]
        xor ah, ah
        call print_ax
        jmp .next
.done:  mov ax, 4C00h
        int 21h

; print_hex: AX as four hex digits (no line end)
print_hex:
        mov cx, 4
.digit: rol ax, 4
        push ax
        push cx
        and al, 0Fh
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 7
.out:   mov dl, al
        mov ah, 2
        int 21h
        pop cx
        pop ax
        loop .digit
        ret

%include "printax.inc"

ready   db "keys ready", 0Dh, 0Ah, "$"
waiting db "waiting $"
start   dw 0
shift   db 0
