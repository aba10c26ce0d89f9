import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("validate --show: the normalised config reads back to the same values")
struct NormalizedConfigTests {
    /// Loads `yaml`, renders the normalised form, loads that and renders again.
    func roundTrip(_ yaml: String) throws -> (first: StructuredValue, second: StructuredValue) {
        let fixture = try ConfigFixture()
        let first = try fixture.load(yaml, name: "first.yaml")
        let config = try #require(first.config, "\(first.located)\n\(yaml)")
        let shown = config.normalized
        let second = try fixture.load(shown.yaml(), name: "second.yaml")
        let reloaded = try #require(second.config, "\(second.located)\n\(shown.yaml())")
        return (shown, reloaded.normalized)
    }

    @Test(arguments: SourceTree.files(under: "examples", endingWith: ".yaml").filter { !$0.contains("/directory/") && !$0.contains("/server/") })
    func examplesRoundTrip(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let (first, second) = try roundTrip(text)
        #expect(first == second)
    }

    @Test func jsonFormIsValidJSON() throws {
        let text = try String(contentsOfFile: SourceTree.path("examples/filters.yaml"), encoding: .utf8)
        let config = try #require(try ConfigFixture().load(text).config)
        let parsed = try JSONSerialization.jsonObject(with: Data(config.normalized.json().utf8)) as? [String: Any]
        let sets = parsed?["backup-sets"] as? [String: Any]
        #expect(sets?.keys.sorted() == ["applications", "b-documents", "everything-but-images", "office-documents"])
    }

    @Test func secretsAreMasked() throws {
        let yaml = preamble + "  vault: {algorithm: aes-256-gcm, key: {command: \"pass show hunter2\"}}\n"
        let config = try #require(try ConfigFixture().load(yaml).config)
        let shown = config.normalized.yaml()
        #expect(!shown.contains("hunter2"))
        #expect(shown.contains("command: \"***\""))
        #expect(shown.contains("env: CAIRN_KEY"))
    }

    @Test(arguments: 0..<40)
    func randomConfigsRoundTrip(seed: UInt64) throws {
        var generator = SeededGenerator(state: seed)
        let yaml = RandomConfig.yaml(using: &generator)
        let (first, second) = try roundTrip(yaml)
        #expect(first == second, "seed \(seed)")
    }

    @Test(arguments: ["on", "off", "yes", "no", "null", "~", "13:00", "-x", "a: b", "# not a comment", "\"quoted\"", "it's", "tab\there", "ünïcödé", "[x]", "{y}", "*star", "&anchor", "!tag", "%percent", "@at", "`tick`", "x #y", "  padded  ", "123", "0x10", "1e3", "true"])
    func awkwardStringsSurviveTheRoundTrip(text: String) throws {
        let escaped = StructuredValue.jsonString(text)
        let yaml = preamble + "backup-sets:\n  s: {account: nas, sources: [/x], host: \(escaped), commands: {pre: [{name: \(escaped), run: \(escaped)}]}}\n"
        let (first, second) = try roundTrip(yaml)
        #expect(first == second)
        guard case .map(let top) = first, case .map(let sets)? = top.first(where: { $0.0 == "backup-sets" })?.1,
            case .map(let set)? = sets.first?.1
        else {
            Issue.record("no backup set rendered")
            return
        }
        #expect(set.first { $0.0 == "host" }?.1 == .string(text))
    }
}

/// Random valid configs covering every kind and option, for round-trip fuzzing.
enum RandomConfig {
    static let words = ["alpha", "beta", "gamma", "delta-1", "e.f", "g_h", "9lives"]
    static let texts = ["plain", "on", "13:00", "a: b", "x #y", "ünï", "\"q\"", "it's", "-dash", "null", "*"]

