import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// A plan's actions past a few hundred live in a spill file: they come back in order and
/// whole, a copy goes its own way, damage is an error, and the plan folded from them reads as
/// the plan folded from every action held at once.
@Suite("Actions of a plan")
struct PlanActionsTests {
    static func randomAction(_ random: inout SeededGenerator, path: String? = nil) -> BackupPlan.Action {
        let kinds: [BackupPlan.ActionKind] = [.new, .changed, .removed]
        let names = ["a", "b", "é", "x y", "日本", "\\x01", "long-\(String(repeating: "n", count: 40))"]
        var action = BackupPlan.Action(
            action: kinds.randomElement(using: &random)!,
            path: path ?? "/" + (0..<Int.random(in: 1...4, using: &random)).map { _ in names.randomElement(using: &random)! }.joined(separator: "/"),
            pathBase64: Bool.random(using: &random) ? "AQID" : nil, kind: ["file", "directory", "symlink", "fifo"].randomElement(using: &random)!,
            size: UInt64.random(in: 0...1 << 40, using: &random), reason: Bool.random(using: &random) ? "deleted" : "size 1 B → 2 B")
        if Bool.random(using: &random) {
            action.fingerprint = BackupPlan.Fingerprint(
                size: UInt64.random(in: 0...1 << 40, using: &random), mtime: Timestamp(seconds: Int64.random(in: -1 << 40...1 << 40, using: &random), nanoseconds: 999_999_999),
                ctime: Timestamp(seconds: -5, nanoseconds: 0), inode: UInt64.max)
            if Bool.random(using: &random) {
                action.fingerprint?.mode = UInt32.random(in: 0...0o177777, using: &random)
                action.fingerprint?.uid = UInt32.random(in: 0...UInt32.max, using: &random)
                action.fingerprint?.gid = 0
            }
        }
        if Int.random(in: 0..<5, using: &random) == 0 {
            action.delta = DeltaDecision(decision: Bool.random(using: &random) ? .full : .delta, reason: "delta on 2026-11-20 version", fullIfOver: Bool.random(using: &random) ? 62.5 : nil)
        }
        if Bool.random(using: &random) { action.change = [.content, .metadata, .type, .target].randomElement(using: &random)! }
        if Bool.random(using: &random) { action.target = "../t→" }
        return action
    }

    @Test func manyActionsComeBackInOrderFromTheSpill() throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: 24)
        var actions = PlanActions(spillFolder: directory.path)
        var expected: [BackupPlan.Action] = []
        for index in 0..<6_000 {
            let action = Self.randomAction(&random)
            actions.append(action)
            expected.append(action)
            if index == 100 { #expect(actions.spillDescriptor == nil, "a few are held as values") }
        }
        #expect(actions.spillDescriptor != nil, "many are in the spill file")
        #expect(actions.count == expected.count)
        #expect(try actions.array() == expected)
        #expect(try actions.first { $0.path == expected[4_321].path } == expected.first { $0.path == expected[4_321].path })

        // A copy shares what was written, and each goes its own way after.
        var copy = actions
        let extra = Self.randomAction(&random, path: "/only/in/the/copy")
        copy.append(extra)
        actions.append(Self.randomAction(&random, path: "/only/in/the/original"))
        #expect(try copy.array() == expected + [extra])
        #expect(try actions.array().last?.path == "/only/in/the/original")
        #expect(copy != actions)
        #expect(PlanActions(try copy.array()) == copy)
    }

    @Test func aFolderThatCannotTakeThemKeepsThemInMemory() throws {
        var random = SeededGenerator(state: 7)
        var actions = PlanActions(spillFolder: "/nonexistent/cairn-test")
        let expected = (0..<2_000).map { _ in Self.randomAction(&random) }
        for action in expected { actions.append(action) }
        #expect(try actions.array() == expected)
    }

    @Test func aDamagedSpillIsAnErrorNotAWrongPlan() throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: 9)
        var actions = PlanActions(spillFolder: directory.path)
        // Past the spill file's buffer: some of them are in the file.
        for _ in 0..<30_000 { actions.append(Self.randomAction(&random)) }
        let descriptor = try #require(actions.spillDescriptor)
        var byte: UInt8 = 0
        #expect(pread(descriptor, &byte, 1, 1_000) == 1)
        byte ^= 0x10
        #expect(pwrite(descriptor, &byte, 1, 1_000) == 1)
        #expect(throws: (any Error).self) { try actions.array() }
        let plan = BackupPlan(set: "damaged", actions: actions)
        #expect(throws: (any Error).self) { try plan.lines(verbose: true) }
        #expect(throws: (any Error).self) { try plan.lines() }
    }

    /// A random tree of planned entries, as the plan walks it: a folder's entries by name, each
    /// planned folder's line right before what is under it.
    static func walkOrderActions(_ random: inout SeededGenerator) -> [BackupPlan.Action] {
        var actions: [BackupPlan.Action] = []
        func folder(_ path: String, depth: Int) {
            let names = Set((0..<Int.random(in: 0...(depth > 3 ? 3 : 12), using: &random)).map { _ in
                ["a", "b", "c", "d.txt", "d", "e-f", "g h", "x"].randomElement(using: &random)! + String(Int.random(in: 0...3, using: &random))
            }).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            for name in names {
                let child = path + "/" + name
                let isFolder = depth < 5 && Int.random(in: 0..<3, using: &random) == 0
                var action = randomAction(&random, path: child)
                action.pathBase64 = nil
                if isFolder {
                    action.kind = "directory"
                    if Bool.random(using: &random) { actions.append(action) }
                    folder(child, depth: depth + 1)
                } else {
                    action.kind = "file"
                    actions.append(action)
                }
            }
        }
        folder("/r" + String(Int.random(in: 0...1, using: &random)), depth: 0)
        if Bool.random(using: &random) { folder("/s", depth: 1) }
        return actions
    }

    @Test(arguments: 0..<150) func theFoldReadsAsFoldingEveryActionAtOnce(seed: UInt64) throws {
        var random = SeededGenerator(state: seed + 1)
        let actions = Self.walkOrderActions(&random)
        let budget = Int.random(in: 2...60, using: &random)
        let directory = try TemporaryDirectory()
        var spilled = PlanActions(spillFolder: directory.path)
        for action in actions { spilled.append(action) }
        let plan = BackupPlan(set: "s", actions: spilled)
        let (shown, decided) = try plan.folded(budget: budget)
        #expect(shown == ReferenceFold.folded(actions, budget: budget), "budget \(budget), \(actions.count) actions")
        #expect(decided == actions.filter { $0.delta != nil }.map { BackupPlan.line(for: $0) })
    }
}

