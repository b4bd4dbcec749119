#!/bin/bash
# Same probe as main.py with the shell's tools.
for f in /etc/shadow /root/.bashrc /proc/1/environ /proc/1/mem "$SECRET_PATH" \
         "$TMP_SENTINEL" /run/execbox/slots/0.lock /work/main/pyproject.toml; do
    if out=$(head -c 200 "$f" 2>/dev/null) && [ -n "$out" ]; then
        echo "ESCAPED: read $f"
    fi
done
for d in /root /work /run/execbox /home "$SECRET_DIR" /sys /proc/1/root; do
    if [ -n "$(ls -A "$d" 2>/dev/null)" ]; then
        echo "ESCAPED: listed $d"
    fi
done
if cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep -q "^$SECRET_ENV_NAME="; then
    echo "ESCAPED: the host's secret variable in some /proc/*/environ"
fi
echo CONTAINED
