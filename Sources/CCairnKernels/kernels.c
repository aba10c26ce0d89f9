#define _GNU_SOURCE 1
#include "cairn_kernels.h"

#include <fcntl.h>
#include <unistd.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>

#include <string.h>
#include <stdio.h>
#include <errno.h>

size_t cairn_fastcdc_cut(const uint8_t *data, size_t available, const uint64_t *gear,
                         size_t minimum, size_t average, size_t maximum,
                         uint64_t small_mask, uint64_t large_mask) {
    if (available <= minimum) return available;
    size_t limit = available < maximum ? available : maximum;
    size_t normal = average < limit ? average : limit;
    uint64_t hash = 0;
    size_t i = minimum;
    for (; i < normal; i++) {
        hash = (hash << 1) + gear[data[i]];
        if ((hash & small_mask) == 0) return i;
    }
    for (; i < limit; i++) {
        hash = (hash << 1) + gear[data[i]];
        if ((hash & large_mask) == 0) return i;
    }
    return limit;
}

int cairn_is_zero(const uint8_t *data, size_t length) {
    static const uint8_t zeros[4096];
    while (length >= sizeof zeros) {
        if (memcmp(data, zeros, sizeof zeros) != 0) return 0;
        data += sizeof zeros;
        length -= sizeof zeros;
    }
    return length == 0 || memcmp(data, zeros, length) == 0;
}

int cairn_o_noatime(void) { return O_NOATIME; }
int cairn_o_path(void) { return O_PATH; }

int cairn_o_direct(void) { return O_DIRECT; }

int cairn_syncfs(int fd) { return syncfs(fd); }

int cairn_open_unnamed(int directory, int mode) {
    return openat(directory, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, mode);
}

int cairn_link_unnamed(int fd, int directory, const char *name) {
    if (linkat(fd, "", directory, name, AT_EMPTY_PATH) == 0) return 0;
    // Without the right to link a descriptor (older kernels ask for CAP_DAC_READ_SEARCH),
    // its /proc link, which the owner of an O_TMPFILE descriptor may always link.
    if (errno != ENOENT && errno != EPERM) return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, path, directory, name, AT_SYMLINK_FOLLOW);
}

void cairn_name_thread(const char *name) { pthread_setname_np(pthread_self(), name); }

int cairn_available_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}

void cairn_limit_malloc_arenas(int count) { mallopt(M_ARENA_MAX, count); }

void cairn_fix_mmap_threshold(int bytes) { mallopt(M_MMAP_THRESHOLD, bytes); }

void cairn_trim_heap(void) { malloc_trim(0); }
