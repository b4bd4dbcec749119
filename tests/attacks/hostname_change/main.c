#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (sethostname("pwned", 5) == 0)
        printf("ESCAPED: sethostname worked\n");
    else if (errno != EPERM)
        printf("sethostname: %s (EPERM expected)\n", strerror(errno));
    if (setdomainname("pwned", 5) == 0)
        printf("ESCAPED: setdomainname worked\n");
    printf("CONTAINED\n");
    return 0;
}
