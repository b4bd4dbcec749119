#!/bin/bash
h=$(hostname)
[ "$h" != "$HOST_HOSTNAME" ] || echo "ESCAPED: the host's hostname is visible"
if hostname pwned 2>/dev/null; then echo "ESCAPED: hostname pwned worked"; fi
if (echo pwned > /proc/sys/kernel/hostname) 2>/dev/null; then echo "ESCAPED: /proc/sys write"; fi
[ "$(hostname)" = "$h" ] || echo "ESCAPED: hostname changed"
echo CONTAINED
