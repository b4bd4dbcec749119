/* Write a file past RLIMIT_FSIZE (1 MiB here): the kernel sends SIGXFSZ. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char buf[1 << 16];
    memset(buf, 'F', sizeof buf);
    int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; i < 64; i++)
        write(fd, buf, sizeof buf);
    printf("ESCAPED: wrote 4 MiB past a 1 MiB file size limit\n");
    return 0;
}
