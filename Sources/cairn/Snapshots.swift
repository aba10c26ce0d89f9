import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Snapshots: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the snapshots (jobs) of a set.",
            discussion: """
                Lists the set's snapshots, oldest first, one line each: ID (its first 8 \
                characters), STARTED, STATUS, FILES, SIZE and HOST. Without SET, those of \
                every set of this host (or of no host), each under its name; a set never \
                backed up has none yet. Nothing is written to the repository, and no lock is \
                taken. \
                STATUS is complete (every entry read or found unchanged), incomplete (the job \
                finished, but files that could not be read kept their previous version) or \
                partial (the job was interrupted; what it did not reach kept its previous \
                version). cairn log uses the same words for the same job. FILES and SIZE \
                count the whole snapshot, carried-over entries included; a snapshot's tags (cairn \
                tag) follow its host in brackets. STARTED is in the config's time zone with \
                its offset (UTC with --utc), a form --at takes back. A snapshot file that \
                cannot be read is listed as damaged, with why, after the others (which still \
                list and restore), and the exit status is 1; cairn repair sets it aside.

                Examples:
                  cairn snapshots documents            the set's snapshots
                  cairn snapshots                      those of every set of this host
                  cairn snapshots documents --json     for a script
                  cairn snapshots documents --from /mnt/usb/cairn --key-file ~/cairn.key
                                                       those of a copied repository

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var source: SourceOptions

        @Argument(help: "The backup set (default: every set of this host, each under its name).")
        var set: String?

        @Flag(help: "Print the snapshots as JSON.")
        var json = false

        func run() async throws {
            try await CommandSupport.forEachSet(set, json: json, options: options, source: source, command: "snapshots") { config, set in
                await list(config, set: set)
            }
        }

        func list(_ config: Config, set: String) async -> JobOutcome {
            await CommandSupport.job(config, set: set, command: "snapshots", source: source) { runner in await runner.read(allowingNone: true) { repository in
                let records = try await repository?.snapshots().filter { $0.snapshot.set == set } ?? []
                // A damaged snapshot's set is unknown: it is listed with every set of the repository.
                let damaged = await repository?.unreadableSnapshots ?? []
                if json {
                    struct Row: Encodable {
                        var id: String
                        var snapshot: Snapshot?
                        var damaged: String?
                    }
                    let rows = records.map { Row(id: $0.id.hex, snapshot: $0.snapshot) } + damaged.map { Row(id: $0.id.hex, damaged: $0.reason) }
                    CommandSupport.printJSON(try JSONOutput.text(rows))
                    return damaged.isEmpty ? .success : JobOutcome(.failed)
                }
                if records.isEmpty && damaged.isEmpty {
                    print("backup set '\(set)' has no snapshots yet")
                    return .success
                }
                let times = options.times(config)
                print("ID        " + "STARTED".padding(toLength: times.width + 1, withPad: " ", startingAt: 0) + "STATUS     FILES       SIZE  HOST")
                for record in records {
                    let s = record.snapshot
                    let columns = [
                        record.id.short.padding(toLength: 9, withPad: " ", startingAt: 0),
                        times(s.start),
                        s.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
                        String(s.statistics.files).leftPadded(5),
                        ByteCountText.format(s.statistics.bytes).leftPadded(10),
                        " " + s.host + (s.tags.map { "  [\($0.joined(separator: ", "))]" } ?? ""),
                    ]
                    print(columns.joined(separator: " "))
                }
                for (id, reason) in damaged {
                    print(id.short.padding(toLength: 9, withPad: " ", startingAt: 0) + " " + "?".padding(toLength: times.width, withPad: " ", startingAt: 0) + " damaged    \(reason)")
                }
                return damaged.isEmpty ? .success : JobOutcome(.failed)
            } }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
