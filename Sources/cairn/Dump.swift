import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one backed-up file's content to standard output.",
            discussion: """
                PATH is the file's path as it was backed up, from the latest snapshot, or the \
                one --at or --snapshot chooses. The content is read object by object, each \
                checked (its authentication tag and hash) before it is written, and the whole \
                file's hash at the end: damage stops the dump with exit status 1, after what \
                was checked. A symbolic link is followed within the snapshot (up to 40 links); \
                a folder or another kind of entry is refused (cairn restore brings those back).

                Examples:
                  cairn dump documents /home/me/notes.txt   the latest version
                  cairn dump documents /home/me/notes.txt --at 2026-11-20 > then.txt
                                                            as it was that day, in a file
                  cairn dump documents /home/me/.vimrc --snapshot 1a2b | diff - ~/.vimrc
                                                            what changed in it since then

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var snapshotOptions: SnapshotOptions

        @Argument(help: "The backup set.")
        var set: String

        @Argument(help: "The file, as it was backed up.")
        var path: String

        func validate() throws {
            guard path.hasPrefix("/") else {
                throw ValidationError("'\(path)' is not an absolute path: name the file as it was backed up, such as /home/me/notes.txt")
            }
        }

        func run() async throws {
            // A reader that stops early (| head) ends the dump quietly, not with SIGPIPE.
            signal(SIGPIPE, SIG_IGN)
            let config = try source.config(options, set: set)
            let times = options.times(config)
            let outcome = await CommandSupport.job(config, set: set, command: "dump", source: source) { runner in await runner.read { repository in
                try await runner.context.requireStoredDataReadable()
                let repository = repository!
                let record = try snapshotOptions.choice(in: config).pick(from: try await repository.snapshots(), set: set, times: times)
                guard let root = record.snapshot.treeID else { throw RepositoryError.damaged("snapshot \(record.id.short) has no tree") }
                let snapshot = "snapshot \(record.id.short) of \(times(record.snapshot.start))"
                let entry = try await FileDump.entry(FilePath(typed: PathExpansion.normalize(path)), in: repository, root: root, snapshot: snapshot)
                try await FileDump.write(entry, from: repository, to: STDOUT_FILENO, path: path)
                return .success
            } }
            try CommandSupport.finish(outcome)
        }
    }
}
