/* dereferences NULL: SIGSEGV */
#include <stdio.h>

int main(void) {
    long long a, b;
    volatile long long *nowhere = NULL;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    *nowhere = a + b;
    printf("%lld\n", *nowhere);
    return 0;
}
