internal import CCairnKernels

/// Process-wide memory settings for the command line tool.
public enum MemoryTuning {
    /// Two malloc arenas instead of eight per core: backups allocate many chunk-sized buffers
    /// from several threads, and more arenas only hold on to more memory.
    public static func limitArenas() {
        cairn_limit_malloc_arenas(2)
    }
}
