/* connect() to the host's 127.0.0.1 listener. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(getenv("LISTEN_PORT")))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
        printf("ESCAPED: connected to 127.0.0.1\n");
    else
        printf("connect: %s\n", strerror(errno));
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = htons(atoi(getenv("UDP_PORT")));
    if (sendto(u, "hi", 2, 0, (struct sockaddr *)&a, sizeof a) == 2)
        printf("udp sendto did not fail\n");
    printf("CONTAINED\n");
    return 0;
}
