import ArgumentParser
import CairnCore
import Foundation

/// The files `cairn init` writes, the config and the key file: where they go, the checks
/// before, the writing, and what it says after.
struct InitFiles {
    let output: String
    let keyFile: String
    let answers: StarterAnswers
    let loader: ConfigLoader
    /// --output named a folder: cairn reads all of its *.yaml files as one config.
    let givenFolder: Bool

    init(output: String?, keyFile: String?, answers: StarterAnswers, loader: ConfigLoader) throws {
        self.answers = answers
        self.loader = loader
        var path = try output.map { try Cairn.Init.check(answers.path($0)) } ?? answers.defaultOutput(loader: loader)
        var isFolder: ObjCBool = false
        // A folder given is a config folder, as -c reads it: the config goes in as cairn.yaml.
        givenFolder = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
        if givenFolder { path += "/cairn.yaml" }
        self.output = path
        self.keyFile = try keyFile.map { try Cairn.Init.check(answers.path($0)) } ?? StarterAnswers.defaultKeyFile(beside: self.output)
        guard self.output != self.keyFile else { throw ValidationError("the config and the key file are both \(self.output): give another --key-file") }
    }

    /// Neither file exists, and the config would not join others in a folder cairn merges:
    /// checked before the first question, so no answer is given in vain.
    func checkFree() throws {
        for path in [output, keyFile] {
            var info = stat()
            guard lstat(path, &info) != 0 else {
                let which = path == output ? "the config" : "the key file"
                let option = path == output ? "--output FILE" : "--key-file FILE"
                CommandSupport.fail("\(path) exists already: cairn init never overwrites a file, and wrote nothing (\(which) goes elsewhere with \(option))")
            }
        }
        var neighbours = answers.mergedNeighbours(of: output, loader: loader)
        if givenFolder, neighbours.isEmpty {
            let folder = (output as NSString).deletingLastPathComponent
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            neighbours = names.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") }.sorted().map { folder + "/" + $0 }
        }
        if !neighbours.isEmpty {
            CommandSupport.fail(
                "\((output as NSString).deletingLastPathComponent) holds a config already (\(neighbours.joined(separator: ", "))), whose files cairn merges with the one init would write: edit it, or give --output FILE elsewhere")
        }
    }

    /// Why the set's folder in a local destination cannot become its new repository.
    static func repositoryProblem(_ destination: StarterConfig.Destination, set: String) -> String? {
        guard case .folder(let folder) = destination else { return nil }
        let repository = folder + "/" + set
        var info = stat()
        guard lstat(repository, &info) == 0 else { return nil }
        if FileManager.default.fileExists(atPath: repository + "/" + RepositoryDescriptor.fileName) {
            return "\(repository) is a cairn repository already, which a new key cannot open: give the set another name"
        }
        return "\(repository) exists already, and a set's repository is the folder of its name in the destination: give the set another name"
    }

    /// The `$schema=` of the config's first line: schemas/cairn.schema.json of the source tree
    /// this cairn was built in, or of its installation (`share/cairn/`), else its address.
    static func schemaReference() -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = (executable as NSString).deletingLastPathComponent
        for _ in 0..<5 where folder.hasPrefix("/") && folder != "/" {
            for candidate in ["schemas/cairn.schema.json", "share/cairn/cairn.schema.json"] where FileManager.default.fileExists(atPath: folder + "/" + candidate) {
                return folder + "/" + candidate
            }
            folder = (folder as NSString).deletingLastPathComponent
        }
        return StarterConfig.schemaAddress
    }

    func summary(_ starter: StarterConfig, creating: Bool) -> String {
        let destination: String
        switch starter.destination {
        case .folder(let folder): destination = folder + (creating ? " (created now)" : "")
        case .s3(let url): destination = url
        }
        var lines = [
            "cairn init will write:",
            "  \(output)",
            "    backup set '\(starter.setName)'",
            "      sources      \(starter.sources.joined(separator: ", "))",
        ]
        if !starter.excludes.isEmpty { lines.append("      left out     \(starter.excludes.joined(separator: ", ")) (the destination)") }
        lines += [
            "      destination  \(destination)",
            "      schedule     \(starter.schedule)",
            "      retention    \(starter.retention)",
            "      encryption   \(starter.algorithm.rawValue)\(starter.algorithm == .none ? ": contents and names in clear at the destination" : "")",
        ]
        if let key = starter.keyFile { lines.append("  \(key)\n    a new random key (mode 0600)") }
        return lines.joined(separator: "\n")
    }

    /// Checks the config as cairn will read it, then writes the key file and the config, each
    /// created exclusively; says what was written and what comes next.
    func write(_ starter: StarterConfig, key: String, creatingDestination: Bool, showKey: Bool) throws {
        let text = starter.yaml
        if let problem = Self.problems(of: text, loader: loader) {
            CommandSupport.fail("the config cairn init made is not valid, so nothing was written (this is a bug of cairn init): \(problem)")
        }
        var created: String?
        if creatingDestination, case .folder(let folder) = starter.destination {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                created = folder
            } catch {
                CommandSupport.fail("cannot create the destination \(folder): \(error.localizedDescription); nothing was written")
            }
        }
        // An empty destination made for this config goes again with it.
        let undo = { if let created { rmdir(created) } }
        if let keyPath = starter.keyFile {
            do {
                try DurableFile.create(Data((key + "\n").utf8), at: keyPath, mode: 0o600)
            } catch {
                undo()
                CommandSupport.fail("\(error): cairn init never overwrites a file, and wrote nothing")
            }
        }
        do {
            try DurableFile.create(Data(text.utf8), at: output)
        } catch {
            if let keyPath = starter.keyFile { unlink(keyPath) }
            undo()
            CommandSupport.fail("\(error)\(starter.keyFile.map { ": the key file \($0) was removed again," } ?? ":") nothing was written")
        }
        report(starter, key: key, showKey: showKey)
    }

    /// The errors cairn would find in `text`, or nil; read as a file of its own.
    static func problems(of text: String, loader: ConfigLoader) -> String? {
        var template = Array((NSTemporaryDirectory() + "/cairn-init-XXXXXX").utf8CString)
        guard mkdtemp(&template) != nil else { return nil }
        let scratch = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/cairn.yaml"
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8)) else { return nil }
        let errors = loader.load(path: file).diagnostics.errors
        return errors.isEmpty ? nil : errors.map { "line \($0.location?.line ?? 0): \($0.message)" }.joined(separator: "; ")
    }
}
