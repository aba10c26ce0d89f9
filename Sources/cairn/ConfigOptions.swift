import ArgumentParser
import CairnCore

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
