#include <stdio.h>

/* never flushes: the guess sits in its buffer while both sides wait (TLE) */
int main(void) {
    char answer[4];
    printf("500000\n");
    if (scanf("%3s", answer) != 1) return 1;
    return 0;
}
