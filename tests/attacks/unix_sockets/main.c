/* connect() to the host's abstract unix socket by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *name = getenv("ABSTRACT_SOCKET");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(a.sun_path + 1, name, n);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof(sa_family_t) + 1 + n) == 0)
        printf("ESCAPED: connected to the host's abstract socket\n");
    else
        perror("connect");
    printf("CONTAINED\n");
    return 0;
}
