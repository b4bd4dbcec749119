/* One mmap of 1 GiB with MAP_POPULATE: the kernel faults every page in at once. */
#include <stdio.h>
#include <sys/mman.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    size_t size = 1UL << 30;
    char *p = mmap(0, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    printf("ESCAPED: populated 1 GiB under a 64 MB limit\n");
    return 0;
}
