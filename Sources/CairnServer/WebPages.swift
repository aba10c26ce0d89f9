import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The server's web page: server-rendered HTML (Mustache templates, no JavaScript), behind the
/// same HTTP Basic login as the API. `/` shows the signed-in account: its usage against its
/// quota, its repositories and sets with the last job of each; `/admin` (user `admin`, the
/// config's `admin: {password-hash}`) every account, each linked to its page.
struct WebPages: Sendable {
    let book: AccountBook
    let jobs: JobBook
    let storage: any StorageBackend
    let log: ServerLog
    let library: MustacheLibrary

    init(book: AccountBook, jobs: JobBook, storage: any StorageBackend, log: ServerLog) throws {
        self.book = book
        self.jobs = jobs
        self.storage = storage
        self.log = log
        var library = MustacheLibrary()
        for (name, text) in WebTemplates.all { library.register(try MustacheTemplate(string: text), named: name) }
        self.library = library
    }

    /// A repository's row: its sets (from the jobs reported), size, last job.
    struct RepositoryRow {
        var name: String
        var sets: String
        var size: String
        var lastJob: String
        var status: String
        var statusClass: String
        var host: String
        /// Stored, not computed: templates see stored properties only.
        var hasJobs: Bool
        var jobs: [JobRow]
    }

    struct JobRow {
        var set: String
        var command: String
        var status: String
        var statusClass: String
        var end: String
        var host: String
        var files: String
        var added: String
    }

    struct AccountView {
        var name: String
        var usage: String
        var quota: String
        var percent: Int
        var hasQuota: Bool
        var over: Bool
        var appendOnly: Bool
        var contact: String?
        var restoreFrom: String
        var restoreAllowedHere: Bool
        var repositories: [RepositoryRow]
        var repositoryCount: Int
        var lastJob: String
        var status: String
        var statusClass: String
    }

    static func statusClass(_ status: String) -> String {
        switch status {
        case "complete", "no changes": return "ok"
        case "incomplete", "partial": return "warn"
        case "": return "none"
        default: return "bad"
        }
    }

    static func shownTime(_ rfc3339: String) -> String {
        guard let time = Timestamp(rfc3339: rfc3339) else { return rfc3339 }
        return TimeText.utc(time)
    }

