; Ctrl-C. Command tail 'h': INT 23h and 1Bh hooked, wait in INT 21h/0Bh until the INT 23h handler ran;
; 'd': the default INT 23h (DOS ends the program); 's': hooked, then spin without DOS calls (only a
; second Ctrl-C ends it); 'f': as 'h' in a full screen (mode 3 set first), where Ctrl-C is a key in the
; BIOS ring that DOS finds. Prints "ready" when waiting.
org 100h
        mov al, [82h]
        mov [mode], al
        cmp al, 'f'
        jne .hooks
        mov ax, 0003h
        int 10h
.hooks: cmp byte [mode], 'd'
        je .ready
        mov ax, 2523h
        mov dx, on_ctrl_c
        int 21h
        mov ax, 251Bh
        mov dx, on_break
        int 21h
.ready: mov ah, 9
        mov dx, ready
        int 21h
        cmp byte [mode], 's'
        je spin
.wait:  mov ah, 0Bh
        int 21h
        int 28h
        cmp byte [caught], 0
        je .wait
        mov ah, 9
        mov dx, caught_msg
        int 21h
        mov dl, [breaks]
        add dl, '0'
        mov ah, 2
        int 21h
        mov ax, 4C03h
        int 21h
spin:   jmp spin

on_ctrl_c:
        mov byte [cs:caught], 1
        iret
on_break:
        inc byte [cs:breaks]
        iret

mode    db 0
caught  db 0
breaks  db 0
ready   db 'ready', 13, 10, '$'
caught_msg db 'caught Ctrl-C, INT 1Bh count $'
