fn main() -> std::process::ExitCode {
    tokenhub::cli::main()
}
