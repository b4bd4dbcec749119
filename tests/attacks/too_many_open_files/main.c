/* open() until EMFILE; then try to raise RLIMIT_NOFILE above the hard limit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int n = 0, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    printf("%d opened, then errno %d\n", n, errno);
    if (errno != EMFILE)
        printf("ESCAPED: errno %d, not EMFILE\n", errno);
    if (fd > 256 || n > 256)
        printf("ESCAPED: %d descriptors\n", n);
    struct rlimit r = {1 << 20, 1 << 20};
    if (setrlimit(RLIMIT_NOFILE, &r) == 0)
        printf("ESCAPED: raised RLIMIT_NOFILE\n");
    printf("CONTAINED\n");
    return 0;
}
