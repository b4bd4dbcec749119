/* Four threads spinning: the group's CPU time grows faster than the wall clock. */
#include <pthread.h>

static void *spin(void *arg) {
    volatile unsigned long n = 0;
    (void)arg;
    for (;;)
        n++;
    return 0;
}

int main(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], 0, spin, 0);
    spin(0);
}
