; CPU faults chosen by the command tail: 'u' an invalid opcode, 'j' a jump into unmapped memory
; (C000:0000), 'd' a divide error with the default handler.
org 100h
        mov al, [82h]
        cmp al, 'u'
        je invalid
        cmp al, 'j'
        je far_away
        xor cx, cx
        div cl
        mov ax, 4C00h
        int 21h
invalid: db 0Fh, 0FFh, 0C3h
far_away: jmp 0C000h:0000h
