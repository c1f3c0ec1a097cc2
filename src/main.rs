// See Cargo.toml for why (measured with perf under the authorize benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tokenhub::cli::main()
}
