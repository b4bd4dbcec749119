/* Create threads until it fails: threads count against the processes limit too. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *sleeper(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    int n = 0;
    pthread_t t;
    while (n < 100000 && pthread_create(&t, &a, sleeper, 0) == 0)
        n++;
    printf("%d threads\n", n);
    if (n >= 32)
        printf("ESCAPED: %d threads under a limit of 32 processes\n", n);
    printf("CONTAINED\n");
    return 0;
}
