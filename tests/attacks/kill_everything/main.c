#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    kill(-1, SIGKILL);
    kill(1, SIGKILL);
    kill(1, SIGTERM);
    kill(0, SIGCONT);
    int host = atoi(getenv("HOST_PID")), canary = atoi(getenv("CANARY_PID"));
    if (host != getpid() && kill(host, 0) == 0)
        printf("ESCAPED: can signal the host's pid %d\n", host);
    if (canary != getpid() && kill(canary, SIGKILL) == 0)
        printf("ESCAPED: killed the canary %d\n", canary);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            kill(1, sig);
    printf("CONTAINED\n");
    return 0;
}
