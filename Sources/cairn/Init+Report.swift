import CairnCore
import Foundation

/// What `cairn init` says once it has written: the files, the advice about the key, and the
/// commands that come next.
extension InitFiles {
    func report(_ starter: StarterConfig, key: String, showKey: Bool) {
        var lines: [String] = []
        if let keyPath = starter.keyFile { lines.append("wrote \(keyPath): the key of encryption profile 'default' (mode 0600)") }
        lines.append("wrote \(output): backup set '\(starter.setName)'")
        if let keyPath = starter.keyFile {
            lines += [
                "",
                "Store a copy of the key away from this computer, in a password manager or on paper:",
                "without it nothing can be restored, and nobody can recover it. \(showKey ? "The key:" : "To see it: cat \(Self.quoted(keyPath))")",
            ]
            if showKey { lines.append("  \(key)") }
            if let work = Self.gitWorkTree(around: keyPath) {
                lines.append("\(keyPath) is in the git work tree \(work): keep it out of git (add it to .gitignore).")
            }
        }
        let cairn = "cairn" + configOption
        var next = [
            ("\(cairn) plan", "what the first backup will store"),
            ("\(cairn) backup", "make it"),
        ]
        if starter.schedule != .none { next.append(("\(cairn) schedule install", "have cron back up \(starter.schedule)")) }
        next += [
            ("\(cairn) restore \(starter.setName) --to DIR", "get files back"),
            ("man 5 cairn.yaml", "every key of the config"),
        ]
        let width = next.map(\.0.count).max() ?? 0
        lines += ["", "Next:"] + next.map { "  " + $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 }
        if configOption.isEmpty, (output as NSString).deletingLastPathComponent == answers.currentDirectory {
            lines.append("(cairn reads ./cairn.yaml in this folder; from another one, add -c \(Self.quoted(output)))")
        }
        print(lines.joined(separator: "\n"))
    }

    /// ` -c FILE` when cairn would not find the config by itself.
    var configOption: String {
        let found = loader.configPath(explicit: nil)
        let absolute = PathExpansion.normalize(found.hasPrefix("/") ? found : answers.currentDirectory + "/" + found)
        return absolute == output || absolute == (output as NSString).deletingLastPathComponent ? "" : " -c \(Self.quoted(output))"
    }

    /// The top folder of the git work tree `path` lies in, if any.
    static func gitWorkTree(around path: String) -> String? {
        var folder = (path as NSString).deletingLastPathComponent
        while folder.hasPrefix("/") {
            if FileManager.default.fileExists(atPath: folder + "/.git") { return folder }
            if folder == "/" { return nil }
            folder = (folder as NSString).deletingLastPathComponent
        }
        return nil
    }

    /// A path as a shell reads it back.
    static func quoted(_ path: String) -> String {
        let plain = path.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "/._-+@~=,:".unicodeScalars.contains($0)) }
        return plain ? path : "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
