import CairnCore
import CairnTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Storage failures that depend on privileges, run as an unprivileged user (CI runs as root,
/// which writes anywhere: `runuser -u nobody` drops that).
@Suite("Storage errors of an unprivileged user")
struct StoragePermissionTests {
    @Test func aDestinationThatCannotBeWrittenIsAClearErrorAndNothingIsWritten() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("data".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        let asRoot = getuid() == 0
        let prefix = asRoot ? ["/usr/sbin/runuser", "-u", "nobody", "--"] : []
        if asRoot {
            for path in [workspace.directory.path, workspace.source] { chmod(path, 0o755) }
            chown(workspace.source + "/a.txt", 65534, 65534)
            for folder in ["state", "cache"] {
                try FileManager.default.createDirectory(atPath: workspace.directory.subpath(folder), withIntermediateDirectories: true)
                chown(workspace.directory.subpath(folder), 65534, 65534)
            }
        }
        // Readable by everyone, writable by its owner only: root's, or this user's without
        // write permission.
        chmod(workspace.destination, 0o555)
        defer { chmod(workspace.destination, 0o755) }
        let run = try workspace.cairn.run(["backup", "-q"], in: workspace.directory.path, environment: workspace.environment, prefix: prefix)
        #expect(run.status == 1, "\(run.all)")
        #expect(run.standardError.contains("permission denied: \(workspace.destination)"), "\(run.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.destination).isEmpty)
    }
}

/// Jobs that change nothing take no lease where they took none before.
@Suite("Leases of jobs that change nothing")
struct LeaseFreeJobsTests {
    @Test func aDryRunPruneWithoutRetentionRunsWhileAnotherJobHoldsTheRepository() async throws {
        let workspace = try Workspace(algorithm: "none")
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("a".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let repository = try await Repository.open(storage: LocalFolderStorage(root: workspace.destination + "/files"), passphrase: nil)
        try await repository.withLease(.exclusive, command: "cairn prune files") {
            let dry = try workspace.run(["prune", "files", "--dry-run"])
            #expect(dry.status == 0, "\(dry.all)")
            #expect(dry.standardOutput.contains("has no retention policy"), "\(dry.all)")
            let real = try workspace.run(["prune", "files"])
            #expect(real.status == 1 && real.standardError.contains("is locked"), "a prune that changes things waits for the lease: \(real.all)")
        }
    }
}
