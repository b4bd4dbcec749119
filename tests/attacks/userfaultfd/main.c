/* userfaultfd: the usual primitive for winning kernel races. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    printf("ESCAPED: userfaultfd returned %ld\n", fd);
    return 0;
}
