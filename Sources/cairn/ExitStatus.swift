import Foundation

/// The EXIT STATUS block every command's help ends with (DESIGN.md's exit codes). Every
/// command can end with 0, 1 and 64; only plan has --detailed-exitcode (2), and only the
/// commands whose jobs can finish with problems (JobOutcome `.incomplete`) end with 3.
enum ExitStatus {
    static let success: Int32 = 0
    static let error: Int32 = 1
    static let changes: Int32 = 2
    static let incomplete: Int32 = 3

    static let heading = "EXIT STATUS:"

    /// The block of a command that ends with 0, 1 or 64.
    static let text = block()

    /// cairn plan's: 2 with --detailed-exitcode.
    static let withChanges = block(
        changes: "success with changes (only with --detailed-exitcode)")

    /// backup, run-due and seed-load: 3 when files could not be read.
    static let withUnreadFiles = block(
        incomplete: """
            finished, but some files could not be read (each keeps its previous
            version in the snapshot)
            """)

    /// apply: 3 when files could not be read, or a saved plan's files had changed.
    static let withUnreadOrChangedFiles = block(
        incomplete: """
            finished, but some files could not be read (each keeps its previous
            version in the snapshot), or (with --plan) planned entries had
            changed and were backed up as they are now
            """)

    /// restore: 3 when entries could not be written as recorded.
    static let withUnwrittenFiles = block(
        incomplete: """
            finished, but some entries could not be written, or not with all
            their metadata, or were replaced or moved while the restore ran
            (each is named)
            """)

    /// The top-level page's: every status, with the commands it applies to.
    static let everyCommand = block(
        changes: "success with changes (only cairn plan --detailed-exitcode)",
        incomplete: """
            finished, but some files could not be read or written (backup,
            apply, run-due, seed-load, restore), or (apply --plan) planned
            files had changed and were backed up as they are now
            """)

    /// The block: 0, 1, then 2 and 3 when given (each line after a description's first is
    /// indented under it), and 64 last (help output and tests expect it there). Lines stay
    /// within 73 characters, which man(1) shows unbroken on an 80-column terminal.
    private static func block(changes: String? = nil, incomplete: String? = nil) -> String {
        func entry(_ code: String, _ description: String) -> [String] {
            let lines = description.split(separator: "\n").map(String.init)
            return ["  \(code.padding(toLength: 4, withPad: " ", startingAt: 0))\(lines[0])"] + lines.dropFirst().map { "      " + $0 }
        }
        var lines = [heading]
        lines += entry("0", "success")
        lines += entry("1", "error: a wrong config, a locked set, damage, restore conflicts")
        if let changes { lines += entry("2", changes) }
        if let incomplete { lines += entry("3", incomplete) }
        lines += entry("64", "usage error (wrong arguments or options)")
        return lines.joined(separator: "\n")
    }

    /// Help text with the EXIT STATUS block (written in each command's discussion, so man pages
    /// have it too) moved after the options, where restic and most tools print it.
    static func movedToEnd(of help: String) -> String {
        var lines = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == heading }) else { return help }
        var end = start + 1
        while end < lines.count, !lines[end].trimmingCharacters(in: .whitespaces).isEmpty { end += 1 }
        let block = lines[start..<end].map { $0.trimmingCharacters(in: .init(charactersIn: " ")) == heading ? heading : $0 }
        lines.removeSubrange(start..<min(end + 1, lines.count))
        while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
        return (lines + [""] + block).joined(separator: "\n")
    }
}
