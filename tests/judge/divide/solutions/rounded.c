/* two decimals only: too far from the answer */
#include <stdio.h>

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("quotient %.2f\n", (double)a / (double)b);
    return 0;
}
