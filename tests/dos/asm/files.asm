; DOS file services on drive C:: create, write, seek, read back, find, rename, delete, directories,
; and paths that leave the drive (refused). Prints one line per check; exit code = number of failures.
org 100h
start:
        mov ah, 3Ch             ; create TEST.TXT
        xor cx, cx
        mov dx, name1
        int 21h
        jc fail_create
        mov [handle], ax
        mov bx, ax
        mov ah, 40h
        mov cx, data_len
        mov dx, data
        int 21h
        cmp ax, data_len
        jne fail_write
        mov ax, 4200h           ; seek to offset 4
        mov bx, [handle]
        xor cx, cx
        mov dx, 4
        int 21h
        mov ah, 3Fh
        mov bx, [handle]
        mov cx, 5
        mov dx, buffer
        int 21h
        cmp ax, 5
        jne fail_read
        mov ah, 3Eh
        mov bx, [handle]
        int 21h
        mov ah, 40h             ; echo what was read back: "quick"
        mov bx, 1
        mov cx, 5
        mov dx, buffer
        int 21h
        call newline

        mov ah, 4Eh             ; find TEST.* on the drive
        mov cx, 0
        mov dx, pattern
        int 21h
        jc fail_find
        mov ah, 2Fh
        int 21h                 ; ES:BX = DTA
        lea si, [bx+1Eh]
        call print_es_si
        call newline

        mov ah, 56h             ; rename TEST.TXT -> RENAMED.TXT
        mov dx, name1
        mov di, name2
        push ds
        pop es
        int 21h
        jc fail_rename

        mov ah, 3Dh             ; ..\ESCAPE.TXT is outside the drive: refused
        mov al, 0
        mov dx, outside1
        int 21h
        jnc fail_outside
        call print_ax
        mov ah, 3Dh             ; D:\X is another drive: refused
        mov al, 0
        mov dx, outside2
        int 21h
        jnc fail_outside
        call print_ax
        mov ah, 3Dh             ; LINK\SECRET.TXT goes through a symlink that leaves the drive: refused
        mov al, 0
        mov dx, outside3
        int 21h
        jnc fail_outside
        call print_ax
        call newline

        mov ah, 3Dh             ; NUL is the DOS device
        mov al, 1
        mov dx, nulname
        int 21h
        jc fail_nul
        mov bx, ax
        mov ax, 4400h
        int 21h
        mov ax, dx
        call print_ax
        call newline

        mov ah, 39h             ; not served here: unknown calls answer CF set, AX=1
        mov dx, name2
        int 21h
        mov ah, 41h             ; delete RENAMED.TXT
        mov dx, name2
        int 21h
        jc fail_delete
        mov ah, 47h             ; current directory is the root: empty string
        xor dl, dl
        mov si, buffer
        int 21h
        mov dx, ok_msg
        mov ah, 9
        int 21h
        mov ax, 4C00h
        int 21h

fail_create: mov al, 1
        jmp fail
fail_write: mov al, 2
        jmp fail
fail_read: mov al, 3
        jmp fail
fail_find: mov al, 4
        jmp fail
fail_rename: mov al, 5
        jmp fail
fail_outside: mov al, 6
        jmp fail
fail_nul: mov al, 7
        jmp fail
fail_delete: mov al, 8
fail:   mov ah, 4Ch
        int 21h

newline:
        mov ah, 2
        mov dl, 13
        int 21h
        mov dl, 10
        int 21h
        ret

print_es_si:                    ; ASCIIZ at ES:SI
        mov dl, [es:si]
        or dl, dl
        jz .done
        mov ah, 2
        int 21h
        inc si
        jmp print_es_si
.done:  ret

print_ax:                       ; AX in hex and a space
        push ax
        mov cx, 4
.digit: rol ax, 4
        push ax
        and al, 0Fh
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 7
.out:   mov dl, al
        mov ah, 2
        int 21h
        pop ax
        loop .digit
        mov dl, ' '
        mov ah, 2
        int 21h
        pop ax
        ret

name1   db 'TEST.TXT', 0
name2   db 'RENAMED.TXT', 0
pattern db 'TEST.*', 0
outside1 db '..\ESCAPE.TXT', 0
outside2 db 'D:\X', 0
outside3 db 'LINK\SECRET.TXT', 0
nulname db 'NUL', 0
data    db 'the quick brown fox'
data_len equ $ - data
ok_msg  db 'files ok', 13, 10, '$'
handle  dw 0
buffer  times 64 db 0
