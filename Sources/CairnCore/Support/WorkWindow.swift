import Synchronization

/// Work started ahead of the one task that uses it: at most `width` pieces running or
/// finished and not yet taken, their results taken back in the order they were started. The
/// one way cairn runs a bounded pipeline of work beside a task: a file's chunks sealed and
/// stored while it is read, a restored file's objects loaded while earlier ones are written,
/// its hash and signature computed while it is read or written (`oneAtATime`: each piece
/// after the one before).
///
/// Cancellation reaches the pieces: when the task waiting for a result is cancelled, every
/// pending piece is, and a window dropped with pieces pending cancels them; unless made with
/// `finishesPieces`, for work that must not stop half-way (a chunk being stored into the pack
/// that other tasks share). Used by one task at a time.
final class WorkWindow<Value: Sendable>: Sendable {
    let width: Int
    private let oneAtATime: Bool
    private let finishesPieces: Bool
    /// Pending pieces, oldest first. Behind a lock only because a cancellation handler may
    /// cancel them from another thread.
    private let pieces = Mutex<[Task<Value, any Error>]>([])

    init(width: Int, oneAtATime: Bool = false, finishesPieces: Bool = false) {
        precondition(width >= 1)
        self.width = width
        self.oneAtATime = oneAtATime
        self.finishesPieces = finishesPieces
    }

    deinit {
        if !finishesPieces { pieces.withLock { $0.forEach { $0.cancel() } } }
    }

    var isEmpty: Bool { pieces.withLock { $0.isEmpty } }
    var count: Int { pieces.withLock { $0.count } }

    /// Starts `work`. When `width` pieces are pending, the oldest one's result is taken first
    /// and returned (its error thrown); otherwise nil.
    @discardableResult
    func add(_ work: @escaping @Sendable () async throws -> Value) async throws -> Value? {
        let taken = count >= width ? try await next() : nil
        pieces.withLock { pieces in
            if oneAtATime, let previous = pieces.last {
                pieces.append(Task {
                    _ = try? await previous.value
                    try Task.checkCancellation()
                    return try await work()
                })
            } else {
                pieces.append(Task(operation: work))
            }
        }
        return taken
    }

    /// The oldest pending piece's result (its error thrown); nil when none is pending.
    func next() async throws -> Value? {
        guard let piece = pieces.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return nil }
        if finishesPieces { return try await piece.value }
        return try await withTaskCancellationHandler {
            try await piece.value
        } onCancel: {
            piece.cancel()
            self.pieces.withLock { $0.forEach { $0.cancel() } }
        }
    }

    /// Waits for every pending piece, results and errors dropped: after a failure, so that no
    /// work is left running while the caller goes on.
    func drain() async {
        while !isEmpty { _ = try? await next() }
    }

    /// Waits for every pending piece; the first error is thrown once all are done.
    func finish() async throws {
        var failure: (any Error)?
        while !isEmpty {
            do { _ = try await next() } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }
}
