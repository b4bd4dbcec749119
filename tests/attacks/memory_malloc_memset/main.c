/* malloc 1 MiB blocks and touch every byte, forever. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (unsigned long total = 0;; total++) {
        char *p = malloc(1 << 20);
        if (!p) {
            printf("malloc failed after %lu MiB\n", total);
            return 1;
        }
        memset(p, (int)total | 1, 1 << 20);
        if (total > 1024)
            printf("ESCAPED: touched %lu MiB under a 64 MB limit\n", total);
    }
}
