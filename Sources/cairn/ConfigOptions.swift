import ArgumentParser

/// The option every command that reads the config shares.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: [.customShort("c"), .long],
        help: ArgumentHelp(
            "The config file, or a directory whose *.yaml files are merged.",
            discussion: "Defaults to $CAIRN_CONFIG, then ./cairn.yaml, then the *.yaml files of $XDG_CONFIG_HOME/cairn/ (~/.config/cairn/), then of /etc/cairn/; cairn validate names the files used.",
            valueName: "path"))
    var config: String?
}
