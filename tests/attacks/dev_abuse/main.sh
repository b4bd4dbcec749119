#!/bin/bash
if echo x > /dev/full 2>/dev/null; then echo "ESCAPED: /dev/full"; fi
for d in /dev/mem /dev/kmsg /dev/sda /dev/vda /dev/kvm /dev/port; do
    [ -e "$d" ] && echo "ESCAPED: $d exists"
done
if mknod /box/mem c 1 1 2>/dev/null; then echo "ESCAPED: mknod"; fi
if mknod /tmp/sda b 8 0 2>/dev/null; then echo "ESCAPED: mknod block"; fi
echo CONTAINED
