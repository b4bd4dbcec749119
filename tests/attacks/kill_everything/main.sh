#!/bin/bash
# kill -9 -1 kills everything this uid may signal except the caller: in the sandbox,
# nothing of the host. Then the init (pid 1) and the host's pids by number.
kill -9 -1
kill -9 1 2>/dev/null
kill -9 "$HOST_PID" 2>/dev/null && echo "ESCAPED: signalled the host's pid $HOST_PID"
kill -9 "$CANARY_PID" 2>/dev/null && echo "ESCAPED: signalled the canary $CANARY_PID"
echo CONTAINED
