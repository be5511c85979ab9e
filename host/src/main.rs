fn main() -> std::process::ExitCode {
    wasmvisor::cli::main()
}
