/* PTRACE_TRACEME, then PTRACE_ATTACH to the init: the first call kills the process. */
#include <stdio.h>
#include <sys/ptrace.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    printf("ESCAPED: ptrace returned\n");
    ptrace(PTRACE_ATTACH, 1, 0, 0);
    return 0;
}
