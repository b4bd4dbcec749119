/* fork() forever, in every child too; failures (EAGAIN at the pids limit) are ignored. */
#include <unistd.h>

int main(void) {
    for (;;)
        fork();
}
