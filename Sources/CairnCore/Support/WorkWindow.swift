import Synchronization

/// Work started ahead of the one task that uses it: at most `width` pieces running or
/// finished and not yet taken (and, with a `weightBudget`, at most that much of their weight,
/// or one piece of any weight), their results taken back in the order they were started. The
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
    let weightBudget: Int?
    private let oneAtATime: Bool
    private let finishesPieces: Bool

    private struct Pending {
        var pieces: [(task: Task<Value, any Error>, weight: Int)] = []
        var weight = 0
    }

    /// Pending pieces, oldest first, and their weight. Behind a lock only because a
    /// cancellation handler may cancel them from another thread.
    private let pending = Mutex(Pending())

    init(width: Int, weightBudget: Int? = nil, oneAtATime: Bool = false, finishesPieces: Bool = false) {
        precondition(width >= 1 && (weightBudget ?? 1) >= 1)
        self.width = width
        self.weightBudget = weightBudget
        self.oneAtATime = oneAtATime
        self.finishesPieces = finishesPieces
    }

    deinit {
        if !finishesPieces { pending.withLock { $0.pieces.forEach { $0.task.cancel() } } }
    }

    var isEmpty: Bool { pending.withLock { $0.pieces.isEmpty } }
    var count: Int { pending.withLock { $0.pieces.count } }
    /// The weight of the pieces pending.
    var weight: Int { pending.withLock { $0.weight } }

    /// Whether a piece of `weight` must wait for the oldest pending one.
    private func isFull(adding weight: Int) -> Bool {
        pending.withLock { pending in
            guard !pending.pieces.isEmpty else { return false }
            if pending.pieces.count >= width { return true }
            guard let weightBudget else { return false }
            return pending.weight + weight > weightBudget
        }
    }

    /// Starts `work`. When `width` pieces are pending, the oldest one's result is taken first
    /// and returned (its error thrown); otherwise nil. For a window without a weight budget.
    @discardableResult
    func add(_ work: @escaping @Sendable () async throws -> Value) async throws -> Value? {
        precondition(weightBudget == nil, "a window with a weight budget starts pieces with start(weight:)")
        // Without a budget, at most the one oldest piece is taken.
        return try await start(weight: 1, work).first
    }

    /// Starts `work`, of `weight`, once it fits: the oldest pending pieces' results are taken
    /// first, in order, until fewer than `width` are pending and their weight with this one's
    /// is within the budget (a piece heavier than the budget runs alone). Returns what was taken.
    func start(weight: Int, _ work: @escaping @Sendable () async throws -> Value) async throws -> [Value] {
        var taken: [Value] = []
        while isFull(adding: weight), let value = try await next() { taken.append(value) }
        pending.withLock { pending in
            let task: Task<Value, any Error>
            if oneAtATime, let previous = pending.pieces.last?.task {
                task = Task {
                    _ = try? await previous.value
                    try Task.checkCancellation()
                    return try await work()
                }
            } else {
                task = Task(operation: work)
            }
            pending.pieces.append((task, weight))
            pending.weight += weight
        }
        return taken
    }

    /// The oldest pending piece's result (its error thrown); nil when none is pending.
    func next() async throws -> Value? {
        let oldest = pending.withLock { pending -> Task<Value, any Error>? in
            guard !pending.pieces.isEmpty else { return nil }
            let first = pending.pieces.removeFirst()
            pending.weight -= first.weight
            return first.task
        }
        guard let piece = oldest else { return nil }
        if finishesPieces { return try await piece.value }
        return try await withTaskCancellationHandler {
            try await piece.value
        } onCancel: {
            piece.cancel()
            self.pending.withLock { $0.pieces.forEach { $0.task.cancel() } }
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
