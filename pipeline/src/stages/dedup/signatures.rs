//! `dedup-signatures`: per upstream part, every document's node id, normalised-text hash and LSH band keys,
//! written as sorted runs partitioned by key (`buckets`, `exact`) and by node (`meta`); with verification
//! on, also its sorted shingle set (`shingles/`), for exact Jaccard checks of candidate pairs.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Result, anyhow};
use arrow::array::{Array, Float64Array, RecordBatch};
use corpus_dedup::{
    BLOOM_BYTES_PER_DOCUMENT, BYTES_PER_SUSPECT, MinHasher, RepeatedHashes, SPARK_DEFAULT_SEED,
    SparkMinHash, normalize_for_shingles, word_shingles,
};
use corpus_shuffle::{EqualRecords, Keyed, Spiller};
use rayon::prelude::*;
use serde_json::json;
use xxhash_rust::xxh3::xxh3_128;

use super::{
    Offsets, StoreSink, budget, fingerprint, io_context, key_partition, mix64, node_id,
    node_partition,
};
use crate::plan::RunContext;
use crate::runner::{Counts, MarkerInput, Stage, TaskContext, TaskResult};
use crate::stages::Quality;
use corpus_store::Location;
use corpus_store::{read_parquet, source_values, string_column};

/// The signatures phase.
pub struct DedupSignatures;

/// How documents are turned into keys, from the config.
pub(super) struct Signer {
    method: Method,
    exact: bool,
    near: bool,
    keep_shingles: bool,
    /// Per source name: keeper priority and the salt of its dedup group.
    sources: HashMap<String, (usize, u64)>,
}

/// The set a document's MinHash is taken over.
enum Method {
    /// Word n-gram shingles of the normalised text, `(a·h + b) mod (2^61 − 1)` permutations.
    Words { hasher: MinHasher, ngram: usize },
    /// The GPT-3 classifier's hashed tokens, Spark MinHashLSH with its default seed.
    Gpt3(SparkMinHash),
}

/// The keys of one document.
struct DocKeys {
    hash: u128,
    bands: Vec<u64>,
    shingles: Vec<u64>,
}

impl Signer {
    pub(super) fn new(run: &RunContext) -> Result<Signer> {
        let d = &run.config.dedup;
        let (bands, rows) = d.banding();
        let method = match d.mode.as_str() {
            "gpt3" => Method::Gpt3(
                SparkMinHash::new(bands, SPARK_DEFAULT_SEED).map_err(|e| anyhow!("dedup: {e}"))?,
            ),
            _ => Method::Words {
                hasher: MinHasher::new(bands, rows, run.config.run.seed)
                    .map_err(|e| anyhow!("dedup: {e}"))?,
                ngram: d.ngram,
            },
        };
        let priorities = d.priority_of_sources(&run.config.sources);
        let groups = d.group_of_sources(&run.config.sources);
        let sources = run
            .config
            .sources
            .iter()
            .zip(priorities.into_iter().zip(groups))
            .map(|(s, (p, g))| (s.name.clone(), (p, mix64(g as u64 + 1))))
            .collect();
        Ok(Signer {
            method,
            exact: d.enabled && d.exact,
            near: d.enabled,
            keep_shingles: d.verifies(),
            sources,
        })
    }

    /// Each row's keeper priority and group salt, from its `source`.
    fn look_up(&self, batch: &RecordBatch) -> Result<Vec<(usize, u64)>> {
        source_values(batch, "source")?
            .iter()
            .map(|s| {
                self.sources
                    .get(s)
                    .copied()
                    .ok_or_else(|| anyhow!("document of unknown source '{s}'"))
            })
            .collect()
    }

    /// The normalised text and its hash.
    fn normalize(&self, text: &str) -> (String, u128) {
        let normalized = normalize_for_shingles(text);
        let hash = xxh3_128(normalized.as_bytes());
        (normalized, hash)
    }

    /// Whether a document whose raw text an earlier document of its group already had (see [`copy_key`])
    /// may skip its signature: the shingle set (words mode) and the classifier features (gpt3 mode) are
    /// functions of the text, so the copy's band keys would be the earlier document's, and the exact-hash
    /// edge joins the two anyway.
    fn skips_copies(&self) -> bool {
        self.exact && self.near
    }

