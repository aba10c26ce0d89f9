import Foundation

/// The EXIT STATUS block every command's help ends with (DESIGN.md's exit codes).
enum ExitStatus {
    static let success: Int32 = 0
    static let error: Int32 = 1
    static let changes: Int32 = 2
    static let incomplete: Int32 = 3

    static let heading = "EXIT STATUS:"

    static let text = """
        EXIT STATUS:
          0   success
          1   error: a wrong config, a locked set, damaged data, restore conflicts
          2   success with changes (only with --detailed-exitcode)
          3   finished, but some files could not be read or written, or (apply --plan)
              planned files had changed and were backed up as they are now
          64  usage error (wrong arguments or options)
        """

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