    func view(of account: ServerAccount, address: [UInt8]?) async throws -> AccountView {
        let items = try await storage.listAll(prefix: account.name + "/")
        let descriptor = "/" + RepositoryDescriptor.fileName
        let names = items.filter { $0.key.hasSuffix(descriptor) }.map { String($0.key.dropFirst(account.name.count + 1).dropLast(descriptor.count)) }.sorted()
        var rows: [RepositoryRow] = []
        var newest: ServerJobSummary?
        for name in names {
            let size = items.filter { $0.key.hasPrefix("\(account.name)/\(name)/") }.reduce(0) { $0 + $1.size }
            let reported = jobs.jobs(account: account.name, repository: name)
            let last = reported.last
            if let last, newest.map({ (Timestamp(rfc3339: last.end) ?? Timestamp(Date.distantPast)) > (Timestamp(rfc3339: $0.end) ?? Timestamp(Date.distantPast)) }) ?? true {
                newest = last
            }
            let sets = Array(Set(reported.map(\.set))).sorted()
            rows.append(
                RepositoryRow(
                    name: name, sets: sets.isEmpty ? "–" : sets.joined(separator: ", "), size: ByteCountText.format(UInt64(size)),
                    lastJob: last.map { Self.shownTime($0.end) } ?? "no job reported", status: last?.status ?? "", statusClass: Self.statusClass(last?.status ?? ""),
                    host: last?.host ?? "",
                    hasJobs: !reported.isEmpty,
                    jobs: reported.reversed().prefix(5).map {
                        JobRow(
                            set: $0.set, command: $0.command, status: $0.status, statusClass: Self.statusClass($0.status), end: Self.shownTime($0.end), host: $0.host,
                            files: $0.files.map(String.init) ?? "–", added: $0.bytesAdded.map { ByteCountText.format(UInt64($0)) } ?? "–")
                    }))
        }
        let usage = book.usage(account.name)
        let quota = account.quota.map { Int(clamping: $0.bytes) }
        let percent = quota.map { $0 > 0 ? min(100, usage * 100 / $0) : 100 } ?? 0
        return AccountView(
            name: account.name, usage: ByteCountText.format(UInt64(max(0, usage))), quota: quota.map { ByteCountText.format(UInt64($0)) } ?? "no quota",
            percent: percent, hasQuota: quota != nil, over: quota.map { usage >= $0 } ?? false, appendOnly: account.appendOnly, contact: account.contact,
            restoreFrom: account.restoreFrom.map { $0.map(\.description).joined(separator: ", ") } ?? "any address", restoreAllowedHere: account.mayRestore(from: address),
            repositories: rows, repositoryCount: rows.count, lastJob: newest.map { Self.shownTime($0.end) } ?? "no job reported", status: newest?.status ?? "",
            statusClass: Self.statusClass(newest?.status ?? ""))
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = ByteBuffer(string: text)
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .contentLength: String(bytes.readableBytes), .cacheControl: "no-store",
                HTTPField.Name("Content-Security-Policy")!: "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
                HTTPField.Name("X-Frame-Options")!: "DENY",
            ], body: ResponseBody(byteBuffer: bytes))
    }

    static let signIn = Response(
        status: .unauthorized,
        headers: [.wwwAuthenticate: "Basic realm=\"cairn\", charset=\"UTF-8\"", .contentType: "text/plain; charset=utf-8", .contentLength: "55"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: "sign in with your account's name and password (or admin)\n".prefix(55).description)))

    func respond(_ request: Request, _ context: ServerRequestContext, parts: [String]) async throws -> Response? {
        guard request.method == .get || request.method == .head else { return nil }
        let address = context.remoteAddress?.ipAddress.flatMap(NetworkRange.address)
        let credentials = ObjectAPI.credentials(request)
        let isPage = parts.isEmpty || parts == ["admin"] || (parts.count == 2 && parts[0] == "accounts")
        switch isPage {
        case true:
            guard let (user, password) = credentials else { return Self.signIn }
            let isAdmin = user == "admin" && book.account("admin") == nil
            if isAdmin {
                guard await book.checkAdmin(password: password) else {
                    log.note("\(context.clientText) web: wrong password for admin")
                    return Self.signIn
                }
                if parts.count == 2, let account = book.account(parts[1]) {
                    return try await accountPage(account, address: address, admin: true)
                }
                return try await adminPage()
            }
            guard let account = book.account(user), await book.check(user, password: password) else {
                log.note("\(context.clientText) web: wrong user or password for '\(user)'")
                return Self.signIn
            }
            if parts == ["admin"] || (parts.count == 2 && parts[1] != user) {
                return Self.html(try render("refused", ["message": "This page is for the server's administrator."]), status: .forbidden)
            }
            return try await accountPage(account, address: address, admin: false)
        default:
            return nil
        }
    }

    func render(_ name: String, _ values: [String: Any]) throws -> String {
        guard let body = library.render(values, withTemplate: name) else { throw CairnServer.Failure("the page template '\(name)' is missing") }
        return library.render(["title": values["title"] ?? "cairn server", "body": body], withTemplate: "page") ?? body
    }

    func accountPage(_ account: ServerAccount, address: [UInt8]?, admin: Bool) async throws -> Response {
        let view = try await view(of: account, address: address)
        return Self.html(try render("account", ["title": "cairn server: account \(account.name)", "account": view, "admin": admin]))
    }

    func adminPage() async throws -> Response {
        var views: [AccountView] = []
        for name in book.config.accounts.keys.sorted() {
            if let account = book.account(name) { views.append(try await view(of: account, address: nil)) }
        }
        let total = views.reduce(0) { $0 + book.usage($1.name) }
        return Self.html(
            try render(
                "admin",
                ["title": "cairn server: all accounts", "accounts": views, "count": views.count, "total": ByteCountText.format(UInt64(max(0, total)))]))
    }
}

/// The page's templates, kept in the binary (a cairn installed as one file has them).
enum WebTemplates {
    static let all: [(String, String)] = [("page", page), ("account", account), ("admin", admin), ("refused", refused)]

