//! Harness for the end-to-end tests in `tests/e2e.rs`: builds and finds the `corpus` binary, writes run
//! configs over the bundled sample data (`tests/data`), runs commands and reads their outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `tests/` directory of the repository.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample data.
pub fn data_dir() -> PathBuf {
    tests_dir().join("data")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    tests_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(tests_dir)
}

/// The target directory of this test executable's profile: `target/{profile}/deps/e2e-HASH` ->
/// `target/{profile}`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target profile directory")
        .to_path_buf()
}

/// Path of the `corpus` binary of the same profile as this test.
///
/// The end-to-end tests are an integration test of `corpus-pipeline` (`pipeline/tests/e2e`), so cargo builds
/// the `corpus` binary, with the same dependency features, before it runs them; the harness only takes it
/// from the target directory of this test executable. (A nested `cargo build -p corpus-pipeline` would
/// resolve features without the dev-dependencies and compile half the dependency tree a second time.)
pub fn corpus_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = profile_dir().join(format!("corpus{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.exists(),
            "{} does not exist: run the end-to-end tests through cargo test -p corpus-pipeline",
            bin.display()
        );
        bin
    })
}

/// For a test whose prerequisite `why` is missing: under `CI=true` (as `.ci/run` sets it) the test fails, so
/// a CI run cannot pass without running it; elsewhere it prints plainly that `test` was skipped, and the
/// caller returns.
pub fn missing_outside_ci(test: &str, why: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{test} cannot run under CI=true: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// A finished `corpus` invocation.
pub struct Run {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error (logs).
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panics with the logs unless the command succeeded.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "corpus failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Run {
    /// Panics with the log unless standard error contains `needle`; returns `self` for chaining.
    pub fn logged(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "log lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// Runs `corpus build --config CONFIG EXTRA...` and panics unless it succeeds.
pub fn build(config: &Path, extra: &[&str]) -> Run {
    let config = config.to_str().expect("config path is UTF-8");
    let mut args = vec!["build", "--config", config];
    args.extend_from_slice(extra);
    run(&args).ok()
}

/// Builds the sample data with the default test config in a new temporary directory; returns the directory
/// (deleted when dropped) and the work directory inside it.
pub fn build_sample(extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let work = dir.path().join("work");
    let config = write_config(dir.path(), &work, &TestConfig::default());
    build(&config, extra);
    (dir, work)
}

/// The shard files and manifest of a work directory (markers left out), keyed by file name.
pub fn shard_files(work: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    files_under(&work.join("shards"))
        .into_iter()
        .filter(|(name, _)| !name.starts_with("_done"))
        .collect()
}

/// A `corpus` command, ready for arguments.
pub fn corpus() -> Command {
    let mut c = Command::new(corpus_bin());
    c.env("CORPUS_LOG", "info");
    c
}

/// Runs `corpus` with the given arguments.
pub fn run(args: &[&str]) -> Run {
    corpus()
        .args(args)
        .output()
        .expect("spawning corpus")
        .into()
}

/// Every stage, in run order.
pub const STAGES: [&str; 12] = [
    "ingest",
    "quality",
    "dedup-signatures",
    "dedup-candidates",
    "dedup-components",
    "dedup-clusters",
    "dedup-filter",
    "decontam-count",
    "decontaminate",
    "tokenize",
    "mix",
    "shard",
];

/// Options of a test config over the sample data.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// Tokens per shard (small, so the sample gives several shards).
    pub tokens_per_shard: u64,
    /// Validation fraction.
    pub val_fraction: f64,
    /// Extra `[[sources]]` TOML appended.
    pub extra_sources: String,
    /// Where the sample data is read from (default: `tests/data`; may be an `s3://` URL).
    pub data_root: Option<String>,
    /// `[quality...]` TOML (default: [`sample_quality`]).
    pub quality: String,
    /// `[dedup]` TOML (default: candidate pairs verified by exact Jaccard similarity).
    pub dedup: String,
    /// `[mix]` TOML (default: every document once, shuffled; the `mix` tests exercise the weights).
    pub mix: String,
}

/// The quality settings of the test config: the shipped sample classifier with Pareto resampling on
/// `common_crawl`, and the rule filters at their defaults (which apply to `common_crawl`).
pub fn sample_quality() -> String {
    format!(
        "\n[quality.classifier]\nmodel = \"{}\"\nsources = [\"common_crawl\"]\n",
        repo_root()
            .join("configs/models/quality-sample.json")
            .display()
    )
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            tokens_per_shard: 200_000,
            val_fraction: 0.02,
            extra_sources: String::new(),
            data_root: None,
            quality: sample_quality(),
            dedup: "\n[dedup]\nverify = true\n".to_string(),
            mix: "\n[mix]\nreweight = false\n".to_string(),
        }
    }
}

