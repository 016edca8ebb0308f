; Monochrome mode 7: set through INT 10h, "mono" written at B000:0000 in reverse video (70h), "colour"
; written at B800:0000 (not shown in mode 7), INT 10h 0Fh's AH/AL as hex on row 1, the 12h/BL=10h BH (1:
; mono) on row 2, and the cursor hidden with INT 10h 01h CX=2000h. With argument 'w' it waits for a key.
org 100h
        mov ax, 0007h
        int 10h
        mov ax, 0B000h
        mov es, ax
        xor di, di
        mov si, mono
        mov ah, 70h
.mono:  lodsb
        or al, al
        jz .colour
        stosw
        jmp .mono
.colour: mov ax, 0B800h
        mov es, ax
        xor di, di
        mov si, colour
        mov ah, 07h
.col:   lodsb
        or al, al
        jz .info
        stosw
        jmp .col
.info:  mov ax, 0B000h
        mov es, ax
        mov di, 160
        mov ah, 0Fh
        int 10h
        mov dx, ax
        call hex_dx
        mov ah, 12h
        mov bl, 10h
        int 10h
        mov di, 320
        mov dl, bh
        xor dh, dh
        call hex_dx
        mov ah, 01h
        mov cx, 2000h
        int 10h
        cmp byte [82h], 'w'
        jne .done
        xor ah, ah
        int 16h
.done:  mov ax, 4C00h
        int 21h

hex_dx: mov cx, 4
.digit: rol dx, 4
        mov al, dl
        and al, 0Fh
        add al, '0'
        cmp al, '9'
        jbe .put
        add al, 7
.put:   mov ah, 07h
        stosw
        loop .digit
        ret

mono    db "mono", 0
colour  db "colour", 0
