#include <sys/xattr.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <malloc.h>

/// Starts writeback of a file's range without waiting for it (sync_file_range with
/// SYNC_FILE_RANGE_WRITE, through syscall(2): the glibc wrapper needs _GNU_SOURCE).
static inline int cairn_start_writeback(int descriptor, long long offset, long long count) {
    return (int)syscall(SYS_sync_file_range, descriptor, offset, count, 2);
}

/// Writes a file's dirty pages and waits until they are written (sync_file_range with
/// SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER); not a
/// flush of its metadata or of the device's cache (that is fsync's).
static inline int cairn_wait_writeback(int descriptor) {
    return (int)syscall(SYS_sync_file_range, descriptor, 0LL, 0LL, 7);
}

/// Hands the space of a file's range back to the file system, the file's size unchanged
/// (fallocate with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, through syscall(2) as above).
static inline int cairn_punch_hole(int descriptor, long long offset, long long count) {
    return (int)syscall(SYS_fallocate, descriptor, 3, offset, count);
}
