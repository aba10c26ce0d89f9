import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which pages of the file at `path` are in the page cache (`mincore` over a mapping of it);
/// nil when it cannot be told (no such file, or a file that cannot be mapped).
public func residentPages(of path: String) -> [Bool]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { return nil }
    let size = Int(info.st_size)
    guard size > 0 else { return [] }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard let memory = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), memory != MAP_FAILED else { return nil }
    defer { munmap(memory, size) }
    var pages = [UInt8](repeating: 0, count: (size + page - 1) / page)
    guard mincore(memory, size, &pages) == 0 else { return nil }
    return pages.map { $0 & 1 == 1 }
}
