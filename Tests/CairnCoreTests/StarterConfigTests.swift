import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// The config `cairn init` writes, its answers, its key and its files.
@Suite("cairn init's config, answers and files")
struct StarterConfigTests {
    @Test(arguments: [
        ("daily", SchedulePreset.daily(at: TimeOfDay(hour: 1, minute: 0))), ("Hourly", .hourly), ("none", SchedulePreset.none),
        ("21:30", .daily(at: TimeOfDay(hour: 21, minute: 30))), ("daily 06:15", .daily(at: TimeOfDay(hour: 6, minute: 15))),
        ("daily at 23:59:30", .daily(at: TimeOfDay(hour: 23, minute: 59, second: 30))),
    ])
    func schedulesRead(text: String, expected: SchedulePreset) throws {
        #expect(try StarterAnswers.schedule(text).get() == expected)
    }

    @Test(arguments: ["weekly", "6:00", "24:00", "daily at", "", "12:60"])
    func notSchedules(text: String) {
        guard case .failure(let reason) = StarterAnswers.schedule(text) else {
            Issue.record("'\(text)' read as a schedule")
            return
        }
        #expect(reason.description.contains("is not a schedule: daily (at 01:00), hourly, a time HH:MM (daily at it) or none"))
    }

    @Test(arguments: [
        ("standard", RetentionPreset.standard), ("tape-rotation", .tapeRotation), ("keep-all", .keepAll), ("30-days", .days(30)),
        ("7 days", .days(7)), ("1-day", .days(1)), ("100000-days", .days(100_000)),
    ])
    func retentionsRead(text: String, expected: RetentionPreset) throws {
        #expect(try StarterAnswers.retention(text).get() == expected)
    }

    @Test func notRetentions() throws {
        for text in ["forever", "0-days", "100001-days", "-3-days", "thirty-days", "30"] {
            #expect(throws: StarterAnswers.Invalid.self, "\(text)") { try StarterAnswers.retention(text).get() }
        }
        #expect(StarterAnswers.retention("tape-rotaton").failureText.hasSuffix("(did you mean 'tape-rotation'?)"))
        #expect(StarterAnswers.algorithm("chacha20").failureText.contains("(did you mean 'chacha20-poly1305'?)"))
        #expect(try StarterAnswers.algorithm("AES-256-GCM").get() == .aes256GCM)
    }

    @Test func setNamesAndTheirDefault() throws {
        let answers = StarterAnswers(currentDirectory: "/work", environment: ["HOME": "/home/ann/"])
        #expect(answers.defaultSetName(for: ["/home/ann"]) == "home")
        #expect(answers.defaultSetName(for: ["/home/ann/Documents", "/srv"]) == "documents")
        #expect(answers.defaultSetName(for: ["/"]) == "home")
        #expect(answers.defaultSetName(for: ["/home/ann/My Files"]) == "home")
        #expect(StarterAnswers.setName("my set").failureText.contains("is not a name"))
        #expect(try StarterAnswers.setName("laptop-1").get() == "laptop-1")
    }

    @Test func pathsAreExpandedAndSourcesChecked() throws {
        let directory = try TemporaryDirectory()
        try directory.write("a/b/file", "x")
        let answers = StarterAnswers(currentDirectory: directory.path, environment: ["HOME": directory.subpath("a")])
        #expect(try answers.path("~/b").get() == directory.subpath("a/b"))
        #expect(try answers.path("a/./b/../b").get() == directory.subpath("a/b"))
        #expect(answers.path("${NOPE}/x").failureText.contains("NOPE is not set"))
        #expect(answers.source("missing", destination: nil, earlier: []).failureText.hasSuffix("missing does not exist"))
        let destination = StarterConfig.Destination.folder(directory.subpath("a/b"))
        #expect(answers.source("a/b/file", destination: destination, earlier: []).failureText.contains("is in the destination"))
        #expect(try answers.source("a", destination: destination, earlier: []).get() == directory.subpath("a"), "a source may hold the destination")
        #expect(answers.source("a/b", destination: nil, earlier: [directory.subpath("a")]).failureText.contains("is in \(directory.subpath("a")), a source already"))
        #expect(answers.source("a", destination: nil, earlier: [directory.subpath("a/b")]).failureText.contains("holds \(directory.subpath("a/b")), a source already"))
        guard case .success(let missing) = answers.destination("new") else {
            Issue.record("a missing folder is a destination to create")
            return
        }
        #expect(missing.destination == .folder(directory.subpath("new")) && missing.missing)
        #expect(answers.destination("a/b/file").failureText.hasSuffix("is not a folder"))
        #expect(try answers.destination("s3://bucket/prefix").get().destination == .s3("s3://bucket/prefix"))
    }

    @Test(arguments: ["/a/b", "s3://bucket/p", "/home/ann/.config", "/a-b_c+d@e~f"])
    func plainScalars(text: String) {
        #expect(StarterConfig.scalar(text) == text)
    }

