//! `corpus train` on the sample shards: the tiny GPT's validation loss falls well below ln(vocab), the
//! run is deterministic, a run killed mid-way and resumed prints exactly the losses of an uninterrupted
//! one, and bad flags are refused with exit code 2 naming the flag.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use corpus_tests::{build_sample, corpus, run};
use serde_json::Value;

const STEPS: u64 = 30;

/// `corpus train` over `work/shards` with the tiny preset, JSON log, checkpoints in `checkpoints`.
fn train_args(work: &Path, checkpoints: &Path) -> Vec<String> {
    let shards = work.join("shards");
    [
        "train",
        "--data",
        shards.to_str().unwrap(),
        "--model",
        "tiny",
        "--batch",
        "4",
        "--seq",
        "32",
        "--steps",
        &STEPS.to_string(),
        "--lr",
        "1e-2",
        "--warmup",
        "3",
        "--seed",
        "3",
        "--val-every",
        "10",
        "--val-batches",
        "2",
        "--checkpoint-every",
        "5",
        "--checkpoint-dir",
        checkpoints.to_str().unwrap(),
        "--log-format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A step's line without its timings (which differ from run to run).
fn without_timing(line: &Value) -> Value {
    let mut line = line.clone();
    let object = line.as_object_mut().unwrap();
    object.remove("tokens_per_s");
    object.remove("time_ms");
    line
}

#[test]
fn tiny_gpt_learns_and_a_killed_run_resumes_with_identical_losses() {
    let (dir, work) = build_sample(&[]);
    let args = train_args(&work, &dir.path().join("ckpt-a"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args).ok();
    let steps = lines(&out.stdout);
    assert_eq!(steps.len() as u64, STEPS, "{}", out.stdout);
    let vocab_ln = 50_257f64.ln();
    let first = steps[0]["loss"].as_f64().unwrap();
    assert!(
        (first - vocab_ln).abs() < 0.5,
        "initial loss {first} vs ln(vocab) {vocab_ln}"
    );
    for (i, line) in steps.iter().enumerate() {
        assert_eq!(line["step"], i as u64 + 1);
        assert!(line["tokens_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(line.get("val_loss").is_some(), (i + 1) % 10 == 0, "{line}");
    }
    let val = steps.last().unwrap()["val_loss"].as_f64().unwrap();
    assert!(
        val < vocab_ln - 2.5,
        "validation loss {val} is not well below ln(vocab) {vocab_ln}"
    );

    // Killed after step 7 (the checkpoint of step 5 is on disk), resumed: steps 6.. are the same.
    let checkpoints = dir.path().join("ckpt-b");
    let args = train_args(&work, &checkpoints);
    let mut child = corpus()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let step = line["step"].as_u64().unwrap();
        seen.push(line);
        if step == 7 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(checkpoints.join("latest.safetensors").exists());
    for (a, b) in seen.iter().zip(&steps) {
        assert_eq!(
            without_timing(a),
            without_timing(b),
            "same seed, same losses"
        );
    }

    let mut resume = args.clone();
    resume.push("--resume".to_string());
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    let out = run(&resume).ok();
    let resumed = lines(&out.stdout);
    assert_eq!(
        resumed[0]["step"], 6,
        "resumes after the checkpoint of step 5"
    );
    let resumed: Vec<Value> = resumed.iter().map(without_timing).collect();
    let expected: Vec<Value> = steps[5..].iter().map(without_timing).collect();
    assert_eq!(resumed, expected);

    // The checkpoint is a safetensors file: 8-byte header length, then JSON naming the tensors.
    let bytes = std::fs::read(checkpoints.join("latest.safetensors")).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    assert_eq!(header["wte"]["shape"], serde_json::json!([50_304, 64]));
    assert!(
        header["__metadata__"]["corpus.trainer"]
            .as_str()
            .unwrap()
            .contains("\"step\":30")
    );

    // Other settings than the checkpoint's are refused.
    let mut other = resume.clone();
    let seed = other.iter().position(|&a| a == "--seed").unwrap();
    other[seed + 1] = "4";
    let refused = run(&other);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("seed"), "{}", refused.stderr);
}

#[test]
fn bad_flags_are_refused_naming_the_flag() {
    let (dir, work) = build_sample(&[]);
    let shards = work.join("shards");
    let shards = shards.to_str().unwrap();
    let base = ["train", "--data", shards, "--steps", "1"];
    let refused = |extra: &[&str], flag: &str| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let r = run(&args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(flag),
            "{args:?} should name {flag}: {}",
            r.stderr
        );
        r
    };
    let cuda = refused(&["--model", "tiny", "--device", "cuda"], "--device");
    assert!(cuda.stderr.contains("no GPU trainer"), "{}", cuda.stderr);
    refused(&["--model", "tiny", "--seq", "129"], "--seq");
    refused(&["--model", "tiny", "--batch", "0"], "--batch");
    let unknown = refused(&["--model", "gpt5"], "--model");
    assert!(
        unknown.stderr.contains("gpt2-124m"),
        "lists the presets: {}",
        unknown.stderr
    );
    refused(&["--total-batch-tokens", "100"], "--total-batch-tokens");
    refused(&["--resume"], "--resume");

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = run(&["train", "--data", empty.to_str().unwrap(), "--steps", "1"]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("--data") && r.stderr.contains("manifest.parquet"),
        "{}",
        r.stderr
    );

    // A shard whose header lost its magic number is named.
    let first = work.join("shards/train_000000.bin");
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[0] ^= 0xFF;
    std::fs::write(&first, bytes).unwrap();
    let r = run(&[&base[..], &["--model", "tiny"]].concat());
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("--data") && r.stderr.contains("train_000000.bin"),
        "{}",
        r.stderr
    );
}
