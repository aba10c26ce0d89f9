import Foundation

/// Secrets typed at a prompt (`{prompt: true}`): each question is asked once per process, so
/// every set of an encryption profile opens its repository with the one answer.
enum PromptedSecrets {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var answers: [String: String] = [:]

    /// The answer to `question`, asked on the terminal the first time. The lock is held while
    /// the user types: a second caller waits for the same answer instead of asking again.
    static func answer(to question: String, at location: SourceLocation) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let known = answers[question] { return known }
        let typed: String
        do {
            typed = try TerminalPrompt.secret(question + ": ")
        } catch .noTerminal {
            throw SecretReference.ResolutionError.noTerminal(location)
        } catch .endOfInput {
            throw SecretReference.ResolutionError.noAnswer(location)
        } catch {
            throw SecretReference.ResolutionError.promptInterrupted(location)
        }
        // An empty answer is refused by the caller, and not kept: it may be asked again.
        if !typed.isEmpty { answers[question] = typed }
        return typed
    }
}
