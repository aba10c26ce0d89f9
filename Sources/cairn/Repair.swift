import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a set's index from its packs and set aside what cannot be read (a dry run unless --apply).",
            discussion: """
                Reads every index file, every pack's header, every snapshot and every key \
                file, and says what is damaged and what repair does about it. The index is \
                redundant with the packs (each pack ends with a sealed header listing its \
                objects): with --apply, a damaged or incomplete index is rewritten from the \
                headers, the new index written before the old files are deleted, and the \
                temporary files of killed runs are removed. A pack whose header is damaged \
                stays usable while an index file still lists its objects. With --apply \
                --remove-damaged, snapshots, key files and unusable packs that cannot be read \
                are set aside under damaged/ in the repository (moved, never deleted), so \
                the rest works without warnings; the key in use is never touched. Without \
                --apply nothing is written. Repair takes the repository's exclusive lock. \
                cairn verify --read-data then checks every object.

                Examples:
                  cairn repair documents            what is damaged, what repair would do
                  cairn repair documents --apply    rebuild the index from the packs
                  cairn repair documents --apply --remove-damaged
                                                    also set aside what cannot be read

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @Argument(help: "The backup set.")
        var set: String

        @Flag(help: "Carry out the repair (without it, only say what it would do).")
        var apply = false

        @Flag(help: "With --apply, also set aside the snapshots, key files and packs that cannot be read.")
        var removeDamaged = false

        func validate() throws {
            if removeDamaged && !apply { throw ValidationError("--remove-damaged goes with --apply") }
        }

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let outcome = await CommandSupport.job(config, set: set, command: "repair", uncached: true) { runner in
                await runner.run(lease: apply ? .exclusive : .shared) { repository in
                    let report = try await Repairer(repository: repository).run(apply: apply, removeDamaged: removeDamaged)
                    // With -q, what was found is told on standard error; "nothing to repair" is not.
                    let found = report.lines()
                    let clean = found.count == 1 && found[0].hasPrefix("nothing to repair")
                    found.forEach { clean ? print($0) : CommandSupport.finding($0) }
                    return .success
                }
            }
            try CommandSupport.finish(outcome)
        }
    }
}
