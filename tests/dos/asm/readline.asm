; DOS console input in a full screen: mode 3, then a line through INT 21h/0Ah (buffered input, 20 bytes)
; and one through 3Fh on handle 0; both are printed back between brackets with their lengths in hex.
org 100h
        mov ax, 0003h
        int 10h
        mov ah, 9
        mov dx, prompt
        int 21h
        mov ah, 0Ah
        mov dx, buffer
        int 21h
        mov ah, 9
        mov dx, open
        int 21h
        mov bl, [buffer + 1]
        xor bh, bh
        mov byte [buffer + 2 + bx], '$'
        mov ah, 9
        mov dx, buffer + 2
        int 21h
        mov ah, 9
        mov dx, close
        int 21h
        mov al, [buffer + 1]
        xor ah, ah
        call print_ax
        mov ah, 3Fh             ; the next line through the handle: it ends in CR LF
        xor bx, bx
        mov cx, 40
        mov dx, line
        int 21h
        push ax
        mov ah, 9
        mov dx, open
        int 21h
        pop cx
        push cx
        mov ah, 40h
        mov bx, 1
        mov dx, line
        int 21h
        mov ah, 9
        mov dx, close
        int 21h
        pop ax
        call print_ax
        xor ah, ah              ; wait for a key before ending
        int 16h
        mov ax, 4C00h
        int 21h

%include "printax.inc"

prompt  db "type:", 13, 10, "$"
open    db "[$"
close   db "] $"
buffer  db 20, 0
        times 22 db 0
line    times 40 db 0
