import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a set's snapshots and its repository in numbers.",
            discussion: """
                For each snapshot: its files, the bytes they hold, and the bytes its run \
                added to the repository (after deduplication, compression and encryption). \
                For the repository: what it takes at the destination (every file: packs, \
                index, snapshots, keys), its packs and objects; the deduplication ratio (the \
                bytes all the set's snapshots hold, over the distinct content they share, \
                counted once) and the compression ratio (that distinct content, over what it \
                takes once compressed and encrypted). Every tree is read once; no file \
                content is read.

                Examples:
                  cairn stats documents          each snapshot, then the repository
                  cairn stats documents --json   the same numbers, as JSON

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var source: SourceOptions

        @Argument(help: "The backup set.")
        var set: String

        @Flag(help: "Print the numbers as JSON (schemas/stats.schema.json).")
        var json = false

        struct Row: Encodable {
            var id: String
            var start: Timestamp
            var status: String
            var files: Int
            var bytes: UInt64
            var bytesAdded: UInt64
            var tags: [String]?
        }

        struct Document: Encodable {
            var set: String
            var snapshots: [Row]
            var repository: RepositoryStatistics
        }

        func run() async throws {
            let config = try source.config(options, set: set)
            let times = options.times(config)
            let outcome = await CommandSupport.job(config, set: set, command: "stats", source: source, traffic: !json) { runner in await runner.read { repository in
                let repository = repository!
                let records = try await repository.snapshots().filter { $0.snapshot.set == set }
                let numbers = try await RepositoryStatistics.measure(repository, records: records)
                let rows = records.map {
                    Row(
                        id: $0.id.hex, start: $0.snapshot.start, status: $0.snapshot.status.rawValue, files: $0.snapshot.statistics.files,
                        bytes: $0.snapshot.statistics.bytes, bytesAdded: $0.snapshot.statistics.bytesStored, tags: $0.snapshot.tags)
                }
                if json {
                    print(try JSONOutput.text(Document(set: set, snapshots: rows, repository: numbers)))
                    return .success
                }
                print("ID        " + "STARTED".padding(toLength: times.width + 1, withPad: " ", startingAt: 0) + "STATUS         FILES        SIZE       ADDED")
                for row in rows {
                    print(
                        [
                            String(row.id.prefix(8)).padding(toLength: 9, withPad: " ", startingAt: 0), times(row.start),
                            row.status.padding(toLength: 10, withPad: " ", startingAt: 0), String(row.files).leftPadded(9),
                            ByteCountText.format(row.bytes).leftPadded(11), ByteCountText.format(row.bytesAdded).leftPadded(11),
                        ].joined(separator: " "))
                }
                let ratio = { (value: Double?) in value.map { String(format: "%.2fx", $0) } ?? "-" }
                print("")
                print("snapshots:        \(rows.count), holding \(ByteCountText.format(numbers.snapshotBytes))")
                print("stored:           \(ByteCountText.format(UInt64(numbers.storedBytes))) (\(numbers.packs) packs, \(numbers.objects) objects)")
                print("distinct content: \(ByteCountText.format(numbers.uniqueBytes)), stored as \(ByteCountText.format(UInt64(numbers.storedDataBytes)))")
                print("deduplication:    \(ratio(numbers.deduplicationRatio))")
                print("compression:      \(ratio(numbers.compressionRatio))")
                return .success
            } }
            try CommandSupport.finish(outcome)
        }
    }
}
