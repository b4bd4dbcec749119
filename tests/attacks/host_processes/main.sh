#!/bin/bash
ps -e -o pid=,user=,comm= > /tmp/ps.txt
cat /tmp/ps.txt
# this shell and ps itself: nothing else
n=$(wc -l < /tmp/ps.txt)
if [ "$n" -gt 2 ]; then echo "ESCAPED: ps sees $n processes"; fi
if [ "$$" -gt 10 ]; then echo "ESCAPED: the shell is pid $$"; fi
if [ -d "/proc/$HOST_PID" ] && [ "$HOST_PID" != "$$" ]; then echo "ESCAPED: /proc/$HOST_PID"; fi
if ps -p "$CANARY_PID" >/dev/null 2>&1; then echo "ESCAPED: canary pid visible"; fi
echo CONTAINED
