import CairnTesting
import Foundation
import Testing

/// The text commands print, whole: ids, times, the workspace's path, the host and the user
/// replaced by placeholders, everything else exactly as a person sees it.
@Suite("Golden text of the commands")
struct GoldenTextTests {
    func normalized(_ text: String, _ workspace: Workspace, host: String) throws -> String {
        var text = text.replacingOccurrences(of: workspace.directory.path, with: "/W")
        text = text.replacing(try Regex(#"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([+-]\d\d:\d\d|UTC)"#, as: (Substring, Substring).self), with: "TIME")
        text = text.replacing(try Regex(#"\b[0-9a-f]{8}\b"#, as: Substring.self), with: "ID")
        let user = String(cString: getpwuid(getuid()).pointee.pw_name)
        // The column is as wide as this host's and user's names make it.
        text = text.replacing(try Regex(" " + NSRegularExpression.escapedPattern(for: "\(host) / \(user)") + " +", as: Substring.self), with: " HOST / USER  ")
        return text.replacingOccurrences(of: "  \(host)\n", with: "  HOST\n")
    }

    @Test func snapshotsLsFindRestoreVerifyPruneAndKeyListPrintWhatPeopleRead() throws {
        let workspace = try Workspace(extra: "    retention: three\ntimezone: Europe/Berlin\nretention: {three: {keep-jobs: 3}}\n")
        try FileManager.default.createDirectory(atPath: workspace.source + "/docs/old", withIntermediateDirectories: true)
        try Data("first version\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/notes.txt"))
        try Data("going\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/old/gone.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        Thread.sleep(forTimeInterval: 1.1)
        try Data("second version, longer\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/notes.txt"))
        try FileManager.default.createSymbolicLink(atPath: workspace.source + "/docs/link", withDestinationPath: "notes.txt")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let rows = try JSONSerialization.jsonObject(with: Data(try workspace.run(["snapshots", "files", "--json"]).standardOutput.utf8)) as? [[String: Any]]
        let host = try #require((rows?.first?["snapshot"] as? [String: Any])?["host"] as? String)
        func shown(_ arguments: [String]) throws -> String {
            let output = try workspace.run(arguments)
            #expect(output.status == 0, "\(arguments): \(output.all)")
            return try normalized(output.standardOutput, workspace, host: host)
        }
        #expect(
            try shown(["snapshots", "files"]) == """
                ID        STARTED                    STATUS     FILES       SIZE  HOST
                ID  TIME complete       2       20 B  HOST
                ID  TIME complete       2       29 B  HOST

                """)
        #expect(
            try shown(["snapshots", "files", "--utc"]) == """
                ID        STARTED                 STATUS     FILES       SIZE  HOST
                ID  TIME complete       2       20 B  HOST
                ID  TIME complete       2       29 B  HOST

                """)
        #expect(
            try shown(["ls", "files", workspace.source]) == """
                d0755            0 TIME /W/source
                d0755            0 TIME /W/source/docs
                l0777            9 TIME /W/source/docs/link -> notes.txt
                -0644           23 TIME /W/source/docs/notes.txt
                d0755            0 TIME /W/source/docs/old
                -0644            6 TIME /W/source/docs/old/gone.txt

                """)
        #expect(
            try shown(["find", "files", "notes.txt"]) == """
                /W/source/docs/notes.txt
                  14 B, modified TIME: in 1 snapshot (TIME): ID
                  23 B, modified TIME: in 1 snapshot (TIME): ID
                1 path, 2 versions, in 2 snapshots

                """)
        #expect(
            try shown(["restore", "files", "--dry-run", "--to", workspace.directory.subpath("r")]) == """
                restoring snapshot ID of TIME to /W/r (dry run)
                would write /W/source/docs/link
                would write /W/source/docs/notes.txt
                would write /W/source/docs/old/gone.txt
                would write 3, identical 0, conflicts 0, problems 0

                """)
        // How many trees depends on how deep the temporary folder is.
        let verify = try shown(["verify", "files"]).replacing(try Regex(#"\d+ trees"#, as: Substring.self), with: "N trees")
        #expect(verify == "files: 2 snapshots, N trees, 3 data objects, 1 key file checked; no problems\n")
        #expect(
            try shown(["prune", "files", "--dry-run"])
                == "prune (three): 0 of 2 snapshots would expire; 0 packs would be deleted, 0 repacked; 0 B would be freed\n")
        #expect(
            try shown(["key", "list", "files"]) == """
                ID        CREATED                     HOST / USER           LABEL
                ID  TIME  HOST / USER  first key  (in use)

                """)
    }
}
