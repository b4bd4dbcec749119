/* Raise RLIMIT_CORE (hard limit is 0) and abort: the run is signaled, no core is written. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &r) == 0)
        printf("ESCAPED: raised RLIMIT_CORE\n");
    printf("CONTAINED\n");
    abort();
}
