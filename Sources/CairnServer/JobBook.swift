import CairnCore
import Foundation
import Synchronization

/// The jobs clients report (`POST .../repositories/REPOSITORY/jobs`): the last 20 of each
/// repository, kept in the state folder (`jobs/ACCOUNT/REPOSITORY.json`, the repository's
/// name percent-encoded), for the web page.
final class JobBook: Sendable {
    let folder: String
    private let lock = Mutex(())
    static let kept = 20

    init(state: String) {
        folder = state + "/jobs"
    }

    private func file(_ account: String, _ repository: String) -> String {
        let name = repository.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? repository
        return "\(folder)/\(account)/\(name).json"
    }

    func record(_ job: ServerJobSummary, account: String, repository: String) throws {
        try lock.withLock { _ in
            let path = file(account, repository)
            var jobs = read(path)
            jobs.append(job)
            if jobs.count > Self.kept { jobs.removeFirst(jobs.count - Self.kept) }
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try JSONEncoder().encode(jobs).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }

    /// The jobs of a repository, oldest first.
    func jobs(account: String, repository: String) -> [ServerJobSummary] {
        lock.withLock { _ in read(file(account, repository)) }
    }

    private func read(_ path: String) -> [ServerJobSummary] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return (try? JSONDecoder().decode([ServerJobSummary].self, from: data)) ?? []
    }
}
