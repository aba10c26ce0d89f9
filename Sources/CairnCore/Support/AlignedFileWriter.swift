import Dispatch
import Synchronization
internal import CCairnKernels

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a file front to back: through an aligned buffer past the page cache (O_DIRECT) when
/// asked and the file system allows it, through the page cache otherwise, and the unaligned
/// tail always through the page cache. Through the page cache, a task's large pieces are
/// written from where they are, without the buffer (see `write(_:)`).
///
/// On this kind of machine copying data into the page cache costs more than the disk write
/// itself (1.6 GB: 4.8 s buffered and 0.9 s of flush, 1.4 s direct), so large files that are
/// flushed at once anyway (packs, restored files) go direct. A direct write waits for the
/// device, so it runs on another thread while the caller fills a second buffer. With `sparse`,
/// aligned blocks of zeros are skipped and left as holes (the caller sets the final size).
struct AlignedFileWriter: ~Copyable {
    struct Failure: Error {
        var code: Int32
    }

    static let alignment = 4096
    /// Pieces at least this large are written from where they are (see `write(_:)`).
    static let passThroughMinimum = 4096
    /// Zero runs are looked for in blocks of this size.
    static let zeroBlock = 64 << 10

    let descriptor: Int32
    /// Made when first needed: a file written only through the page cache in large pieces
    /// never needs it (see `write(_:)`).
    private var buffer: (memory: UnsafeMutableRawPointer, size: Int)?
    /// The buffer being written on another thread, in direct mode.
    private var spare: (memory: UnsafeMutableRawPointer, size: Int)?
    private var inFlight: Region?
    private let capacity: Int
    private let sparse: Bool
    private var direct: Bool
    private var filled = 0
    /// The file offset of the buffer's first byte.
    private var offset = 0

    /// `size` is what the file is expected to hold (the buffer is no larger than it needs);
    /// `bufferSize` is rounded up to the alignment.
    init(descriptor: Int32, size: Int, direct: Bool, sparse: Bool, bufferSize: Int = 1 << 20) throws(Failure) {
        self.descriptor = descriptor
        self.sparse = sparse
        let wanted = max(Self.alignment, min(bufferSize, size))
        capacity = (wanted + Self.alignment - 1) / Self.alignment * Self.alignment
        self.direct = false
        if direct {
            let flags = fcntl(descriptor, F_GETFL)
            self.direct = flags >= 0 && fcntl(descriptor, F_SETFL, flags | cairn_o_direct()) == 0
        }
    }

    deinit {
        inFlight?.finished.wait()
        if let buffer { AlignedMemory.release(buffer.memory, size: buffer.size) }
        if let spare { AlignedMemory.release(spare.memory, size: spare.size) }
    }

    /// A buffer from AlignedMemory (which keeps a few: packs are written one after another),
    /// with the size it has, which may be more than the capacity.
    private static func allocate(_ count: Int) throws(Failure) -> (memory: UnsafeMutableRawPointer, size: Int) {
        guard let (memory, size) = AlignedMemory.allocate(count) else { throw Failure(code: ENOMEM) }
        return (memory, size)
    }

    /// The bytes written so far.
    var size: Int { offset + filled }

    /// Whether the aligned buffer was made (for tests: pieces passed through never need it).
    var hasBuffer: Bool { buffer != nil }

    /// The end of the last bytes that reached the file (less than the size when it ends in
    /// skipped zeros): known after `finish`.
    private(set) var end = 0

