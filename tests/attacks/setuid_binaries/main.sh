#!/bin/bash
out=$(su -c 'id -u' < /dev/null 2>/dev/null)
[ "$out" = 0 ] && echo "ESCAPED: su gave uid 0"

if command -v sudo >/dev/null; then
    out=$(sudo -n id -u 2>/dev/null)
    [ "$out" = 0 ] && echo "ESCAPED: sudo gave uid 0"
fi
passwd -S 2>/dev/null
mount -t tmpfs none /box 2>/dev/null && echo "ESCAPED: setuid mount worked"
newgrp root < /dev/null 2>/dev/null
[ "$(id -u)" != 0 ] || echo "ESCAPED: uid 0"
echo CONTAINED
