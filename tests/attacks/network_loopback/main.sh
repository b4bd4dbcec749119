#!/bin/bash
if exec 3<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"; then echo "ESCAPED: bash /dev/tcp connected"; fi
echo hi > "/dev/udp/127.0.0.1/$UDP_PORT" 2>/dev/null
ip -o link
if ip link set lo up 2>/dev/null; then echo "ESCAPED: ip link set lo up"; fi
echo CONTAINED
