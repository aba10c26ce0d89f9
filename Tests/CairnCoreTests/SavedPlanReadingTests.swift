import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// `SavedPlan.read` cuts each plan's actions out of the document as it reads it and decodes them
/// a batch at a time: the plan comes back the same whatever the layout, hostile paths do not
/// fool the cutting, and a damaged document is an error naming it.
@Suite("Reading a saved plan")
struct SavedPlanReadingTests {
    /// Two plans of many actions (more than a batch) with paths full of JSON's own characters.
    static func document(in directory: TemporaryDirectory) throws -> SavedPlan {
        var random = SeededGenerator(state: 31)
        var plans: [BackupPlan] = []
        for (set, count) in [("first", 7_000), ("second", 3)] {
            var actions = PlanActions(spillFolder: directory.path)
            for index in 0..<count {
                var action = PlanActionsTests.randomAction(&random)
                if index % 7 == 0 { action.path += "/\"],\"plans\":[{\"actions\":[\\\n{}" }
                if index % 11 == 0 { action.target = "]]}}\"\\u0000" }
                actions.append(action)
            }
            var plan = BackupPlan(set: set, actions: actions)
            plan.warnings = ["a warning with [brackets], {braces} and \"quotes\""]
            plan.summary.newFiles = count
            plans.append(plan)
        }
        return SavedPlan(created: Date(timeIntervalSince1970: 1_800_000_000), host: "host", configDigest: "digest", plans: plans)
    }

    static func expectSame(_ read: SavedPlan, _ written: SavedPlan) throws {
        #expect(read.plans.count == written.plans.count)
        for (a, b) in zip(read.plans, written.plans) {
            #expect(a.set == b.set && a.summary == b.summary && a.warnings == b.warnings)
            #expect(a.actions.count == b.actions.count)
            #expect(try a.actions.array() == b.actions.array())
        }
        #expect(read.configDigest == written.configDigest && read.host == written.host && read.created == written.created)
    }

    @Test func aPlanComesBackWholeFromItsDocument() throws {
        let directory = try TemporaryDirectory()
        let written = try Self.document(in: directory)
        let path = directory.subpath("plan.json")
        try written.json().write(toFile: path, atomically: true, encoding: .utf8)
        let read = try SavedPlan.read(path, spillFolder: directory.path)
        try Self.expectSame(read, written)
        // Past a few hundred, the actions read are in a spill file, not held.
        #expect(read.plans[0].actions.spillDescriptor != nil)
    }

