/* Unbounded recursion with a 4 KiB frame that is really used. */
#include <stdio.h>
#include <string.h>

static unsigned long depth(unsigned long n) {
    volatile char frame[4096];
    memset((char *)frame, (int)n, sizeof frame);
    return depth(n + 1) + frame[n % sizeof frame];
}

int main(void) {
    printf("%lu\n", depth(0));
    return 0;
}
