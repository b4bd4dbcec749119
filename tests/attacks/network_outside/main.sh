#!/bin/bash
if timeout 2 bash -c 'exec 3<>/dev/tcp/192.0.2.1/80' 2>/tmp/err; then
    echo "ESCAPED: connected to 192.0.2.1"
fi
cat /tmp/err
grep -q "unreachable" /tmp/err || echo "ESCAPED: not 'Network is unreachable' (a route exists?)"
ip route 2>&1 | grep . && echo "ESCAPED: the sandbox has routes"
echo CONTAINED
