//! The `corpus` command line; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    corpus_pipeline::cli::main()
}
