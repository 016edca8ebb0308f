; Calls nobody serves: INT 21h AH=EEh twice (CF set, AX=1, reported once) and INT 99h.
org 100h
        mov ah, 0EEh
        stc
        clc
        int 21h
        jnc bad
        cmp ax, 1
        jne bad
        mov ah, 0EEh
        int 21h
        jnc bad
        int 99h
        mov ah, 9
        mov dx, ok
        int 21h
        mov ax, 4C00h
        int 21h
bad:    mov ax, 4C01h
        int 21h
ok      db 'unknown calls answered', 13, 10, '$'
