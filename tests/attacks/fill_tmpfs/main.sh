#!/bin/bash
# dd into /tmp and /dev/shm until the filesystem is full.
for d in /tmp /dev/shm /box; do
    err=$(dd if=/dev/zero of=$d/fill bs=1M count=256 2>&1)
    size=$(stat -c %s $d/fill)
    echo "$d: $size bytes: $(echo "$err" | head -1)"
    if [ "$size" -gt $((65 * 1024 * 1024)) ]; then echo "ESCAPED: $d took $size bytes"; fi
    case "$err" in *"No space left"*) ;; *) echo "ESCAPED: $d not full: $err";; esac
    rm -f $d/fill
done
echo CONTAINED
