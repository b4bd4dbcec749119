#include <stdio.h>

int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 1;
    for (long d = 1; d <= n; d++)
        if (n % d == 0) printf("%ld\n", d);
    return 0;
}
