/* 1 GiB to stdout in 64 KiB writes. */
#include <string.h>
#include <unistd.h>

int main(void) {
    static char buf[1 << 16];
    memset(buf, 'A', sizeof buf);
    for (int i = 0; i < (1 << 14); i++)
        if (write(1, buf, sizeof buf) < 0)
            return 1;
    return 0;
}
