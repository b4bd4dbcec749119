#!/bin/bash
# A background process flips "out" between a file and a link to a host secret while the
# program exits: by collection time it is dead, and links are never followed anyway.
echo harmless > out
( while :; do ln -sf "$SECRET_PATH" out.new && mv -f out.new out; echo harmless > out.tmp && mv -f out.tmp out; done ) &
( while :; do ln -sf /etc/shadow out2.new && mv -f out2.new out2; done ) &
sleep 0.2
echo CONTAINED
