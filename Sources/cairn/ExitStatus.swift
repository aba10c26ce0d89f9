/// The EXIT STATUS block every command's help ends with (DESIGN.md's exit codes).
enum ExitStatus {
    static let success: Int32 = 0
    static let error: Int32 = 1
    static let changes: Int32 = 2
    static let incomplete: Int32 = 3

    static let text = """
        EXIT STATUS:
          0   success
          1   error (a wrong config, a locked set, a damaged repository, restore conflicts)
          2   success with changes (only with --detailed-exitcode)
          3   finished, but some files could not be read or written
          64  usage error (wrong arguments or options)
        """
}
