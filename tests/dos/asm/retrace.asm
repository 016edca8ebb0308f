; Waits for the vertical retrace on the CGA/VGA status port 3DAh 50 times (end of one, then start of the
; next) and for the display-enable bit 50 times, then reads a CRT controller register back through
; 3D4h/3D5h. Prints "retrace ok" and the register read back; a constant status would spin forever.
org 100h
        mov dx, 3DAh
        mov cx, 50
.frame: in al, dx               ; wait while a vertical retrace is in progress
        test al, 08h
        jnz .frame
.start: in al, dx               ; then for the next to begin
        test al, 08h
        jz .start
        loop .frame
        mov cx, 50
.hor:   in al, dx
        test al, 01h
        jz .hor
.hor2:  in al, dx
        test al, 01h
        jnz .hor2
        loop .hor
        mov dx, 3D4h            ; cursor start register 0Ah := 2Dh, read back
        mov al, 0Ah
        out dx, al
        inc dx
        mov al, 2Dh
        out dx, al
        dec dx
        mov al, 0Ah
        out dx, al
        inc dx
        in al, dx
        xor ah, ah
        push ax
        mov ah, 9
        mov dx, ok
        int 21h
        pop ax
        call print_ax
        mov ax, 4C00h
        int 21h

%include "printax.inc"

ok      db "retrace ok", 0Dh, 0Ah, "$"