    static func yaml<G: RandomNumberGenerator>(using g: inout G) -> String {
        func pick<T>(_ values: [T]) -> T { values.randomElement(using: &g)! }
        func chance(_ p: Double = 0.5) -> Bool { Double.random(in: 0..<1, using: &g) < p }
        func text() -> String { StructuredValue.jsonString(pick(texts)) }
        func path() -> String { StructuredValue.jsonString("/" + (0..<Int.random(in: 1...3, using: &g)).map { _ in pick(words) }.joined(separator: "/")) }
        func time() -> String { String(format: "\"%02d:%02d\"", Int.random(in: 0..<24, using: &g), Int.random(in: 0..<60, using: &g)) }
        func some<T>(_ values: [T], max: Int) -> [T] { Array(values.shuffled(using: &g).prefix(Int.random(in: 1...max, using: &g))) }
        let weekdays = Weekday.allCases.map(\.rawValue)

        var lines = ["version: 1", "timezone: \(pick(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]))", "accounts:"]
        let accounts = some(words, max: 3)
        for name in accounts { lines.append("  \(name): {destination: \(path())}") }
        lines.append("encryption:")
        lines.append("  default: {algorithm: \(pick(["aes-256-gcm", "chacha20-poly1305"])), key: {env: KEY_\(Int.random(in: 0...9, using: &g))}}")
        if chance() { lines.append("  clear: {algorithm: none}") }
        if chance() { lines.append("  filed: {algorithm: aes-256-gcm, key: {file: \(path())}}") }

        let filters = chance(0.7) ? some(words, max: 3) : []
        if !filters.isEmpty { lines.append("filters:") }
        for name in filters {
            let match = pick(["starts-with", "contains", "ends-with", "regex"])
            let patterns = match == "regex" ? ["\"^a.*\\\\.doc$\"", "\"[0-9]+\""] : [text(), "\"*.doc\""]
            lines.append("  \(name): {top: \(path()), apply-to: [\(some(["files", "directories"], max: 2).joined(separator: ", "))], match: \(match), patterns: [\(some(patterns, max: 2).joined(separator: ", "))], mode: \(pick(["include", "exclude"])), others: \(pick(["include", "exclude", "keep"]))}")
        }

        let schedules = chance(0.7) ? some(words, max: 4) : []
        if !schedules.isEmpty { lines.append("schedules:") }
        for name in schedules {
            let maxDuration = chance() ? ", max-duration: \(pick(["90s", "4h", "1h30m", "2d"]))" : ""
            switch Int.random(in: 0..<5, using: &g) {
            case 0: lines.append("  \(name): {type: daily, at: [\(some([time(), time(), time()], max: 3).joined(separator: ", "))]\(maxDuration)}")
            case 1: lines.append("  \(name): {type: weekly, days: [\(some(weekdays, max: 7).joined(separator: ", "))], at: \(time())\(maxDuration)}")
            case 2:
                let day = chance() ? String(Int.random(in: 1...31, using: &g)) : pick(MonthDay.ruleSpellings)
                lines.append("  \(name): {type: monthly, day: \(day), at: \(time())\(maxDuration)}")
            case 3: lines.append("  \(name): {type: once, at: \"20\(Int.random(in: 30...40, using: &g))-0\(Int.random(in: 1...9, using: &g))-1\(Int.random(in: 0...9, using: &g))T\(time().dropFirst().dropLast())\"\(maxDuration)}")
            default: lines.append("  \(name): {type: interval, every: \(pick(["15m", "1h", "90s", "1d12h"]))}")
            }
        }

        let policies = chance(0.7) ? some(words, max: 3) : []
        if !policies.isEmpty { lines.append("retention:") }
        for name in policies {
            switch Int.random(in: 0..<3, using: &g) {
            case 0: lines.append("  \(name): {keep-days: \(Int.random(in: 1...400, using: &g))}")
            case 1: lines.append("  \(name): {keep-jobs: \(Int.random(in: 1...400, using: &g))}")
            default:
                let rules = [
                    "{every: day, copies: \(Int.random(in: 1...30, using: &g))}",
                    "{every: week, day: \(pick(weekdays)), copies: 4}",
                    "{every: month, day: \(pick(["1", "15", "31", "last"])), copies: 3}",
                    "{every: quarter, day: 1, copies: 4}",
                    "{every: quarter, day: last, months: [march, 6, september, 12], copies: 2}",
                    "{every: year, date: \"\(pick(["01-01", "02-29", "12-31"]))\", copies: 7}",
                    "{every: custom, dates: [2026-06-30, \"2025-01-01\"]}",
                ]
                lines.append("  \(name): {remove-overlap: \(pick(["true", "false"])), keep: [\(some(rules, max: 7).joined(separator: ", "))]}")
            }
        }

        lines.append("backup-sets:")
        for (index, name) in some(words, max: 4).enumerated() {
            var options = ["account: \(pick(accounts))", "repository: r\(index)", "sources: [\(some([path(), path(), path()], max: 3).joined(separator: ", "))]"]
            if chance() { options.append("host: \(text())") }
            if chance() { options.append("exclude: [\(path())]") }
            if !filters.isEmpty, chance() { options.append("filters: [\(some(filters, max: 2).joined(separator: ", "))]") }
            if !schedules.isEmpty, chance() { options.append("schedules: [\(some(schedules, max: 2).joined(separator: ", "))]") }
            if !policies.isEmpty, chance() { options.append("retention: \(pick(policies))") }
            if chance() { options.append("encryption: default") }
            if chance() { options.append("compression: \"\(pick(["zstd", "zstd:1", "zstd:22", "zlib", "zlib:9", "none"]))\"") }
            if chance() {
                options.append("in-file-delta: {mode: \(pick(["incremental", "differential", "off"])), block-size: \(pick(["auto", "4KiB", "64KiB"])), min-size: \(pick(["25MB", "1GiB", "4096"])), max-deltas: \(pick(["off", "1", "100"])), max-delta-ratio: \(pick(["off", "50%", "12.5%"])), full-on: [\(pick(["sunday", "{day: 1}", "monday, {day: 31}"]))]}")
            }
            if chance() {
                options.append("commands: {pre: [{name: \(text()), run: \(text()), cwd: \(path()), timeout: 10m, env: {A: \(text()), B_2: \"\"}}], post: [{name: p, run: \(text()), on-failure: continue}]}")
            }
            if chance() { options.append("follow-symlinks: \(pick(["true", "false"]))") }
            if chance() { options.append("permissions: \(pick(["true", "false"]))") }
            if chance() { options.append("local-copy: \(path())") }
            if chance() { options.append("notify: {command: \(text())}") }
            lines.append("  \(name):")
            lines += options.map { "    " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
