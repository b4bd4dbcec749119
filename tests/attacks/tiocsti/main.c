#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char c = 'x';
    for (int fd = 0; fd < 3; fd++) {
        if (ioctl(fd, TIOCSTI, &c) == 0)
            printf("ESCAPED: TIOCSTI on fd %d\n", fd);
        else if (errno != EPERM)
            printf("ESCAPED? fd %d: %s, EPERM expected\n", fd, strerror(errno));
        /* the kernel ignores the upper half of the request number */
        if (ioctl(fd, 0x100000000UL | TIOCSTI, &c) == 0)
            printf("ESCAPED: TIOCSTI with high bits on fd %d\n", fd);
    }
    printf("CONTAINED\n");
    return 0;
}
