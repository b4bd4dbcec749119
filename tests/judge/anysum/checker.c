/* testlib-style checker: checker input.txt output.txt answer.txt
 * exit 0 accepted, 1 wrong answer, 2 presentation error, 3 the checker failed;
 * the message goes to stderr. */
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: checker input output answer\n");
        return 3;
    }
    FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "r");
    long long n, a, b;
    char extra[2];
    if (in == NULL || out == NULL || fscanf(in, "%lld", &n) != 1) {
        fprintf(stderr, "cannot read the input\n");
        return 3;
    }
    if (fscanf(out, "%lld %lld", &a, &b) != 2) {
        fprintf(stderr, "expected two integers\n");
        return 2;
    }
    if (fscanf(out, "%1s", extra) == 1) {
        fprintf(stderr, "extra output after the two integers\n");
        return 2;
    }
    if (a < 0 || b < 0 || a > n || b != n - a) {
        fprintf(stderr, "%lld + %lld is not %lld\n", a, b, n);
        return 1;
    }
    fprintf(stderr, "ok %lld + %lld = %lld\n", a, b, n);
    return 0;
}
