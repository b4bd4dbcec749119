#!/bin/bash
# strace is a ptrace user: it dies by SIGSYS at its first ptrace call.
exec strace -f /bin/true
