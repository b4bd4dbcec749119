#!/bin/bash
grep -E '^(Cap|NoNewPrivs|Seccomp:|Uid|Gid)' /proc/self/status
for k in CapInh CapPrm CapEff CapBnd CapAmb; do
    v=$(awk -v k="$k:" '$1 == k {print $2}' /proc/self/status)
    [ "$v" = 0000000000000000 ] || echo "ESCAPED: $k = $v"
done
[ "$(awk '$1 == "NoNewPrivs:" {print $2}' /proc/self/status)" = 1 ] || echo "ESCAPED: NoNewPrivs"
[ "$(awk '$1 == "Seccomp:" {print $2}' /proc/self/status)" = 2 ] || echo "ESCAPED: Seccomp"
[ "$(id -u)" != 0 ] || echo "ESCAPED: uid 0"
echo CONTAINED