/// Writes a config over `tests/data` (absolute paths) into `dir/config.toml` with `work` as work directory.
pub fn write_config(dir: &Path, work: &Path, opts: &TestConfig) -> PathBuf {
    write_config_at(dir, &work.display().to_string(), opts)
}

/// Like [`write_config`], for a work directory given as a URL (`s3://...`) or path.
pub fn write_config_at(dir: &Path, work: &str, opts: &TestConfig) -> PathBuf {
    let d = opts
        .data_root
        .clone()
        .unwrap_or_else(|| data_dir().display().to_string());
    let text = format!(
        r#"[run]
work = "{work}"
seed = 7
tasks = 4

[[sources]]
name = "common_crawl"
format = "jsonl"
paths = ["{d}/webtext/c4-en-sample.*.json.gz", "{d}/webtext/ccnet-*.jsonl.gz"]
url_field = "url"
weight = 0.6

[[sources]]
name = "webtext2"
format = "jsonl"
paths = ["{d}/webtext/*.jsonl.zst", "{d}/webtext/dolma-*.jsonl.gz"]
id_field = "id"
url_field = "metadata.url"
weight = 0.22

[[sources]]
name = "books1"
format = "text"
paths = ["{d}/books/pg972-the-devils-dictionary.txt", "{d}/books/pg1342-pride-and-prejudice.txt"]
weight = 0.08
{extra}
{quality}
{dedup}
{mix}
[tokenizer]
encoding = "r50k_base"

[shards]
tokens_per_shard = {tps}
val_fraction = {vf}
"#,
        extra = opts.extra_sources,
        quality = opts.quality,
        dedup = opts.dedup,
        mix = opts.mix,
        tps = opts.tokens_per_shard,
        vf = opts.val_fraction,
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("writing test config");
    path
}

/// Every file below `dir` with its bytes, keyed by path relative to `dir`.
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let (Ok(rel), Ok(bytes)) = (p.strip_prefix(dir), std::fs::read(&p)) {
                out.insert(rel.to_string_lossy().into_owned(), bytes);
            }
        }
    }
    out
}

/// The r50k_base rank file for Python's tiktoken (which loads it offline from its cache), written once
/// per test process from the ranks compiled into the tokenizer, next to the test executable.
pub fn r50k_rank_file() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let ranks = corpus_tokenizer::Encoding::R50kBase
            .tiktoken_rank_file()
            .expect("r50k_base ranks");
        let dir = profile_dir().join("corpus-tests");
        std::fs::create_dir_all(&dir).expect("creating the rank file's directory");
        // Written under a per-process name, then renamed: test processes running at once never read
        // a half-written file.
        let path = dir.join("r50k_base.tiktoken");
        let tmp = dir.join(format!("r50k_base.tiktoken.{}", std::process::id()));
        std::fs::write(&tmp, ranks).expect("writing the r50k_base rank file");
        std::fs::rename(&tmp, &path).expect("renaming the r50k_base rank file");
        path
    })
    .clone()
}

/// Runs `tests/python/check_outputs.py` on a work directory and returns its JSON summary.
pub fn python_check(work: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(tests_dir().join("python/check_outputs.py"))
        .arg(work)
        .arg(r50k_rank_file())
        .output()
        .expect("running python3 (install: pip install pyarrow numpy tiktoken xxhash)");
    assert!(
        out.status.success(),
        "python cross-check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python check prints JSON")
}
