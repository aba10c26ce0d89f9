import ArgumentParser
import CairnCore
import Foundation

/// The option every command that reads the config shares.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: [.customShort("c"), .long],
        help: ArgumentHelp(
            "The config file, or a directory whose *.yaml files are merged.",
            discussion: "Defaults to $CAIRN_CONFIG, then ./cairn.yaml, then the *.yaml files of $XDG_CONFIG_HOME/cairn/ (~/.config/cairn/), then of /etc/cairn/; cairn validate names the files used.",
            valueName: "path"))
    var config: String?

    @Flag(help: "Print times in UTC instead of the config's time zone (times in --json output are always UTC).")
    var utc = false

    /// How this command prints times for people.
    func times(_ config: Config) -> TimeText { TimeText(zone: config.timeZone, utc: utc) }
}

/// `-q`: nothing printed but errors, for commands without a quiet mode of their own (backup,
/// apply, restore, run-due and seed-load keep theirs). Standard output goes to /dev/null from
/// the start; errors and warnings go to standard error as ever, and progress is not shown.
struct QuietOption: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print nothing but errors and warnings (the exit status says how it went).")
    var quiet = false

    func validate() throws {
        guard quiet else { return }
        CommandSupport.quiet = true
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        guard null >= 0 else { return }
        // With standard output closed, /dev/null is opened as it: nothing to move.
        if null != STDOUT_FILENO {
            dup2(null, STDOUT_FILENO)
            close(null)
        }
    }
}
