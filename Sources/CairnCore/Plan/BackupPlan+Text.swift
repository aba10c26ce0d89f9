/// The plan as text: `+ path (size)`, `~ path (size)`, `- path`, folded per directory when long.
extension BackupPlan {
    /// A group of actions under one directory, for folding.
    final class Node {
        var children: [[UInt8]: Node] = [:]
        /// A leaf's action, by its place in `actions` (not a copy: a plan can hold a million).
        var action: Int?
        var new = 0, changed = 0, removed = 0
        var bytes: UInt64 = 0
        var count: Int { new + changed + removed }
    }

    /// The lines of the plan. Unless `verbose`, long lists fold per directory with counts so
    /// the plan stays within about `budget` lines.
    public func lines(verbose: Bool = false, budget: Int = 40, colour: Bool = false, times: TimeText = .utc) -> [String] {
        var lines: [String] = []
        if createsRepository {
            var line = "+ set \(set): new repository at \(repository)"
            if !unusedRepositories.isEmpty {
                line += " (the destination also holds \(unusedRepositories.joined(separator: ", ")), which no set uses: a renamed set keeps its data with 'repository: \(unusedRepositories[0])')"
            }
            lines.append(paint(line, "+", colour))
        }
        lines += setChanges.map { paint("~ \($0)", "~", colour) }
        if verbose || actions.count <= budget {
            lines += actions.map { paint(Self.line(for: $0), Self.symbol($0.action), colour) }
        } else {
            let shown = folded(budget: budget)
            lines += shown.map { paint($0, String($0.first ?? " "), colour) }
            // In-file delta decisions are shown whatever is folded.
            let decided = actions.filter { $0.delta != nil }.map { Self.line(for: $0) }.filter { !shown.contains($0) }
            lines += decided.map { paint($0, String($0.first ?? " "), colour) }
        }
        for expiration in expirations {
            let line = "- snapshot \(expiration.snapshot.prefix(8)) of \(times(expiration.time)): \(expiration.reason)"
            lines.append(paint(line, "-", colour))
        }
        if let localCopy { lines.append(paint("~ \(localCopy)", "~", colour)) }
        lines += warnings.map { "warning: \($0)" }
        if let refusal { lines.append("error: the run stops here: \(refusal)") }
        lines.append(summaryLine)
        // Reasons keep times as the plan document does (RFC 3339 UTC); people read them in
        // the style of every other time.
        return lines.map(times.restyle)
    }

    static func symbol(_ kind: ActionKind) -> String {
        switch kind {
        case .new: return "+"
        case .changed: return "~"
        case .removed: return "-"
        }
    }

    static func line(for action: Action) -> String {
        switch action.action {
        case .new:
            switch action.kind {
            case "file": return "+ \(action.path) (\(ByteCountText.format(action.size))\(decision(action)))"
            case "directory": return "+ \(action.path)/"
            case "symlink": return "+ \(action.path) -> \(action.target ?? "")"
            default: return "+ \(action.path) (\(action.kind))"
            }
        case .changed:
            switch action.change {
            case .content?, nil: return "~ \(action.path) (\(ByteCountText.format(action.size))\(decision(action)))"
            case .type?:
                let size = action.kind == "file" ? " (\(ByteCountText.format(action.size))\(decision(action)))" : ""
                return "~ \(action.path): \(action.reason)\(size)"
            case .target?, .metadata?, .new?: return "~ \(action.path): \(action.reason)"
            }
        case .removed: return action.reason == "deleted" ? "- \(action.path)" : "- \(action.path) (\(action.reason))"
        }
    }

    static func decision(_ action: Action) -> String {
        action.delta.map { "; \($0.summary)" } ?? ""
    }

    private func paint(_ line: String, _ symbol: String, _ colour: Bool) -> String {
        guard colour else { return line }
        switch symbol {
        case "+": return ANSI.wrap(line, ANSI.green)
        case "~": return ANSI.wrap(line, ANSI.yellow)
        case "-": return ANSI.wrap(line, ANSI.red)
        default: return line
        }
    }

    /// Folds actions into directory groups, expanding the largest group while the result stays
    /// within `budget` lines.
    func folded(budget: Int) -> [String] {
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
            // A folder's own line is a leaf under the empty name, beside what is under it.
            let leaf = Node()
            leaf.count(action)
            leaf.action = index
            node.children[[]] = leaf
        }
        // Start at the deepest folder that holds everything.
        var top = root
        var topPath = FilePath.root
        while top.action == nil, top.children.count == 1, let (name, child) = top.children.first, child.action == nil, !name.isEmpty {
            top = child
            topPath = topPath.appending(name)
        }
        // Expand groups smallest first, a whole tier of equal size at a time (so folders alike
        // are shown alike), while the plan stays within the budget.
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
        // A folder's own line first, then what is under it.
        return items.sorted { ($0.path, $0.node.action == nil ? 1 : 0) < ($1.path, $1.node.action == nil ? 1 : 0) }.map { item in
            var node = item.node
            while node.action == nil, node.count == 1, let only = node.children.values.first(where: { $0.count == 1 }) { node = only }
            if let action = node.action { return Self.line(for: actions[action]) }
            let shown = item.path.description + "/"
            if node.new == node.count { return "+ \(shown) (\(node.new) new, \(ByteCountText.format(node.bytes)))" }
            if node.removed == node.count { return "- \(shown) (\(node.removed) removed)" }
            if node.changed == node.count { return "~ \(shown) (\(node.changed) changed, \(ByteCountText.format(node.bytes)))" }
            return "~ \(shown) (\(node.new) new, \(node.changed) changed, \(node.removed) removed; \(ByteCountText.format(node.bytes)))"
        }
    }
}

extension BackupPlan.Node {
    func count(_ action: BackupPlan.Action) {
        switch action.action {
        case .new: new += 1
        case .changed: changed += 1
        case .removed: removed += 1
        }
        if action.action != .removed { bytes += action.size }
    }
}
