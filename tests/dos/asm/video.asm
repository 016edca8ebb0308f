; The text screen: mode 3 set through INT 10h, then straight into video memory at B800:0000 every CP437
; character (rows 0-3, 64 a row, attribute 07h) and every attribute (rows 5-8, character 'X'); a window
; filled through INT 10h 09h and scrolled up with 06h (rows 10-14) and down with 07h (rows 16-18); answers of
; INT 10h 0Fh, 12h/BL=10h, 1Ah/00h and 08h written as hex on row 22; the hardware cursor moved to row 20,
; column 10 through the CRT controller (ports 3D4h/3D5h). With argument 'w' it waits for a key before
; ending (so that a terminal can be looked at); it always ends with exit code 0.
org 100h
        mov ax, 0003h           ; set mode 3 (clears)
        int 10h
        mov ax, 0B800h
        mov es, ax

        xor di, di              ; CP437: 256 characters, 64 per row
        xor bx, bx
.chars: mov ax, bx
        mov ah, 07h
        mov [es:di], ax
        add di, 2
        inc bx
        test bl, 63
        jnz .same1
        add di, (80 - 64) * 2
.same1: cmp bx, 256
        jb .chars

        mov di, 5 * 160         ; attributes 00h-FFh on 'X'
        xor bx, bx
.attrs: mov al, 'X'
        mov ah, bl
        mov [es:di], ax
        add di, 2
        inc bx
        test bl, 63
        jnz .same2
        add di, (80 - 64) * 2
.same2: cmp bx, 256
        jb .attrs

        mov dh, 10              ; rows 10-14: "aaaa..." to "eeee..." (20 columns) through INT 10h 02h/09h
        mov byte [letter], 'a'
.fill:  mov ah, 02h
        xor bh, bh
        xor dl, dl
        int 10h
        mov ah, 09h
        mov al, [letter]
        mov bx, 001Fh           ; page 0, white on blue
        mov cx, 20
        int 10h
        inc byte [letter]
        inc dh
        cmp dh, 15
        jb .fill
        mov ax, 0602h           ; scroll rows 10-14, columns 0-19 up by 2, blanks in 4Fh
        mov bh, 4Fh
        mov cx, 0A00h
        mov dx, 0E13h
        int 10h

        mov dh, 16              ; rows 16-18: "fff", "ggg", "hhh" (10 columns), scrolled down by 1 (blank 2Eh)
        mov byte [letter], 'f'
.fill2: mov ah, 02h
        xor bh, bh
        xor dl, dl
        int 10h
        mov ah, 0Ah
        mov al, [letter]
        xor bh, bh
        mov cx, 10
        int 10h
        inc byte [letter]
        inc dh
        cmp dh, 19
        jb .fill2
        mov ax, 0701h
        mov bh, 2Eh
        mov cx, 1000h
        mov dx, 1209h
        int 10h

        mov di, 22 * 160        ; row 22: 0Fh -> AH AL BH, 12h -> BH BL CX, 1Ah -> AL BL, 08h at (10,0) -> AX
        mov ah, 0Fh
        int 10h
        push bx
        mov dx, ax
        call hex_dx
        pop dx
        mov dl, 0
        xchg dh, dl
        call hex_dx
        mov ah, 12h
        mov bx, 0FF10h
        mov cx, 0FFFFh
        int 10h
        push cx
        mov dx, bx
        call hex_dx
        pop dx
        call hex_dx
        mov ax, 1A00h
        int 10h
        mov dh, al
        mov dl, bl
        call hex_dx
        mov ah, 02h
        xor bh, bh
        mov dx, 0A00h
        int 10h
        mov ah, 08h
        xor bh, bh
        int 10h
        mov dx, ax
        call hex_dx

        mov ah, 02h             ; teletype at row 23: a line that wraps the 80th column and a CR LF
        xor bh, bh
        mov dx, 1700h
        int 10h
        mov si, tty_text
.tty:   lodsb
        or al, al
        jz .cursor
        mov ah, 0Eh
        xor bh, bh
        int 10h
        jmp .tty

.cursor: mov dx, 3D4h           ; the hardware cursor at row 20, column 10: location 20 * 80 + 10 = 1610
        mov ax, (1610 >> 8) << 8 | 0Eh
        out dx, ax
        mov al, 0Fh
        out dx, al
        inc dx
        mov al, 1610 & 0FFh
        out dx, al

        cmp byte [82h], 'w'
        jne .done
        xor ah, ah
        int 16h
.done:  mov ax, 4C00h
        int 21h

; hex_dx: DX as four hex digits (white on black) at ES:DI, then a space; DI moves on.
hex_dx: mov cx, 4
.digit: rol dx, 4
        mov al, dl
        and al, 0Fh
        add al, '0'
        cmp al, '9'
        jbe .put
        add al, 7
.put:   mov ah, 0Fh
        stosw
        loop .digit
        mov ax, 0F20h
        stosw
        ret

letter  db 0
tty_text db "teletype ", 0Dh, 0Ah, "next", 0
