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
/// O_PATH, which needs _GNU_SOURCE.
int cairn_o_path(void);

/// O_DIRECT, which needs _GNU_SOURCE.
int cairn_o_direct(void);

/// Flushes the file system holding `fd` (syncfs).
int cairn_syncfs(int fd);

/// A new regular file without a name in `directory` (O_TMPFILE, write-only, close-on-exec),
/// or -1 with errno (EOPNOTSUPP, EISDIR or EINVAL where the file system has none).
int cairn_open_unnamed(int directory, int mode);

/// Gives the unnamed file `fd` the name `name` in `directory` (linkat); -1 with errno, EEXIST
/// when the name is taken.
int cairn_link_unnamed(int fd, int directory, const char *name);

/// Names the calling thread (at most 15 bytes are kept), as ps and perf show it.
void cairn_name_thread(const char *name);

/// The processors this process may run on (its affinity mask), or 0 when that cannot be read.
int cairn_available_cores(void);

/// Limits glibc malloc to `count` arenas.
void cairn_limit_malloc_arenas(int count);

/// Allocations of at least `bytes` are mapped on their own and returned when freed.
void cairn_fix_mmap_threshold(int bytes);

/// Gives the heap's free pages back to the system (malloc_trim).
void cairn_trim_heap(void);

/// A keyed SHA-256 for block signatures: SHA-256(key padded to 64 bytes || data).
typedef struct cairn_keyed_hash cairn_keyed_hash;
cairn_keyed_hash *cairn_keyed_hash_new(const uint8_t *key, size_t length);
void cairn_keyed_hash_free(cairn_keyed_hash *hash);
void cairn_keyed_hash_block(const cairn_keyed_hash *hash, const uint8_t *data, size_t length, uint8_t out[32]);

/// The rolling weak checksum of `length` bytes.
uint32_t cairn_weak_sum(const uint8_t *data, size_t length);

/// Weak and strong (truncated to `strong_length`) sums of consecutive blocks of `block` bytes;
/// the last may be shorter.
void cairn_block_sums(const cairn_keyed_hash *hash, const uint8_t *data, size_t length, size_t block,
                      uint32_t *weak, uint8_t *strong, size_t strong_length);

/// A searchable signature of `count` blocks (arrays are copied).
typedef struct cairn_delta_index cairn_delta_index;
cairn_delta_index *cairn_delta_index_new(const cairn_keyed_hash *hash, size_t block, size_t strong_length, size_t count,
                                         const uint32_t *weak, const uint8_t *strong);
void cairn_delta_index_free(cairn_delta_index *index);

/// The sums of block `block` of the index (`strong_length` bytes of strong hash).
void cairn_delta_index_sums(const cairn_delta_index *index, size_t block, uint32_t *weak, uint8_t *strong);

/// The first offset at or after `start` where a whole block of `data` (`length` bytes) matches
/// a block of the index, with that block's number in `*block`; -1 when no offset up to
/// `length - block` matches. `prefer` wins among equal blocks.
int64_t cairn_delta_find(const cairn_delta_index *index, const uint8_t *data, size_t length, size_t start, uint32_t prefer,
                         uint32_t *block);

/// Signals that arrive while a secret is read on the terminal (TerminalPrompt): the handler
/// only notes them, so the prompt can restore the terminal's echo and send them again.
void cairn_note_signal(int number);

/// Whether `number` was noted since the last cairn_forget_signals.
int cairn_signal_noted(int number);

void cairn_forget_signals(void);

#endif