    @Test(arguments: [
        ("/a b", "\"/a b\""), ("true", "\"true\""), ("~", "\"~\""), ("a:", "\"a:\""), ("/x#y", "\"/x#y\""), ("/q\"u\\o", "\"/q\\\"u\\\\o\""),
        ("/t\u{1}", "\"/t\\x01\""), ("/é", "\"/é\""), ("1e3", "\"1e3\""), ("-x", "\"-x\""),
    ])
    func quotedScalars(text: String, quoted: String) {
        #expect(StarterConfig.scalar(text) == quoted)
    }

    static let presets: [(SchedulePreset, RetentionPreset, EncryptionProfile.Algorithm)] = [
        (.daily(at: SchedulePreset.dailyTime), .standard, .aes256GCM), (.hourly, .tapeRotation, .chacha20Poly1305), (.none, .days(30), .none),
        (.daily(at: TimeOfDay(hour: 21, minute: 30)), .keepAll, .aes256GCM),
    ]

    /// Every preset, with paths that need quoting, makes a config cairn reads back as meant.
    @Test(arguments: presets)
    func everyStarterConfigReadsBack(schedule: SchedulePreset, retention: RetentionPreset, algorithm: EncryptionProfile.Algorithm) throws {
        let fixture = try ConfigFixture()
        let sources = ["/home/tester/My Files #1", "/home/tester/\"quoted\"", "/srv/ünï:x"]
        for destination in [StarterConfig.Destination.folder("/home/tester/backup: disk"), .s3("s3://bucket/laptop")] {
            let starter = StarterConfig(
                setName: "home", destination: destination, sources: sources + ["/home/tester"], schedule: schedule, retention: retention,
                algorithm: algorithm, keyFile: algorithm == .none ? nil : "/home/tester/.config/cairn/key file", timeZone: "Europe/Berlin",
                schema: StarterConfig.schemaAddress)
            let result = try fixture.load(starter.yaml)
            #expect(result.errorMessages == [], "\(starter.yaml)")
            let config = try #require(result.config)
            let set = try #require(config.backupSets["home"])
            #expect(set.sources.map(\.value) == sources + ["/home/tester"])
            #expect(set.schedules.map(\.value) == (schedule.name.map { [$0] } ?? []))
            #expect(set.retention?.value == retention.name)
            #expect(set.exclude.map(\.value) == (destination == .s3("s3://bucket/laptop") ? [] : ["/home/tester/backup: disk"]))
            let profile = try #require(config.encryption["default"])
            #expect(profile.algorithm == algorithm)
            #expect(profile.key?.source == (algorithm == .none ? nil : .file("/home/tester/.config/cairn/key file")))
            #expect(config.timeZoneName == "Europe/Berlin")
            #expect(starter.yaml.hasPrefix("# yaml-language-server: $schema=\(StarterConfig.schemaAddress)\n"))
        }
    }

    @Test func generatedKeysAreBase32InGroupsAndDiffer() throws {
        var seen: Set<String> = []
        for _ in 0..<50 {
            let key = try GeneratedKey.make()
            #expect(key.count == 39)
            #expect(key.split(separator: "-").map(\.count) == Array(repeating: 4, count: 8))
            #expect(key.allSatisfy { $0 == "-" || "0123456789abcdefghjkmnpqrstvwxyz".contains($0) })
            seen.insert(key)
        }
        #expect(seen.count == 50)
    }

    @Test func newFilesAreCreatedExclusivelyWithTheirMode() throws {
        let directory = try TemporaryDirectory()
        let key = directory.subpath("keys/cairn.key")
        let previous = umask(0o000)
        defer { umask(previous) }
        try DurableFile.create(Data("k\n".utf8), at: key, mode: 0o600)
        var info = stat()
        #expect(stat(key, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(throws: DurableFile.CreateFailure.exists(key)) { try DurableFile.create(Data("other".utf8), at: key, mode: 0o600) }
        #expect(FileManager.default.contents(atPath: key) == Data("k\n".utf8))
        // A dangling link is something at the path too: it is not followed.
        let link = directory.subpath("keys/link")
        #expect(symlink(directory.subpath("elsewhere"), link) == 0)
        #expect(throws: DurableFile.CreateFailure.exists(link)) { try DurableFile.create(Data("x".utf8), at: link) }
        #expect(!FileManager.default.fileExists(atPath: directory.subpath("elsewhere")))
        // No temporary files are left beside them.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.subpath("keys")).sorted() == ["cairn.key", "link"])
        // Without a mode, the umask applies.
        umask(0o027)
        let config = directory.subpath("cairn.yaml")
        try DurableFile.create(Data("version: 1\n".utf8), at: config)
        #expect(stat(config, &info) == 0 && info.st_mode & 0o777 == 0o640)
    }
}

extension Result where Failure == StarterAnswers.Invalid {
    /// The reason, or "" when it is a value.
    var failureText: String {
        if case .failure(let reason) = self { return reason.description }
        return ""
    }
}
