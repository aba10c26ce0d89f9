import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the config and report every problem in it.",
            discussion: """
                Parses, type-checks and cross-checks the config: unknown keys, references to \
                undefined names, names defined twice across files, invalid durations, sizes, \
                times, percentages, weekdays and regular expressions, sets without sources. \
                Each problem is printed as FILE:LINE:COL: severity: message, followed by the \
                source line and a caret. Warnings (a once schedule in the past, a key whose \
                feature is not built yet, a path that cannot have an effect) do not make the \
                config invalid. With --show, the merged config is printed with every default \
                filled in, paths made absolute and secret commands masked; it is itself a \
                valid config.

                Examples:
                  cairn validate                 the config cairn finds, and its files
                  cairn validate -c /etc/cairn   a folder's *.yaml files, merged
                  cairn validate --show          the merged config with every default
                  cairn validate --json          the problems as JSON, for an editor

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @Flag(help: "Print the problems (and with --show the config) as JSON on standard output.")
        var json = false

        @Flag(help: "Print the merged, normalised config with defaults filled in and secrets masked.")
        var show = false

        func run() async throws {
            let loader = ConfigLoader(CommandSupport.run)
            let result = loader.load(explicitPath: options.config)
            let problems = result.diagnostics.sorted
            if json {
                var report = DiagnosticFormatter.json(problems, files: result.config?.files ?? Array(result.sources.keys).sorted())
                if show, let config = result.config {
                    report = String(report.dropLast(2)) + ",\n  \"config\": " + config.normalized.json(indent: 1) + "\n}"
                }
                print(report)
            } else {
                let formatter = DiagnosticFormatter(sources: result.sources, colour: ANSI.enabled(for: 2, environment: CommandSupport.run.variables))
                for problem in problems {
                    Terminal.standardError(formatter.text(problem))
                }
                if let config = result.config {
                    if show {
                        print(config.normalized.yaml(), terminator: "")
                    } else {
                        print(summary(config, warnings: result.diagnostics.warnings.count))
                    }
                } else {
                    let errors = result.diagnostics.errors.count
                    Terminal.standardError("cairn: the config is invalid: \(errors) error\(errors == 1 ? "" : "s")")
                }
            }
            if result.config == nil { throw ExitCode(ExitStatus.error) }
        }

        private func summary(_ config: Config, warnings: Int) -> String {
            let sets = config.backupSets.count
            var text = "\(config.files.joined(separator: ", ")): valid, \(sets) backup set\(sets == 1 ? "" : "s")"
            if warnings > 0 { text += ", \(warnings) warning\(warnings == 1 ? "" : "s")" }
            return text
        }
    }
}
