#!/bin/bash
# Daemons that outlive the program: setsid, nohup, a double fork, a disowned job.
(setsid sleep 1000 &)
nohup sleep 1000 >/dev/null 2>&1 &
( ( sleep 1000 & ) & )
sleep 1000 &
disown
exit 0
