import ArgumentParser
import CairnCore
import Foundation

/// `--at TIME` and `--snapshot ID`, shared by restore and ls.
struct SnapshotOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The newest snapshot at or before this time (ISO 8601, in the config's time zone; a date alone is the end of that day).", valueName: "time"))
    var at: String?

    @Option(help: ArgumentHelp("The snapshot with this id (or a unique prefix of it).", valueName: "id"))
    var snapshot: String?

    func validate() throws {
        if at != nil && snapshot != nil { throw ValidationError("give --at or --snapshot, not both") }
    }

    func choice(in config: Config) throws -> SnapshotChoice {
        if let snapshot { return .id(snapshot) }
        if let at { return .at(try SnapshotChoice.parseTime(at, in: config.timeZone)) }
        return .latest
    }
}
