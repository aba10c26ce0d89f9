import Hummingbird
import NIOCore

/// A request's context: Hummingbird's, and the address the request came from (the restore
/// allow-list and the log need it).
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The address as text (`127.0.0.2`, `::1`), for the log.
    var clientText: String { remoteAddress?.ipAddress ?? "?" }
}
