#ifndef CAIRN_KERNELS_H
#define CAIRN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// FastCDC cut point: the length of the chunk at the start of `data` (`available` bytes).
size_t cairn_fastcdc_cut(const uint8_t *data, size_t available, const uint64_t *gear,
                         size_t minimum, size_t average, size_t maximum,
                         uint64_t small_mask, uint64_t large_mask);

/// Whether all `length` bytes are zero.
int cairn_is_zero(const uint8_t *data, size_t length);

/// O_NOATIME, which needs _GNU_SOURCE.
int cairn_o_noatime(void);

/// Limits glibc malloc to `count` arenas.
void cairn_limit_malloc_arenas(int count);

#endif
