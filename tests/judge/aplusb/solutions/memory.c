/* touches 512 MiB, over the problem's 64 MB */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    size_t size = (size_t)512 << 20;
    volatile char *p = malloc(size);
    if (p == NULL) return 3;
    for (size_t i = 0; i < size; i += 4096) p[i] = (char)i;
    printf("%lld\n", a + b + p[size - 4096]);
    return 0;
}
