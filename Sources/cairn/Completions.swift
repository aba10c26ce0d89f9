import ArgumentParser
import Foundation

extension Cairn {
    struct Completions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a shell completion script for bash, zsh or fish.",
            discussion: """
                Prints, on standard output, a script that completes cairn's commands, \
                options and their values in bash, zsh or fish; it reads no config. Load it \
                for the current shell, or install it where the shell finds it.

                Examples:
                  source <(cairn completions bash)   bash, in the current shell
                  cairn completions bash > /etc/bash_completion.d/cairn
                                                     bash, for every new shell
                  cairn completions zsh > "${fpath[1]}/_cairn"
                                                     zsh, in a folder of its fpath
                  cairn completions fish > ~/.config/fish/completions/cairn.fish
                                                     fish

                \(ExitStatus.text)
                """
        )

        @Argument(help: ArgumentHelp("The shell: bash, zsh or fish.", valueName: "shell"))
        var shell: String

        func validate() throws {
            guard CompletionShell(rawValue: shell) != nil else {
                throw ValidationError("cairn completes in bash, zsh or fish, not '\(shell)'")
            }
        }

        func run() throws {
            print(Cairn.completionScript(for: CompletionShell(rawValue: shell)!))
        }
    }
}