/// The fold as it was, with every action held in a tree of its own: what the fold of counts
/// per folder must show, line for line.
enum ReferenceFold {
    final class Node {
        var children: [[UInt8]: Node] = [:]
        var action: Int?
        var new = 0, changed = 0, removed = 0
        var bytes: UInt64 = 0
        var count: Int { new + changed + removed }

        func count(_ action: BackupPlan.Action) {
            switch action.action {
            case .new: new += 1
            case .changed: changed += 1
            case .removed: removed += 1
            }
            if action.action != .removed { bytes &+= action.size }
        }
    }

    static func folded(_ actions: [BackupPlan.Action], budget: Int) -> [String] {
        let root = Node()
        for (index, action) in actions.enumerated() {
            var node = root
            for component in FilePath(action.pathBytes).components {
                node.count(action)
                node = node.children[component] ?? {
                    let child = Node()
                    node.children[component] = child
                    return child
                }()
            }
            node.count(action)
            let leaf = Node()
            leaf.count(action)
            leaf.action = index
            node.children[[]] = leaf
        }
        var top = root
        var topPath = FilePath.root
        while top.action == nil, top.children.count == 1, let (name, child) = top.children.first, child.action == nil, !name.isEmpty {
            top = child
            topPath = topPath.appending(name)
        }
        var items: [(path: FilePath, node: Node)] = [(topPath, top)]
        while true {
            let groups = items.indices.filter { items[$0].node.action == nil && items[$0].node.count > 1 }
            guard let smallest = groups.map({ items[$0].node.count }).min() else { break }
            let tier = groups.filter { items[$0].node.count == smallest }
            let cost = tier.reduce(0) { $0 + items[$1].node.children.count - 1 }
            guard items.count + cost <= budget else { break }
            var next: [(path: FilePath, node: Node)] = []
            for (index, item) in items.enumerated() {
                if tier.contains(index) {
                    next += item.node.children.map { ($0.key.isEmpty ? item.path : item.path.appending($0.key), $0.value) }
                } else {
                    next.append(item)
                }
            }
            items = next
        }
        return items.sorted { ($0.path, $0.node.action == nil ? 1 : 0) < ($1.path, $1.node.action == nil ? 1 : 0) }.map { item in
            var node = item.node
            while node.action == nil, node.count == 1, let only = node.children.values.first(where: { $0.count == 1 }) { node = only }
            if let action = node.action { return BackupPlan.line(for: actions[action]) }
            let shown = item.path.description + "/"
            if node.new == node.count { return "+ \(shown) (\(node.new) new, \(ByteCountText.format(node.bytes)))" }
            if node.removed == node.count { return "- \(shown) (\(node.removed) removed)" }
            if node.changed == node.count { return "~ \(shown) (\(node.changed) changed, \(ByteCountText.format(node.bytes)))" }
            return "~ \(shown) (\(node.new) new, \(node.changed) changed, \(node.removed) removed; \(ByteCountText.format(node.bytes)))"
        }
    }
}
