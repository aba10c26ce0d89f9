import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a set's repository, and report what any damage affects.",
            discussion: """
                Checks that every snapshot's trees load and that every object they need is \
                indexed and inside an existing pack. With --read-data, also reads every pack \
                and opens every object in it (its authentication tag, and for content its \
                hash) and checks that each pack's header lists what the index says of it; \
                --read-data 10% (or --read-data=10%) reads a random tenth of the packs. Each damaged or missing \
                object is listed with the files and snapshots it affects. Damage that opening \
                the repository passes over is reported too: snapshots that cannot be read, \
                index files that cannot be read (their packs are found from their headers), \
                packs without a readable header, and key files whose checksum does not match \
                (each key file is sealed, so damage is found without its secret). cairn \
                repair says what can be done about each. Verify reads the stored files, never \
                the cache of a remote repository on this machine; on an object store \
                (s3://), the last line (storage:) counts the requests sent, by kind, and the \
                bytes received.

                Examples:
                  cairn verify documents                  the structure, reading no data
                  cairn verify documents --read-data      also read and check every pack
                  cairn verify documents --read-data 10%  a random tenth of the packs
                  cairn verify --json                     every set of this host, as JSON

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var source: SourceOptions

        @Argument(help: "The backup set (default: every set of this host, each under its name).")
        var set: String?

        @Option(
            name: .long,
            help: ArgumentHelp("Read and check all data (--read-data), or a random share of it (--read-data 10%).", valueName: "percent"))
        var readData: String?

        static func share(_ text: String?) throws -> Double? {
            guard let text else { return nil }
            guard text.hasSuffix("%"), let value = Double(text.dropLast()), value > 0, value <= 100 else {
                throw ValidationError("--read-data takes a percentage above 0% and at most 100%, such as 10%")
            }
            return value / 100
        }

        @Flag(help: "Print the report as JSON (schemas/verify.schema.json).")
        var json = false

        func validate() throws { _ = try Self.share(readData) }

        func run() async throws {
            let share = try Self.share(readData)
            try await CommandSupport.forEachSet(set, json: json, options: options, source: source, command: "verify") { config, set in
                await Self.check(config, set: set, command: "verify", readData: share, slice: nil, source: source, json: json, quiet: quietOption.quiet).outcome
            }
        }

        /// The report as `--json` prints it.
        struct Document: Encodable {
            struct Damage: Encodable {
                struct Affected: Encodable {
                    var snapshot: String
                    var path: String
                }
                var object: String?
                var message: String
                var affected: [Affected]
            }
            var set: String
            var snapshots: Int
            var trees: Int
            var dataObjects: Int
            var signatures: Int
            var keyFiles: Int
            /// The share of the packs read (1 for all), absent when no data was read.
            var readData: Double?
            var slice: String?
            var packsRead: Int
            var bytesRead: Int
            var damages: [Damage]
            var storage: StorageTraffic.Summary?
        }

        /// Verifies a set's repository, printing each damage and a summary line; returns the
        /// outcome and, when the check ran, its report. Shared with run-due's scheduled verify.
        static func check(
            _ config: Config, set: String, command: String, readData share: Double?, slice: Verifier.Slice?, source: SourceOptions? = nil,
            json: Bool = false, quiet: Bool = false
        ) async
            -> (outcome: JobOutcome, report: Verifier.Report?)
        {
            var found: Verifier.Report?
            let outcome = await CommandSupport.job(config, set: set, command: command, source: source, uncached: true, traffic: !json) { runner in await runner.run(lease: .shared) { repository in
                if share != nil { try await runner.context.requireStoredDataReadable() }
                // Every file as stored: no local copy stands in for it.
                // Progress of the packs read, on a terminal (not for run-due's scheduled verify).
                let progress = CommandSupport.LateProgress(noun: "packs", shown: command == "verify" && !json && !quiet)
                let report = try await Verifier(repository: repository).run(readData: share, slice: slice, progress: progress.make)
                progress.clear()
                found = report
                if json {
                    let traffic = runner.context.traffic.summary
                    let document = Document(
                        set: set, snapshots: report.snapshots, trees: report.trees, dataObjects: report.dataObjects, signatures: report.signatures,
                        keyFiles: report.keyFiles, readData: slice.map { 1 / Double($0.count) } ?? share, slice: slice?.description,
                        packsRead: report.packsRead, bytesRead: report.bytesRead,
                        damages: report.damages.map { damage in
                            Document.Damage(
                                object: damage.object?.hex, message: damage.message,
                                affected: damage.affected.map { .init(snapshot: $0.snapshot.hex, path: $0.path.description) })
                        }, storage: traffic.total > 0 ? traffic : nil)
                    CommandSupport.printJSON(try JSONOutput.text(document))
                    return report.damages.isEmpty ? .success : JobOutcome(.failed)
                }
                for damage in report.damages {
                    CommandSupport.finding("damaged: \(damage.message)")
                    for (snapshot, path) in damage.affected { CommandSupport.finding("  affects \(path) in snapshot \(snapshot.short)") }
                }
                var summary = "\(set): \(report.snapshots) snapshots, \(report.trees) trees, \(report.dataObjects) data objects, \(report.keyFiles) key file\(report.keyFiles == 1 ? "" : "s")\(report.signatures > 0 ? ", \(report.signatures) signatures" : "") checked"
                if let slice {
                    summary += "; slice \(slice) of the packs: \(report.packsRead) packs (\(ByteCountText.format(UInt64(report.bytesRead)))) read"
                } else if share != nil {
                    summary += "; \(report.packsRead) packs (\(ByteCountText.format(UInt64(report.bytesRead)))) read"
                }
                print(summary + (report.damages.isEmpty ? "; no problems" : "; \(report.damages.count) damaged or missing"))
                return report.damages.isEmpty ? .success : JobOutcome(.failed)
            } }
            return (outcome, found)
        }
    }
}