    /// Band keys (salted by the document's group) and, for verification, the sorted set the signature was
    /// taken over, from the text and its [`Signer::normalize`] output. A document without shingles (no
    /// words), or an in-task copy, gets no band keys: it can only be an exact duplicate.
    fn keys(
        &self,
        text: &str,
        (normalized, hash): (String, u128),
        salt: u64,
        copy: bool,
    ) -> Result<DocKeys> {
        if !self.near || copy {
            return Ok(DocKeys {
                hash,
                bands: Vec::new(),
                shingles: Vec::new(),
            });
        }
        let (set, bands) = match &self.method {
            Method::Words { hasher, ngram } => {
                let mut set: Vec<u64> = word_shingles(&normalized, *ngram).collect();
                set.sort_unstable();
                set.dedup();
                let bands = match set.is_empty() {
                    true => Vec::new(),
                    false => hasher.band_hashes(&hasher.signature(set.iter().copied()))?,
                };
                (set, bands)
            }
            Method::Gpt3(spark) => {
                let features = spark.features(text);
                let bands = spark.band_hashes(&spark.signature(&features))?;
                (features.into_iter().map(u64::from).collect(), bands)
            }
        };
        Ok(DocKeys {
            hash,
            bands: bands.into_iter().map(|k| k ^ salt).collect(),
            shingles: if self.keep_shingles { set } else { Vec::new() },
        })
    }
}

/// The normalised-text hash the filter compares with the keeper's.
pub(super) fn text_hash(text: &str) -> u128 {
    xxh3_128(normalize_for_shingles(text).as_bytes())
}

/// The key under which an in-task copy is recognised: the hash of the raw text, made distinct per dedup
/// group so that copies in different groups are not repeats. Equal raw texts have equal normalised texts,
/// so a repeat may skip its signature; a copy that differs only before normalisation is not skipped, but
/// still meets its original in the exact-hash shuffle. The raw hash keeps pass one to a read of the part and
/// a pass of xxh3, without normalising every document twice.
fn copy_key(text: &str, salt: u64) -> u128 {
    xxh3_128(text.as_bytes()) ^ (u128::from(salt) << 64)
}

/// Pass one of [`RepeatedHashes`] over the task's input: every document's [`copy_key`] is offered to the
/// Bloom filter. Its budget is a quarter of the task's, less the filter itself.
fn find_repeats(
    run: &RunContext,
    signer: &Signer,
    input: &Location,
    expected: usize,
) -> Result<RepeatedHashes> {
    let bloom = (expected as f64 * BLOOM_BYTES_PER_DOCUMENT) as usize;
    let max_suspects = budget(run, 4).saturating_sub(bloom) / BYTES_PER_SUSPECT;
    let mut repeated = RepeatedHashes::new(expected, max_suspects, run.config.run.seed);
    for batch in read_parquet(&run.storage, input)? {
        let batch = batch?;
        let texts = string_column(&batch, "text")?;
        let looked_up = signer.look_up(&batch)?;
        let hashes: Vec<u128> = (0..batch.num_rows())
            .into_par_iter()
            .map(|i| copy_key(texts.value(i), looked_up[i].1))
            .collect();
        hashes.into_iter().for_each(|h| repeated.offer(h));
    }
    Ok(repeated)
}

