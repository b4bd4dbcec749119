#!/bin/bash
if (echo b > /proc/sysrq-trigger) 2>/dev/null; then echo "ESCAPED: sysrq-trigger"; fi
if (echo '|/tmp/x' > /proc/sys/kernel/core_pattern) 2>/dev/null; then echo "ESCAPED: core_pattern"; fi
if (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then echo "ESCAPED: drop_caches"; fi
if (echo 1 > /proc/sys/net/ipv4/ip_forward) 2>/dev/null; then echo "ESCAPED: ip_forward"; fi
echo CONTAINED
