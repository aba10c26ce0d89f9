import ArgumentParser
import Foundation

extension Cairn {
    struct Completions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a shell completion script for bash, zsh or fish.",
            discussion: """
                The script completes cairn's commands, options and their values. Load it \
                for the current shell, or install it where the shell finds it:

                  bash:  source <(cairn completions bash)
                         cairn completions bash > /etc/bash_completion.d/cairn
                  zsh:   cairn completions zsh > "${fpath[1]}/_cairn"
                  fish:  cairn completions fish > ~/.config/fish/completions/cairn.fish

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
