/* Read the init's memory with process_vm_readv. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/uio.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char buf[64];
    struct iovec local = {buf, sizeof buf}, remote = {(void *)0x400000, sizeof buf};
    process_vm_readv(1, &local, 1, &remote, 1, 0);
    printf("ESCAPED: process_vm_readv returned\n");
    return 0;
}
