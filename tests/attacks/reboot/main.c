/* reboot(2): on the host it reboots; in a pid namespace it would kill the init. */
#include <stdio.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sync();
    int r = reboot(RB_POWER_OFF);
    printf("ESCAPED: reboot returned %d\n", r);
    return 0;
}
