#!/bin/bash
for d in / /usr /usr/bin /usr/local /etc /bin /lib /dev /proc /root /run /var; do
    if ( echo x > "$d/execbox-was-here" ) 2>/dev/null; then echo "ESCAPED: wrote in $d"; fi
    if mkdir "$d/execbox-dir" 2>/dev/null; then echo "ESCAPED: mkdir in $d"; fi
done
for f in /etc/passwd /etc/hosts /usr/bin/python3 /proc/sys/kernel/hostname \
         /proc/sysrq-trigger "$SECRET_PATH" "$TMP_SENTINEL"; do
    # the host's bait paths do not exist here (the sandbox's /tmp is its own)
    [ -e "$f" ] || continue
    if ( echo x >> "$f" ) 2>/dev/null; then echo "ESCAPED: appended to $f"; fi
    if touch -d 2000-01-01 "$f" 2>/dev/null; then echo "ESCAPED: touched $f"; fi
    if chmod 777 "$f" 2>/dev/null; then echo "ESCAPED: chmod $f"; fi
done
if cp /bin/true /usr/bin/true 2>/dev/null; then echo "ESCAPED: replaced /usr/bin/true"; fi
echo CONTAINED