    static let page = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}}</title>
        <style>
        body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 64em; padding: 0 1em; color: #1d2226; }
        h1 { font-size: 1.4em; margin-bottom: .2em; }
        h2 { font-size: 1.1em; margin-top: 1.6em; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #dde1e4; vertical-align: top; }
        th { font-weight: 600; background: #f3f5f6; }
        .meter { background: #e6e9eb; border-radius: 4px; height: 14px; width: 100%; max-width: 28em; overflow: hidden; margin: .4em 0 1.2em; }
        table.facts th { width: 11em; }
        table.jobs { margin-top: .8em; font-size: .93em; }
        .meter span { display: block; height: 100%; background: #2f7d4f; }
        .meter.over span { background: #b3261e; }
        .ok { color: #2f7d4f; font-weight: 600; } .warn { color: #9a6700; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; } .none { color: #6b7378; }
        .muted { color: #6b7378; } footer { margin-top: 3em; font-size: .85em; color: #6b7378; }
        </style>
        </head>
        <body>
        {{{body}}}
        <footer>cairn server</footer>
        </body>
        </html>
        """

    static let account = """
        {{#account}}
        <h1>Account {{name}}</h1>
        {{#admin}}<p><a href="/admin">All accounts</a></p>{{/admin}}
        <h2>Storage</h2>
        <p id="usage">{{usage}} used of {{quota}}{{#hasQuota}} ({{percent}}%){{/hasQuota}}</p>
        {{#hasQuota}}<div class="meter{{#over}} over{{/over}}" role="img" aria-label="{{percent}}% of the quota"><span style="width: {{percent}}%"></span></div>{{/hasQuota}}
        {{#over}}<p class="bad">Quota exceeded: backups stop until the quota is raised or old versions are pruned.</p>{{/over}}
        <table class="facts">
        <tr><th>Append-only</th><td>{{#appendOnly}}yes: deletes run on the server{{/appendOnly}}{{^appendOnly}}no{{/appendOnly}}</td></tr>
        <tr><th>Restore from</th><td>{{restoreFrom}}{{^restoreAllowedHere}} <span class="warn">(not from this address)</span>{{/restoreAllowedHere}}</td></tr>
        {{#contact}}<tr><th>Contact</th><td>{{contact}}</td></tr>{{/contact}}
        </table>
        <h2>Repositories ({{repositoryCount}})</h2>
        {{^repositories}}<p class="muted">No repository yet: the first backup makes one.</p>{{/repositories}}
        {{#repositories}}
        <h3>{{name}}</h3>
        <table class="facts">
        <tr><th>Sets</th><td>{{sets}}</td></tr>
        <tr><th>Stored</th><td>{{size}}</td></tr>
        <tr><th>Last job</th><td><span class="{{statusClass}}">{{status}}</span> {{lastJob}} {{#host}}<span class="muted">on {{host}}</span>{{/host}}</td></tr>
        </table>
        {{#hasJobs}}
        <table class="jobs">
        <tr><th>Set</th><th>Job</th><th>Status</th><th>Ended</th><th>Host</th><th>Files</th><th>Added</th></tr>
        {{/hasJobs}}
        {{#jobs}}<tr><td>{{set}}</td><td>{{command}}</td><td class="{{statusClass}}">{{status}}</td><td>{{end}}</td><td>{{host}}</td><td>{{files}}</td><td>{{added}}</td></tr>{{/jobs}}
        {{#hasJobs}}
        </table>
        {{/hasJobs}}
        {{/repositories}}
        {{/account}}
        """

    static let admin = """
        <h1>All accounts ({{count}})</h1>
        <p>{{total}} stored in all.</p>
        <table>
        <tr><th>Account</th><th>Usage</th><th>Quota</th><th>Repositories</th><th>Last job</th><th>Append-only</th><th>Contact</th></tr>
        {{#accounts}}
        <tr><td><a href="/accounts/{{name}}">{{name}}</a></td><td>{{usage}}{{#hasQuota}} ({{percent}}%){{/hasQuota}}{{#over}} <span class="bad">over quota</span>{{/over}}</td><td>{{quota}}</td><td>{{repositoryCount}}</td><td><span class="{{statusClass}}">{{status}}</span> {{lastJob}}</td><td>{{#appendOnly}}yes{{/appendOnly}}{{^appendOnly}}no{{/appendOnly}}</td><td>{{contact}}</td></tr>
        {{/accounts}}
        </table>
        """

    static let refused = """
        <h1>Not allowed</h1>
        <p>{{message}}</p>
        """
}