    /// Writes `bytes`, each full buffer on this thread: a caller that blocks may run on
    /// BlockingIO's threads, which never wait for one another's work.
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            done += try take(bytes, from: done)
            if filled == capacity { try flushFull(inBackground: false) }
        }
    }

    /// The same for a task: while the device writes the last full buffer, the task is
    /// suspended instead of blocking one of the few threads tasks run on.
    ///
    /// Through the page cache, a piece of `passThroughMinimum` bytes or more is written from
    /// where it is, not copied into the buffer first (a restore of /usr spent 2.4% of its time
    /// in that copy).
    mutating func write(_ bytes: some UploadBytes) async throws {
        if !direct, filled == 0, bytes.byteCount >= Self.passThroughMinimum {
            try bytes.withUploadBytes { bytes in
                var region = Region(
                    descriptor: descriptor, buffer: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), offset: offset, sparse: sparse,
                    direct: false)
                try region.write(from: 0, to: bytes.count)
                end = max(end, region.outcome.end)
            }
            offset += bytes.byteCount
            return
        }
        var done = 0
        while done < bytes.byteCount {
            done += try bytes.withUploadBytes { try take($0, from: done) }
            if filled == capacity {
                await settle()
                try flushFull(inBackground: true)
            }
        }
    }

    /// Copies what the buffer has room for of `bytes[done...]`; returns how much.
    private mutating func take(_ bytes: UnsafeRawBufferPointer, from done: Int) throws(Failure) -> Int {
        if buffer == nil { buffer = try Self.allocate(capacity) }
        let piece = min(capacity - filled, bytes.count - done)
        (buffer!.memory + filled).copyMemory(from: bytes.baseAddress! + done, byteCount: piece)
        filled += piece
        return piece
    }

    /// Waits, suspended, for a buffer being written in the background: then `finish` and
    /// `abandon` do not block their thread.
    func settle() async {
        if let inFlight { await inFlight.outcome.completion() }
    }

    /// Writes what is left (its unaligned tail through the page cache) and returns the size.
    /// After async writes, `settle` first.
    mutating func finish() throws -> Int {
        try awaitWrite()
        if let buffer {
            let aligned = filled / Self.alignment * Self.alignment
            var region = Region(descriptor: descriptor, buffer: buffer.memory, offset: offset, sparse: sparse, direct: direct)
            try region.write(from: 0, to: aligned)
            region.leaveDirect()
            try region.write(from: aligned, to: filled)
            end = max(end, region.outcome.end)
        }
        direct = false
        offset += filled
        filled = 0
        return offset
    }

    /// Waits for a write still running on another thread, when the file is given up: the
    /// descriptor is closed next.
    mutating func abandon() {
        inFlight?.finished.wait()
        inFlight = nil
    }

    private mutating func flushFull(inBackground: Bool) throws {
        try awaitWrite()
        if direct && inBackground {
            let region = Region(descriptor: descriptor, buffer: buffer!.memory, offset: offset, sparse: sparse, direct: direct)
            if spare == nil { spare = try Self.allocate(capacity) }
            let full = buffer!
            buffer = spare!
            spare = full
            inFlight = region
            let count = capacity
            BlockingIO.start { region.writeInBackground(count) }
        } else {
            var region = Region(descriptor: descriptor, buffer: buffer!.memory, offset: offset, sparse: sparse, direct: direct)
            try region.write(from: 0, to: capacity)
            end = max(end, region.outcome.end)
        }
        offset += capacity
        filled = 0
    }

    private mutating func awaitWrite() throws {
        guard let region = inFlight else { return }
        inFlight = nil
        region.finished.wait()
        direct = region.outcome.direct
        end = max(end, region.outcome.end)
        if region.outcome.code != 0 { throw Failure(code: region.outcome.code) }
    }

    /// One buffer's worth of writing, done here or on another thread.
    private struct Region: @unchecked Sendable {
        let descriptor: Int32
        let buffer: UnsafeMutableRawPointer
        let offset: Int
        let sparse: Bool
        var direct: Bool
        let finished = DispatchSemaphore(value: 0)
        let outcome = Outcome()

        final class Outcome: @unchecked Sendable {
            var code: Int32 = 0
            var direct = false
            /// The file offset after the last byte written.
            var end = 0
            /// Whether the write is done, and a task waiting for it.
            private let state = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

            func complete() {
                state.withLock { state in
                    state.done = true
                    return state.waiter.take()
                }?.resume()
            }

            /// Returns once the write is done (its results are then safe to read).
            func completion() async {
                await withCheckedContinuation { continuation in
                    let done = state.withLock { state in
                        if !state.done { state.waiter = continuation }
                        return state.done
                    }
                    if done { continuation.resume() }
                }
            }
        }

        init(descriptor: Int32, buffer: UnsafeMutableRawPointer, offset: Int, sparse: Bool, direct: Bool) {
            self.descriptor = descriptor
            self.buffer = buffer
            self.offset = offset
            self.sparse = sparse
            self.direct = direct
        }

        func writeInBackground(_ count: Int) {
            var region = self
            do {
                try region.write(from: 0, to: count)
            } catch {
                outcome.code = error.code
            }
            outcome.direct = region.direct
            // The semaphore first: a task that resumes on `complete` then finds it signalled.
            finished.signal()
            outcome.complete()
        }

        /// Writes buffer[start..<end], skipping whole zero blocks when sparse.
        mutating func write(from start: Int, to end: Int) throws(Failure) {
            var position = start
            while position < end {
                guard sparse else {
                    try writeAll(from: position, to: end)
                    return
                }
                let length = min(AlignedFileWriter.zeroBlock, end - position)
                if isZero(position, length) {
                    position += length
                    continue
                }
                var stop = position + length
                while stop < end {
                    let next = min(AlignedFileWriter.zeroBlock, end - stop)
                    if isZero(stop, next) { break }
                    stop += next
                }
                try writeAll(from: position, to: stop)
                position = stop
            }
        }

        private func isZero(_ position: Int, _ length: Int) -> Bool {
            cairn_is_zero(buffer.assumingMemoryBound(to: UInt8.self) + position, length) != 0
        }

        private mutating func writeAll(from start: Int, to end: Int) throws(Failure) {
            var done = start
            while done < end {
                let count = pwrite(descriptor, buffer + done, end - done, off_t(offset + done))
                if count < 0 {
                    if errno == EINTR { continue }
                    // EINVAL: no direct writes here after all; the page cache takes the rest.
                    if errno == EINVAL, direct {
                        leaveDirect()
                        continue
                    }
                    throw Failure(code: errno)
                }
                done += count
            }
            if end > start { outcome.end = max(outcome.end, offset + end) }
        }

        mutating func leaveDirect() {
            guard direct else { return }
            direct = false
            let flags = fcntl(descriptor, F_GETFL)
            if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~cairn_o_direct()) }
        }
    }
}
