/* Walk environ: the host's secret variable must not be there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(void) {
    const char *name = getenv("SECRET_ENV_NAME");
    if (!name)
        name = "EXECBOX_TEST_SECRET";
    size_t n = strlen(name);
    for (char **e = environ; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            printf("ESCAPED: %s is in the environment\n", name);
    printf("CONTAINED\n");
    return 0;
}
