/* daemon(3) plus a process that ignores every signal it can. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    if (fork() == 0) {
        for (int s = 1; s < 65; s++)
            signal(s, SIG_IGN);
        setsid();
        for (;;)
            pause();
    }
    if (daemon(0, 0) == 0) {
        execl("/bin/sleep", "sleep", "1000", (char *)0);
    }
    return 0;
}
