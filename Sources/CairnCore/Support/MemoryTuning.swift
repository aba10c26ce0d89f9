internal import CCairnKernels

/// Process-wide memory settings for the command line tool.
public enum MemoryTuning {
    /// Two malloc arenas instead of eight per core: backups allocate many chunk-sized buffers
    /// from several threads, and more arenas only hold on to more memory.
    ///
    /// Buffers of 1 MiB and more (read buffers, most chunks and their sealed boxes) are mapped
    /// on their own and returned when freed, unless the pools keep them for the next use.
    /// glibc would otherwise raise its mapping threshold after the first such buffer is freed
    /// and serve the next ones from the heap, which then holds on to tens of megabytes it
    /// cannot give back: with a threshold of 4 MiB, a full backup of the benchmark's workload
    /// peaked at 104-112 MB while the medium files were read, with 1 MiB below the key
    /// derivation's 98 MB (docs/BENCHMARKS.md).
    public static func limitArenas() {
        cairn_limit_malloc_arenas(2)
        cairn_fix_mmap_threshold(1 << 20)
    }
}
