; Vectors: an entry written straight into the table (no INT 21h/25h) is honoured at once, and a program
; that hooks INT 21h and chains to the old handler (JMP FAR, so DOS is reached through our ROM stub)
; still gets DOS's results, the carry flag included. Prints "vectors ok" and exits 0; else the step.
org 100h
        xor ax, ax
        mov es, ax
        cli
        mov word [es:80h*4], on_int80      ; INT 80h written by hand
        mov [es:80h*4+2], cs
        sti
        int 80h
        mov cl, 1
        cmp byte [hits80], 1
        jne fail
        mov ax, 3521h                      ; hook INT 21h, chaining to the old handler
        int 21h
        mov [old21], bx
        mov [old21+2], es
        mov ax, 2521h
        mov dx, on_int21
        int 21h
        mov ah, 0EEh                       ; unknown: the stacked carry must come back set, AX=1
        clc
        int 21h
        mov cl, 2
        jnc fail
        mov cl, 3
        cmp ax, 1
        jne fail
        mov ah, 19h                        ; known: carry clear, AL=2 (drive C:)
        stc
        int 21h
        mov cl, 4
        cmp al, 2
        jne fail
        mov ah, 9
        mov dx, message
        int 21h
        push ds
        lds dx, [old21]
        mov ax, 2521h
        int 21h
        pop ds
        mov cl, 5
        cmp word [hits21], 4               ; 25h, EEh, 19h, 09h went through our hook
        jb fail
        mov ax, 4C00h
        int 21h
fail:   mov al, cl
        mov ah, 4Ch
        int 21h

on_int80:
        inc byte [cs:hits80]
        iret
on_int21:
        inc word [cs:hits21]
        jmp far [cs:old21]

hits80  db 0
hits21  dw 0
old21   dd 0
message db 'vectors ok', 13, 10, '$'
