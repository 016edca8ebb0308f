; A full-screen program that faults: mode 3, a line in video memory, half a second of BIOS ticks (INT 28h
; while waiting, so the screen is drawn), then an invalid instruction. The machine must end with its one
; line and give the terminal back. With argument 'w' it waits for a key forever instead (to be killed).
org 100h
        mov ax, 0003h
        int 10h
        mov ax, 0B800h
        mov es, ax
        mov si, text
        xor di, di
        mov ah, 4Eh             ; yellow on red
.copy:  lodsb
        or al, al
        jz .wait
        stosw
        jmp .copy
.wait:  mov ah, 0
        int 1Ah
        mov bx, dx
.tick:  int 28h
        mov ah, 0
        int 1Ah
        sub dx, bx
        cmp dx, 9
        jb .tick
        cmp byte [82h], 'w'
        je .keys
        db 0Fh, 0Bh             ; UD2
.keys:  xor ah, ah
        int 16h
        jmp .keys

text    db "about to fault", 0
