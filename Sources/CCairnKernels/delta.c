// Block signatures and delta search for in-file delta (rsync's algorithm): a rolling weak
// checksum finds candidate blocks at every byte offset, a keyed strong hash confirms them.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "cairn_kernels.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

// The weak checksum is Rabin-Karp over bytes shifted by 31 (as librsync's): with a multiplier
// M, H(b0..bn-1) = sum of (b_i + 31) * M^(n-1-i) mod 2^32; rolling one byte on costs a
// multiply and two adds.
#define WEAK_MULTIPLIER 0x08104225u
#define WEAK_ADJUST 31u

struct cairn_keyed_hash {
    SHA256_CTX keyed;
};

cairn_keyed_hash *cairn_keyed_hash_new(const uint8_t *key, size_t length) {
    cairn_keyed_hash *hash = malloc(sizeof *hash);
    if (!hash) return NULL;
    // The key fills exactly one SHA-256 block, so each block hash starts from a copy of the
    // state after it.
    uint8_t padded[64] = {0};
    SHA256_CTX outer;
    if (length > sizeof padded) {
        SHA256_Init(&outer);
        SHA256_Update(&outer, key, length);
        SHA256_Final(padded, &outer);
    } else {
        memcpy(padded, key, length);
    }
    SHA256_Init(&hash->keyed);
    SHA256_Update(&hash->keyed, padded, sizeof padded);
    return hash;
}

void cairn_keyed_hash_free(cairn_keyed_hash *hash) { free(hash); }

void cairn_keyed_hash_block(const cairn_keyed_hash *hash, const uint8_t *data, size_t length, uint8_t out[32]) {
    SHA256_CTX context = hash->keyed;
    SHA256_Update(&context, data, length);
    SHA256_Final(out, &context);
}

static uint32_t power(uint32_t base, size_t exponent) {
    uint32_t result = 1;
    while (exponent) {
        if (exponent & 1) result *= base;
        base *= base;
        exponent >>= 1;
    }
    return result;
}

// Thirty-two interleaved lanes, each a Rabin-Karp sum with multiplier M^32, joined at the end:
// independent multiplies instead of one long chain, which the compiler turns into vector
// multiplies (with AVX2 where the processor has it).
#define WEAK_SUM_BODY                                                                  \
    {                                                                                  \
        const uint32_t m32 = power(WEAK_MULTIPLIER, 32);                               \
        uint32_t lanes[32] = {0};                                                      \
        size_t i = 0;                                                                  \
        for (; i + 32 <= length; i += 32) {                                            \
            for (int j = 0; j < 32; j++) lanes[j] = lanes[j] * m32 + data[i + j] + WEAK_ADJUST; \
        }                                                                              \
        uint32_t hash = 0;                                                             \
        if (i > 0) {                                                                   \
            for (int j = 0; j < 32; j++) hash = hash * WEAK_MULTIPLIER + lanes[j];     \
        }                                                                              \
        for (; i < length; i++) hash = hash * WEAK_MULTIPLIER + data[i] + WEAK_ADJUST; \
        return hash;                                                                   \
    }

__attribute__((target("avx2"))) static uint32_t weak_sum_avx2(const uint8_t *data, size_t length) WEAK_SUM_BODY

static uint32_t weak_sum_generic(const uint8_t *data, size_t length) WEAK_SUM_BODY

uint32_t cairn_weak_sum(const uint8_t *data, size_t length) {
    static int avx2 = -1;
    if (avx2 < 0) avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    return avx2 ? weak_sum_avx2(data, length) : weak_sum_generic(data, length);
}

void cairn_block_sums(const cairn_keyed_hash *hash, const uint8_t *data, size_t length, size_t block,
                      uint32_t *weak, uint8_t *strong, size_t strong_length) {
    uint8_t digest[32];
    for (size_t start = 0, index = 0; start < length; start += block, index++) {
        size_t size = length - start < block ? length - start : block;
        weak[index] = cairn_weak_sum(data + start, size);
        cairn_keyed_hash_block(hash, data + start, size, digest);
        memcpy(strong + index * strong_length, digest, strong_length);
    }
}

struct cairn_delta_index {
    const cairn_keyed_hash *hash;
    size_t block;
    size_t strong_length;
    size_t count;
    uint32_t *weak;
    uint8_t *strong;
    // Open addressing: slot holds block index + 1, 0 when empty; linear probing.
    uint32_t *table;
    uint32_t table_shift;
    uint32_t table_mask;
    // One bit per hash of a weak sum: most offsets of new data are ruled out by one bit in
    // a table small enough for the cache.
    uint64_t *filter;
    uint32_t filter_shift;
    uint32_t power_n;
};

// Probes are bounded: a flood of blocks with one weak sum only loses matches, never time.
#define MAX_PROBES 64

static inline uint32_t slot_of(uint32_t weak, uint32_t shift) { return (uint32_t)((weak * 0x9E3779B1u) >> shift); }
static inline uint32_t filter_of(uint32_t weak, uint32_t shift) { return (uint32_t)(((weak ^ (weak >> 15)) * 0x85EBCA6Bu) >> shift); }

