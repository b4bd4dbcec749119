#!/bin/bash
# Delete everything reachable, then check that the runtime and the root are still there.
rm -rf --no-preserve-root / 2>/dev/null
for p in /usr/bin/python3 /usr/lib /etc/passwd /etc/ld.so.cache; do
    [ -e "$p" ] || echo "ESCAPED: $p was deleted (read-only mount expected)"
done
echo CONTAINED
