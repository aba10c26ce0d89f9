import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// The time, host and user a run records come from the environment it is given, never from the
/// machine behind its back: plan and run agree about "now", and tests can set it.
@Suite("The run's environment")
struct RunEnvironmentTests {
    @Test func aRunRecordsTheClockHostAndUserItIsGiven() async throws {
        let directory = try TemporaryDirectory()
        let base = try localSetContext(directory, extra: "    retention: one\nretention: {one: {keep-jobs: 1}}")
        let clock = ManualClock(Date(timeIntervalSince1970: 1_900_000_000))  // 2030-03-17
        let run = base.run.with(clock: clock, hostName: "vault-7")
        var context = try SetContext(config: base.config, setName: "files", run: RunEnvironment(
            clock: run.clock, hostName: run.hostName, userName: "backup-operator", timeZone: run.timeZone, variables: run.variables,
            currentDirectory: run.currentDirectory))
        context.maxRemoved = nil
        try directory.write("source/a.txt", "a")

        let first = await BackupJob.run(context, options: BackupJob.RunOptions(command: "backup")) { _ in }
        #expect(first.failure == nil, "\(first.failure ?? "")")
        let snapshot = try #require(first.result?.snapshot)
        #expect(snapshot.start.date == clock.now() && snapshot.end.date == clock.now())
        #expect(snapshot.host == "vault-7" && snapshot.user == "backup-operator")
        #expect(first.report.host == "vault-7" && first.report.start.date == clock.now())
        #expect(SnapshotGroup(snapshot) == context.group, "the writer's group names the given host")

        // A day later by this clock: the first snapshot is what retention expires, at the
        // plan's time, and a lease records the same host and time.
        clock.advance(by: 86_400)
        try directory.write("source/a.txt", "a, version 2")
        let plan = try await BackupJob.plan(context)
        #expect(plan.plan.expirations.map(\.time) == [snapshot.start])
        let second = await BackupJob.run(context, options: BackupJob.RunOptions(command: "backup")) { _ in }
        #expect(second.failure == nil)
        #expect(second.result?.snapshot.start.date == clock.now())
        let repository = try #require(try await context.openRepository())
        #expect(try await repository.snapshots().map(\.snapshot.start.date) == [clock.now()])
        let lock = try await repository.lock(.shared, command: "test")
        let held = try await repository.locks().map(\.record)
        #expect(held.count == 1 && held.allSatisfy { $0.host == "vault-7" && $0.start.date == clock.now() })
        await lock.release()
    }

    @Test func aNewRepositoryAndItsKeysRecordTheGivenEnvironment() async throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_900_000_000))
        let run = RunEnvironment.live().with(clock: clock, hostName: "vault-7")
        let repository = try await Repository.create(storage: MemoryStorage(), algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt, run: run)
        #expect(repository.descriptor.created == clock.now())
        clock.advance(by: 3600)
        _ = try await repository.addKey(passphrase: Array("second".utf8), label: "second", scrypt: testScrypt)
        let keys = try await repository.keys()
        #expect(keys.map(\.host) == ["vault-7", "vault-7"])
        #expect(Set(keys.map(\.created)) == [Date(timeIntervalSince1970: 1_900_000_000), clock.now()])
    }

    @Test func aConfigWithoutATimeZoneTakesTheRunsZone() throws {
        let directory = try TemporaryDirectory()
        try directory.write("cairn.yaml", """
            version: 1
            accounts: {local: {destination: /srv/backup}}
            encryption: {default: {algorithm: none}}
            backup-sets: {files: {account: local, sources: [/home]}}
            """)
        let zone = try #require(TimeZone(identifier: "Pacific/Chatham"))
        let run = RunEnvironment.live().with(timeZone: zone)
        var loader = ConfigLoader(run)
        loader.currentDirectory = directory.path
        let config = try #require(loader.load(path: "cairn.yaml").config)
        #expect(config.timeZone == zone && config.timeZoneName == "Pacific/Chatham")
    }

    @Test func theLiveEnvironmentIsThisMachine() {
        let live = RunEnvironment.live()
        #expect(!live.hostName.isEmpty && !live.hostName.contains("."))
        #expect(abs(live.now.timeIntervalSinceNow) < 60)
        #expect(live.variables["PATH"] == ProcessInfo.processInfo.environment["PATH"])
    }

    @Test func stateAndCacheFoldersFollowXDGThenHome() {
        let base = RunEnvironment(clock: SystemClock(), hostName: "h", userName: "u", timeZone: .gmt, variables: [:], currentDirectory: "/")
        #expect(base.stateDirectory == nil && base.cacheDirectory == nil, "no home and no XDG: nowhere, not the process's home")
        let home = base.with(variables: ["HOME": "/home/ann"])
        #expect(home.stateDirectory == "/home/ann/.local/state/cairn" && home.cacheDirectory == "/home/ann/.cache/cairn")
        let xdg = base.with(variables: ["HOME": "/home/ann", "XDG_STATE_HOME": "/var/state", "XDG_CACHE_HOME": "/var/cache"])
        #expect(xdg.stateDirectory == "/var/state/cairn" && xdg.cacheDirectory == "/var/cache/cairn")
        let relative = base.with(variables: ["HOME": "/home/ann", "XDG_STATE_HOME": "state", "XDG_CACHE_HOME": ""])
        #expect(relative.stateDirectory == "/home/ann/.local/state/cairn" && relative.cacheDirectory == "/home/ann/.cache/cairn",
            "the XDG spec ignores relative values")
        #expect(JobLog(run: relative).directory == "/home/ann/.local/state/cairn/logs")
        let report = JobReport(
            job: "0123456789", set: "files", command: "backup", host: "h", start: Timestamp(Date()), end: Timestamp(Date()), status: "complete",
            snapshot: nil, plan: nil, statistics: nil, problems: [], drift: [], commands: [], failure: nil)
        #expect(JobLog(run: base).save(report) != nil, "without a folder the report is not kept, and says so")
    }

    @Test func rootsStateIsTheSystemsUnlessXDGSaysOtherwise() {
        var root = RunEnvironment(clock: SystemClock(), hostName: "h", userName: "root", timeZone: .gmt, variables: ["HOME": "/root"], currentDirectory: "/")
        root.isSuperuser = true
        #expect(root.stateDirectory == "/var/lib/cairn" && root.earlierStateDirectory == "/root/.local/state/cairn")
        #expect(root.cacheDirectory == "/root/.cache/cairn")
        let told = root.with(variables: ["HOME": "/root", "XDG_STATE_HOME": "/srv/state"])
        #expect(told.stateDirectory == "/srv/state/cairn" && told.earlierStateDirectory == nil)
        #expect(JobLog(run: root).directory == "/var/lib/cairn/logs")
    }

    @Test func theLiveEnvironmentFindsTheHomeWithoutHOME() {
        let live = RunEnvironment.live()
        let withoutHome = live.with(variables: live.variables.filter { $0.key != "HOME" && !$0.key.hasPrefix("XDG_") })
        let expected = String(cString: getpwuid(geteuid()).pointee.pw_dir)
        #expect(withoutHome.homeDirectory == expected)
        #expect(withoutHome.cacheDirectory == expected + "/.cache/cairn")
        #expect(withoutHome.stateDirectory == (geteuid() == 0 ? "/var/lib/cairn" : expected + "/.local/state/cairn"))
    }
}
