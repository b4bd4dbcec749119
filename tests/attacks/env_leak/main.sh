#!/bin/bash
if env | grep -q "^$SECRET_ENV_NAME="; then echo "ESCAPED: $SECRET_ENV_NAME in env"; fi
if declare -p "$SECRET_ENV_NAME" >/dev/null 2>&1; then echo "ESCAPED: $SECRET_ENV_NAME set"; fi
for f in /proc/[0-9]*/environ; do
    if tr '\0' '\n' < "$f" 2>/dev/null | grep -q "^$SECRET_ENV_NAME="; then
        echo "ESCAPED: $SECRET_ENV_NAME in $f"
    fi
done
echo CONTAINED
