; Copy standard input to standard output through INT 21h/3Fh and 40h in 700-byte chunks, after telling
; on stderr whether handle 0 and 1 are files or devices (IOCTL 00). Exit code: the command tail's first
; digit (exit codes pass through to the host).
org 100h
        mov ax, 4400h
        xor bx, bx
        int 21h
        mov al, 'F'
        test dl, 80h
        jz .file0
        mov al, 'D'
.file0: mov [kinds], al
        mov ax, 4400h
        mov bx, 1
        int 21h
        mov al, 'F'
        test dl, 80h
        jz .file1
        mov al, 'D'
.file1: mov [kinds+1], al
        mov ah, 40h
        mov bx, 2
        mov cx, 3
        mov dx, kinds
        int 21h
copy:   mov ah, 3Fh
        xor bx, bx
        mov cx, 700
        mov dx, buffer
        int 21h
        jc done
        or ax, ax
        jz done
        mov cx, ax
        mov ah, 40h
        mov bx, 1
        mov dx, buffer
        int 21h
        jmp copy
done:   xor al, al
        mov bl, [80h]           ; command tail length
        or bl, bl
        jz .exit
        mov al, [82h]           ; first character after the leading space
        sub al, '0'
.exit:  mov ah, 4Ch
        int 21h
kinds   db '??', 10
buffer  times 700 db 0
