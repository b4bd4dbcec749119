#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    key_t key = (key_t)atol(getenv("SHM_KEY"));
    int id = shmget(key, 0, 0);
    if (id >= 0)
        printf("ESCAPED: found the host's segment %d\n", id);
    struct shm_info info;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
    if (max >= 0 && info.used_ids > 0)
        printf("ESCAPED: %d segments visible\n", info.used_ids);
    printf("CONTAINED\n");
    return 0;
}
