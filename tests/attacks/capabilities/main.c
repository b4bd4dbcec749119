/* The same checks through the syscalls: capget, prctl, setuid. */
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        printf("capget failed\n");
    else
        for (int i = 0; i < 2; i++)
            if (d[i].effective || d[i].permitted || d[i].inheritable)
                printf("ESCAPED: capabilities %x %x %x\n", d[i].effective, d[i].permitted,
                       d[i].inheritable);
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
            printf("ESCAPED: capability %d in the bounding set\n", cap);
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        printf("ESCAPED: no_new_privs is off\n");
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2)
        printf("ESCAPED: no seccomp filter\n");
    if (prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0)
        printf("ESCAPED: cleared no_new_privs\n");
    if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)
        printf("ESCAPED: running as root\n");
    if (setuid(0) == 0 || setgid(0) == 0 || setreuid(0, 0) == 0)
        printf("ESCAPED: became root\n");
    printf("CONTAINED\n");
    return 0;
}
