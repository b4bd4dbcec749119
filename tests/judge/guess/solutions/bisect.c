#include <stdio.h>

int main(void) {
    int lo = 1, hi = 1000000;
    char answer[4];
    for (;;) {
        int mid = lo + (hi - lo) / 2;
        printf("%d\n", mid);
        fflush(stdout);
        if (scanf("%3s", answer) != 1 || answer[0] == '=') return 0;
        if (answer[0] == '<') hi = mid - 1; else lo = mid + 1;
    }
}
