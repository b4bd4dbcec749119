/* Set the host's clock (no namespace isolates CLOCK_REALTIME). */
#include <stdio.h>
#include <time.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct timespec ts = {0, 0};
    int r = clock_settime(CLOCK_REALTIME, &ts);
    printf("ESCAPED: clock_settime returned %d\n", r);
    return 0;
}
