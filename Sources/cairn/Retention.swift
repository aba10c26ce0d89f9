import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Retention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check retention policies before trusting them.",
            discussion: """
                A set's retention policy (retention: in the config, man 5 cairn.yaml) says \
                which snapshots cairn prune expires; backup and apply prune after each \
                successful backup. 'cairn retention preview' simulates a history of jobs and \
                shows which a policy keeps, and why, before any real job is expired.

                Examples:
                  cairn retention preview month --from 2026-01-01 --to 2026-04-01
                                                  which of 90 daily jobs it keeps
                  cairn retention preview tape-rotation --from 1999-01-01 --to 2006-01-17
                                                  the user guide's example

                \(ExitStatus.text)
                """,
            subcommands: [Preview.self]
        )

        struct Preview: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Show which jobs of a simulated history a retention policy keeps, and why.",
                discussion: """
                    Simulates one job per interval (--every, default 1d) from --from up to, not \
                    including, --to, and applies the policy as cairn prune would with --to as \
                    now. Dates are read in the config's time zone; a date alone is its midnight. \
                    Prints each kept job with the rules that keep it (-v: every job, with why \
                    the others expire). The user guide's example: cairn retention preview \
                    tape-rotation --from 1999-01-01 --to 2006-01-17.

                    --partial-every N simulates every Nth job as interrupted (a partial \
                    snapshot, shown as such): rules count and pick complete snapshots only, a \
                    partial one is kept until a newer complete one exists, and the newest \
                    complete snapshot is always kept.

                    Examples:
                      cairn retention preview tape-rotation --from 1999-01-01 --to 2006-01-17
                                                      the user guide's example
                      cairn retention preview month --from 2026-01-01 --to 2026-04-01 -v
                                                      every job, with why the others expire
                      cairn retention preview month --from 2026-01-01 --to 2026-04-01 --json
                                                      the verdicts as JSON

                    \(ExitStatus.text)
                    """
            )

            @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

            @Argument(help: "The retention policy (a name under retention: in the config).")
            var policy: String

            @Option(help: ArgumentHelp("The first simulated job.", valueName: "date"))
            var from: String

            @Option(help: ArgumentHelp("Now: jobs are simulated up to, not including, this time.", valueName: "date"))
            var to: String

            @Option(help: ArgumentHelp("The interval between jobs, such as 1d, 12h or 7d.", valueName: "duration"))
            var every = "1d"

            @Option(help: ArgumentHelp("Simulate every Nth job as interrupted (a partial snapshot).", valueName: "n"))
            var partialEvery: Int?

            @Flag(help: "Print the verdicts as JSON (schemas/retention-preview.schema.json).")
            var json = false

            @Flag(name: .shortAndLong, help: "List every job, expired ones with their reason too.")
            var verbose = false

            func run() async throws {
                let config = try CommandSupport.loadConfig(options)
                guard let definition = config.retention[policy] else {
                    let known = config.retention.keys.sorted()
                    CommandSupport.fail(
                        "no retention policy named '\(policy)' in the config"
                            + (known.isEmpty ? " (it defines none)" : " (it defines \(known.joined(separator: ", ")))"))
                }
                if let partialEvery, partialEvery < 1 { throw ValidationError("--partial-every takes a number of jobs from 1 up, found \(partialEvery)") }
                guard let interval = ConfigDuration(parsing: every), interval.seconds > 0 else {
                    throw ValidationError("--every takes a duration such as 1d, 12h or 30m, found '\(every)'")
                }
                let zone = config.timeZone
                let start = try Self.time(from, "--from", zone)
                let now = try Self.time(to, "--to", zone)
                guard start < now else { throw ValidationError("--from must be before --to") }
                guard now.timeIntervalSince(start) / TimeInterval(interval.seconds) <= 1_000_000 else {
                    throw ValidationError("that is more than a million jobs: choose a longer --every or a shorter span")
                }
                let times = options.times(config)
                let rfc3339 = { (date: Date) in TimeText.rfc3339(Timestamp(date)) }
                let verdicts = RetentionPreview.simulate(
                    definition.kind, from: start, to: now, every: interval, timeZone: zone, partialEvery: partialEvery)
                let kept = verdicts.filter(\.keep).count
                if json {
                    let document: [String: Any] = [
                        "policy": policy, "time_zone": config.timeZoneName, "now": rfc3339(now), "jobs": verdicts.count, "kept": kept,
                        "verdicts": verdicts.map { ["time": rfc3339($0.time), "keep": $0.keep, "partial": $0.isPartial, "reasons": $0.reasons] as [String: Any] },
                    ]
                    let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                    return
                }
                print("Policy \(policy): \(verdicts.count) jobs every \(interval) from \(times(start)), now \(times(now)) (\(config.timeZoneName))")
                for verdict in verdicts where verdict.keep || verbose {
                    print("\(times(verdict.time))  \(verdict.isPartial ? "(partial) " : "")\(verdict.reason)")
                }
                print("Keeps \(kept) of \(verdicts.count) jobs.")
            }

            static func time(_ text: String, _ option: String, _ zone: TimeZone) throws -> Date {
                var calendar = Calendar(identifier: .gregorian)
                calendar.timeZone = zone
                if let date = LocalDate(parsing: text) {
                    return calendar.date(from: DateComponents(year: date.year, month: date.month, day: date.day))!
                }
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = zone
                for format in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
                    formatter.dateFormat = format
                    if let time = formatter.date(from: text) { return time }
                }
                throw ValidationError("\(option) takes a date (2006-01-17) or a date and time (2006-01-17T09:30), found '\(text)'")
            }
        }
    }
}
