#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < 8; i++)
        if (fork() == 0) {
            volatile char *p = malloc(16 << 20);
            for (long j = 0; j < (16 << 20); j += 4096)
                p[j] = 1;
            sleep(1); /* all hold their block at once */
            _exit(p[4096] == 1 ? 0 : 1);
        }
    int held = 0, st;
    while (wait(&st) > 0)
        held += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (held == 8)
        printf("ESCAPED: 128 MiB held at once under a 64 MB limit\n");
    return 0;
}