impl Stage for DedupSignatures {
    fn name(&self) -> &'static str {
        "dedup-signatures"
    }

    fn dir(&self) -> &'static str {
        "dedup/signatures"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        fingerprint(run)
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let parts = run.tasks;
        let offsets = Offsets::from_markers(&ctx.upstream(&Quality)?)?;
        let (part, input) = ctx.upstream_documents(&Quality)?;
        let signer = Signer::new(run)?;
        let mut buckets = Spiller::<[u64; 2], _>::new(
            parts,
            budget(run, 4),
            EqualRecords::DropWithinRun,
            StoreSink {
                ctx,
                kind: "buckets",
            },
        );
        let mut exact = Spiller::<[u64; 3], _>::new(
            parts,
            budget(run, 4),
            EqualRecords::DropWithinRun,
            StoreSink { ctx, kind: "exact" },
        );
        let mut meta = Spiller::<Keyed<1>, _>::new(
            parts,
            budget(run, 4),
            EqualRecords::Keep,
            StoreSink { ctx, kind: "meta" },
        );
        let mut shingle_store = match signer.keep_shingles {
            true => Some(ShingleStore::create(ctx)?),
            false => None,
        };
        let start = offsets.start(ctx.task);
        let expected = (offsets.start(ctx.task + 1) - start) as usize;
        let mut repeated = match signer.skips_copies() {
            true => Some(find_repeats(run, &signer, &input, expected)?),
            false => None,
        };
        let mut in_task_copies = 0u64;
        let mut counts = Counts::default();
        let mut row = 0u64;
        for batch in read_parquet(&run.storage, &input)? {
            let batch = batch?;
            let ids = string_column(&batch, "id")?;
            let texts = string_column(&batch, "text")?;
            let scores = batch
                .column_by_name("quality_score")
                .and_then(|c| c.as_any().downcast_ref::<Float64Array>());
            let looked_up = signer.look_up(&batch)?;
            let normalized: Vec<(String, u128)> = (0..batch.num_rows())
                .into_par_iter()
                .map(|i| signer.normalize(texts.value(i)))
                .collect();
            let copies: Vec<bool> = match &mut repeated {
                Some(repeated) => looked_up
                    .iter()
                    .enumerate()
                    .map(|(i, &(_, salt))| repeated.is_repeat(copy_key(texts.value(i), salt)))
                    .collect(),
                None => vec![false; batch.num_rows()],
            };
            in_task_copies += copies.iter().filter(|&&c| c).count() as u64;
            let keys: Vec<DocKeys> = normalized
                .into_par_iter()
                .enumerate()
                .map(|(i, n)| signer.keys(texts.value(i), n, looked_up[i].1, copies[i]))
                .collect::<Result<_>>()?;
            for (i, k) in keys.into_iter().enumerate() {
                let (priority, salt) = looked_up[i];
                let score = scores.and_then(|s| s.is_valid(i).then(|| s.value(i)));
                let node = node_id(priority, score, start + row + i as u64)?;
                let (lo, hi) = (k.hash as u64, (k.hash >> 64) as u64);
                for band in k.bands {
                    buckets
                        .push(key_partition(band, parts), [band, node])
                        .map_err(|e| io_context(e, "writing buckets"))?;
                }
                if signer.exact {
                    let salted = hi ^ salt;
                    exact
                        .push(key_partition(salted, parts), [salted, lo, node])
                        .map_err(|e| io_context(e, "writing exact keys"))?;
                }
                let mut payload = Vec::with_capacity(16 + ids.value(i).len());
                payload.extend_from_slice(&lo.to_le_bytes());
                payload.extend_from_slice(&hi.to_le_bytes());
                payload.extend_from_slice(ids.value(i).as_bytes());
                meta.push(
                    node_partition(node, parts),
                    Keyed {
                        key: [node],
                        payload,
                    },
                )
                .map_err(|e| io_context(e, "writing document ids"))?;
                if let Some(store) = &mut shingle_store {
                    store.push(&k.shingles)?;
                }
                counts.pass();
            }
            row += batch.num_rows() as u64;
            ctx.progress(batch.num_rows() as u64);
        }
        buckets
            .finish()
            .map_err(|e| io_context(e, "writing buckets"))?;
        exact
            .finish()
            .map_err(|e| io_context(e, "writing exact keys"))?;
        meta.finish()
            .map_err(|e| io_context(e, "writing document ids"))?;
        if let Some(store) = shingle_store {
            store.finish(ctx, row)?;
        }
        counts.bytes_in = part.bytes;
        Ok(TaskResult {
            inputs: vec![MarkerInput {
                path: input.url().to_string(),
                bytes: part.bytes,
            }],
            counts,
            extra: json!({
                "documents": row,
                "in_task_copies": in_task_copies,
                "bloom_hits": repeated.as_ref().map_or(0, RepeatedHashes::bloom_hits),
                "repeat_suspects": repeated.as_ref().map_or(0, RepeatedHashes::suspects),
                "dropped_suspects": repeated.as_ref().map_or(0, RepeatedHashes::dropped_suspects),
            }),
        })
    }
}

/// The sorted shingle sets of one part: `shingles/{part}.bin` holds them back to back (u64 little-endian),
/// `shingles/{part}.idx` the end offset (in values) of each document's set.
struct ShingleStore {
    data: std::io::BufWriter<corpus_store::ObjectWriter>,
    index: std::io::BufWriter<corpus_store::ObjectWriter>,
    values: u64,
}

/// The relative paths of a part's shingle data and index.
pub(super) fn shingle_paths(task: usize, tasks: usize) -> (String, String) {
    let stem = format!("dedup/signatures/shingles/part-{task:05}-of-{tasks:05}");
    (format!("{stem}.bin"), format!("{stem}.idx"))
}

impl ShingleStore {
    fn create(ctx: &TaskContext) -> Result<ShingleStore> {
        let (data, index) = shingle_paths(ctx.task, ctx.tasks);
        let open = |rel: &str| {
            std::io::BufWriter::with_capacity(
                1 << 16,
                ctx.run.storage.writer(&ctx.temp_output(rel)),
            )
        };
        Ok(ShingleStore {
            data: open(&data),
            index: open(&index),
            values: 0,
        })
    }

    fn push(&mut self, shingles: &[u64]) -> Result<()> {
        for s in shingles {
            self.data.write_all(&s.to_le_bytes())?;
        }
        self.values += shingles.len() as u64;
        self.index.write_all(&self.values.to_le_bytes())?;
        Ok(())
    }

    fn finish(self, ctx: &TaskContext, rows: u64) -> Result<()> {
        let (data_rel, index_rel) = shingle_paths(ctx.task, ctx.tasks);
        let data = self
            .data
            .into_inner()
            .map_err(|e| e.into_error())?
            .finish()?;
        let index = self
            .index
            .into_inner()
            .map_err(|e| e.into_error())?
            .finish()?;
        ctx.add_output(&data_rel, "shingles", data, self.values)?;
        ctx.add_output(&index_rel, "shingle-index", index, rows)?;
        Ok(())
    }
}