cairn_delta_index *cairn_delta_index_new(const cairn_keyed_hash *hash, size_t block, size_t strong_length, size_t count,
                                         const uint32_t *weak, const uint8_t *strong) {
    cairn_delta_index *index = calloc(1, sizeof *index);
    if (!index) return NULL;
    index->hash = hash;
    index->block = block;
    index->strong_length = strong_length;
    index->count = count;
    index->power_n = power(WEAK_MULTIPLIER, block);
    uint32_t bits = 4;
    while ((1ull << bits) < 2 * (uint64_t)count + 2) bits++;
    uint32_t filter_bits = 16;
    while ((1ull << filter_bits) < 16 * (uint64_t)count) filter_bits++;
    index->table_shift = 32 - bits;
    index->table_mask = (1u << bits) - 1;
    index->filter_shift = 32 - filter_bits;
    index->weak = malloc(count * sizeof(uint32_t) + 1);
    index->strong = malloc(count * strong_length + 1);
    index->table = calloc((size_t)1 << bits, sizeof(uint32_t));
    index->filter = calloc(((size_t)1 << filter_bits) / 64, sizeof(uint64_t));
    if (!index->weak || !index->strong || !index->table || !index->filter) {
        cairn_delta_index_free(index);
        return NULL;
    }
    memcpy(index->weak, weak, count * sizeof(uint32_t));
    memcpy(index->strong, strong, count * strong_length);
    for (size_t i = 0; i < count; i++) {
        uint32_t slot = slot_of(weak[i], index->table_shift);
        int duplicate = 0;
        int probes = 0;
        while (index->table[slot] != 0 && probes < MAX_PROBES) {
            uint32_t other = index->table[slot] - 1;
            if (weak[other] == weak[i] && memcmp(strong + other * strong_length, strong + i * strong_length, strong_length) == 0) {
                duplicate = 1;  // the same block again: the first one serves
                break;
            }
            slot = (slot + 1) & index->table_mask;
            probes++;
        }
        if (duplicate || probes == MAX_PROBES) continue;
        index->table[slot] = (uint32_t)i + 1;
        uint32_t bit = filter_of(weak[i], index->filter_shift);
        index->filter[bit >> 6] |= 1ull << (bit & 63);
    }
    return index;
}

void cairn_delta_index_free(cairn_delta_index *index) {
    if (!index) return;
    free(index->weak);
    free(index->strong);
    free(index->table);
    free(index->filter);
    free(index);
}

// The block matching the data at `at` whose weak sum is `weak`, or -1. `prefer` (the block
// after the last match) wins among equal blocks, so runs of copies stay contiguous.
static int64_t lookup(const cairn_delta_index *index, const uint8_t *at, uint32_t weak, uint32_t prefer) {
    uint32_t bit = filter_of(weak, index->filter_shift);
    if (!(index->filter[bit >> 6] & (1ull << (bit & 63)))) return -1;
    uint32_t slot = slot_of(weak, index->table_shift);
    uint8_t digest[32];
    int hashed = 0;
    int64_t found = -1;
    for (int probes = 0; index->table[slot] != 0 && probes < MAX_PROBES; probes++) {
        uint32_t candidate = index->table[slot] - 1;
        if (index->weak[candidate] == weak) {
            if (!hashed) {
                cairn_keyed_hash_block(index->hash, at, index->block, digest);
                hashed = 1;
            }
            if (memcmp(digest, index->strong + (size_t)candidate * index->strong_length, index->strong_length) == 0) {
                if (found < 0) found = candidate;
                if (candidate == prefer) return candidate;
            }
        }
        slot = (slot + 1) & index->table_mask;
    }
    if (found >= 0 && prefer < index->count && index->weak[prefer] == weak &&
        memcmp(digest, index->strong + (size_t)prefer * index->strong_length, index->strong_length) == 0) {
        return prefer;  // a duplicate of the found block, left out of the table
    }
    return found;
}

int64_t cairn_delta_find(const cairn_delta_index *index, const uint8_t *data, size_t length, size_t start, uint32_t prefer,
                         uint32_t *block) {
    size_t n = index->block;
    if (length < n || start > length - n) return -1;
    uint32_t weak = cairn_weak_sum(data + start, n);
    for (size_t at = start;; at++) {
        int64_t found = lookup(index, data + at, weak, prefer);
        if (found >= 0) {
            *block = (uint32_t)found;
            return (int64_t)at;
        }
        if (at + n >= length) return -1;
        weak = weak * WEAK_MULTIPLIER + data[at + n] + WEAK_ADJUST - index->power_n * (data[at] + WEAK_ADJUST);
    }
}

void cairn_delta_index_sums(const cairn_delta_index *index, size_t block, uint32_t *weak, uint8_t *strong) {
    *weak = index->weak[block];
    memcpy(strong, index->strong + block * index->strong_length, index->strong_length);
}
