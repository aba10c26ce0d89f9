/// Work done in order on other tasks while the caller goes on, at most `depth` pieces behind:
/// how a file's signature and content hash keep up with its reading on another core.
/// Used by one task at a time.
final class OrderedWork: @unchecked Sendable {
    private let depth: Int
    private var queue: [Task<Void, Never>] = []

    init(depth: Int) {
        self.depth = depth
    }

    /// Runs `work` after the pieces added before it; waits first while `depth` are pending.
    func add(_ work: @escaping @Sendable () -> Void) async {
        if queue.count >= depth { await queue.removeFirst().value }
        let previous = queue.last
        queue.append(Task {
            await previous?.value
            work()
        })
    }

    /// Waits for everything added.
    func finish() async {
        for task in queue { await task.value }
        queue = []
    }
}