    /// Rewritten by another tool: on one line, keys in another order, or `actions` spelt with
    /// an escape (not cut out then: decoded with the rest).
    @Test(arguments: ["compact", "escaped key"])
    func aPlanLaidOutOtherwiseReadsTheSame(layout: String) throws {
        let directory = try TemporaryDirectory()
        let written = try Self.document(in: directory)
        let object = try JSONSerialization.jsonObject(with: Data(try written.json().utf8))
        var text = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]), as: UTF8.self)
        if layout == "escaped key" { text = text.replacingOccurrences(of: "\"actions\":[", with: "\"\\u0061ctions\":[") }
        #expect(layout != "escaped key" || text.contains("u0061ctions"))
        #expect(!text.contains("\n  "))
        let path = directory.subpath("plan.json")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try Self.expectSame(try SavedPlan.read(path, spillFolder: directory.path), written)
    }

    @Test func aDamagedDocumentIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory()
        let text = try Self.document(in: directory).json()
        let path = directory.subpath("plan.json")
        func failure(_ document: String) -> String {
            try? document.write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try SavedPlan.read(path, spillFolder: directory.path)
                return "read"
            } catch {
                return "\(error)"
            }
        }
        let utf8 = Array(text.utf8)
        for cut in [10, utf8.count / 3, utf8.count - 2] {
            let message = failure(String(decoding: utf8[..<cut], as: UTF8.self))
            #expect(message.hasPrefix("\(path) is not a cairn plan: "), "cut at \(cut): \(message)")
        }
        // An action that is not one (a number for its path), far into the actions.
        let broken = text.replacingOccurrences(of: "\"path\" : \"/", with: "\"path\" : 7, \"x\" : \"/", options: .backwards, range: text.index(text.startIndex, offsetBy: text.count / 2)..<text.endIndex)
        #expect(failure(broken).hasPrefix("\(path) is not a cairn plan: "))
        // Actions that are a text other than the reader's own marker.
        let text2 = text.replacingOccurrences(of: "\"actions\" : [", with: "\"actions\" : \"cairn-actions-1-0\", \"was\" : [")
        #expect(failure(text2).hasPrefix("\(path) is not a cairn plan: "))
        #expect(failure("]").hasPrefix("\(path) is not a cairn plan: "))
        // Brackets that do not match, and commas without an element, in an action list.
        let end = "\n      ],\n      \"creates_repository\""
        let last = try #require(text.range(of: end, options: .backwards))
        for damaged in [
            text.replacingCharacters(in: last, with: end.replacingOccurrences(of: "]", with: "}")),
            text.replacingCharacters(in: last, with: "," + end),
        ] {
            #expect(failure(damaged).hasPrefix("\(path) is not a cairn plan: "), "\(failure(damaged))")
        }
        let first = try #require(text.range(of: "\"actions\" : [\n"))
        #expect(failure(text.replacingCharacters(in: first, with: "\"actions\" : [\n,")).hasPrefix("\(path) is not a cairn plan: "))
        #expect(failure("{\"format\": \"other\"}") == "\(path) is not a cairn plan: it has no \"format\": \"cairn-plan\"")
        // Plans of earlier versions had fingerprints for files only: made again, not misread.
        #expect(failure(text.replacingOccurrences(of: "\"version\" : 3", with: "\"version\" : 2")) == "\(path) is a plan of format version 2, which this cairn cannot apply")
        #expect("\((try? SavedPlan.read(directory.subpath("missing.json"))) as Any)" == "nil")
    }

    /// Actions are written by hand, byte for byte as Foundation's encoder writes them: every
    /// optional field, every control character, slashes, quotes and non-ASCII text.
    @Test func actionsWrittenByHandAreTheEncodersBytes() throws {
        var random = SeededGenerator(state: 77)
        let encoder = SavedPlan.makeEncoder()
        let hostile = String(decoding: (0..<0x20).map { UInt8($0) } + Array("\u{7f}/\\\"é日本\u{2028}".utf8), as: UTF8.self)
        var handled = 0
        for index in 0..<3_000 {
            var action = PlanActionsTests.randomAction(&random)
            if index % 3 == 0 {
                action.path += hostile
                action.reason = hostile
                action.target = hostile
            }
            var bytes: [UInt8] = []
            let indent = "      "
            let expected = String(decoding: try encoder.encode(action), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                .map { indent + $0 }.joined(separator: "\n")
            if ActionJSON.append(action, indent: Array(indent.utf8), to: &bytes) {
                handled += 1
                #expect(String(decoding: bytes, as: UTF8.self) == expected, "\(expected)")
            } else {
                #expect(bytes.isEmpty && action.delta?.fullIfOver != nil)
            }
        }
        #expect(handled > 2_500)
    }

    /// The walk's order, which the plan's actions and the restricted scan share: by name, a
    /// folder's contents right after it and before its next sibling whatever bytes follow.
    @Test func pathsCompareInTheOrderOfTheWalk() {
        let ordered = ["/", "/a", "/a/b", "/a/b/c", "/a/c", "/a-b", "/a0", "/aa", "/b", "/b\u{e9}"]
        for (i, a) in ordered.enumerated() {
            for (j, b) in ordered.enumerated() {
                #expect(Restriction.precedes(Array(a.utf8), Array(b.utf8)) == (i < j), "\(a) \(b)")
            }
        }
        #expect(Restriction.isUnder(Array("/a/b".utf8), Array("/a".utf8)))
        #expect(Restriction.isUnder(Array("/a".utf8), Array("/".utf8)))
        #expect(!Restriction.isUnder(Array("/a-b".utf8), Array("/a".utf8)))
        #expect(!Restriction.isUnder(Array("/a".utf8), Array("/a".utf8)))
    }
}
