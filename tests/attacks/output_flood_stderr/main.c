/* Millions of one-byte writes to stderr. */
#include <unistd.h>

int main(void) {
    for (long i = 0; i < 100000000L; i++)
        if (write(2, "E", 1) < 0)
            return 1;
    return 0;
}
