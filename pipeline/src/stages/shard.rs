//! `shard`: packs the mixed, shuffled stream into llm.c-compatible shards (docs/ARCHITECTURE.md §5), `<|endoftext|>`
//! before every document, `tokens_per_shard` tokens per file except the last of each split, and writes
//! `shards/manifest.parquet` when every task is done.
//!
//! The layout is computed from the mix markers alone: a split's stream is its key-range partitions in
//! order, each the k-way merge of the mix tasks' sorted runs for it (so every copy in shuffle-key order);
//! shard `k` holds tokens `[k*S, (k+1)*S)` of it, and the shards are split among tasks in contiguous
//! ranges. Shard bytes therefore depend only on the config and inputs, never on task or thread counts.

use std::collections::BTreeMap;
use std::io::BufReader;

use anyhow::{Context, Result, anyhow, bail};
use corpus_sharder::{MANIFEST, ShardEntry, ShardWriter, TokenWidth, write_manifest};
use corpus_shuffle::{Keyed, Merge, RunReader, merge};
use serde_json::json;

use super::Mix;
use super::mix::{MixExtra, decode_copy};
use super::runs::{io_context, open_runs, partition_runs};
use super::tokenize::SPLITS;
use crate::plan::RunContext;
use crate::runner::{
    Counts, Marker, MarkerInput, MarkerOutput, Stage, TaskContext, TaskResult, assigned,
};
use corpus_store::ObjectReader;

/// The shard stage.
pub struct Shard;

/// One key-range partition of one split's shuffle: its runs and its token count.
struct Partition {
    runs: Vec<MarkerOutput>,
    tokens: u64,
}

/// Every split's partitions and the sources in the mix's order, from the mix markers.
fn partitions(markers: &[Marker]) -> Result<([Vec<Partition>; 2], Vec<String>)> {
    let extras = markers
        .iter()
        .map(|m| serde_json::from_value::<MixExtra>(m.extra.clone()).context("mix marker extra"))
        .collect::<Result<Vec<_>>>()?;
    let mut out: [Vec<Partition>; 2] = [Vec::new(), Vec::new()];
    for (split, parts) in SPLITS.iter().zip(out.iter_mut()) {
        let count = extras
            .first()
            .and_then(|e| e.splits.get(*split))
            .map_or(0, |t| t.tokens.len());
        for p in 0..count {
            let mut tokens = 0;
            for e in &extras {
                tokens += e
                    .splits
                    .get(*split)
                    .and_then(|t| t.tokens.get(p))
                    .ok_or_else(|| anyhow!("mix tasks disagree on the {split} partitions"))?;
            }
            let runs = partition_runs(markers, split, p).cloned().collect();
            parts.push(Partition { runs, tokens });
        }
    }
    let sources = extras
        .into_iter()
        .next()
        .map(|e| e.draws.into_iter().map(|d| d.source).collect())
        .unwrap_or_default();
    Ok((out, sources))
}

impl Stage for Shard {
    fn name(&self) -> &'static str {
        "shard"
    }

    fn dir(&self) -> &'static str {
        "shards"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        json!({ "tokens_per_shard": run.config.shards.tokens_per_shard })
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let encoding = run.config.encoding()?;
        let width = TokenWidth::for_vocab(encoding.vocab_size());
        let per_shard = run.config.shards.tokens_per_shard;
        let markers = ctx.upstream(&Mix)?;
        let (splits, sources) = partitions(&markers)?;

        let mut layout = Vec::new();
        for (split, parts) in splits.iter().enumerate() {
            let total: u64 = parts.iter().map(|p| p.tokens).sum();
            for k in 0..total.div_ceil(per_shard) {
                layout.push((split, k, per_shard.min(total - k * per_shard)));
            }
        }
        let mine = &layout[assigned(layout.len(), ctx.task, ctx.tasks)];

        let mut entries = Vec::new();
        let mut counts = Counts::default();
        let mut cursor: Option<TokenCursor> = None;
        for &(split, k, len) in mine {
            if cursor.as_ref().is_none_or(|c| c.split != split) {
                cursor = Some(TokenCursor::seek(
                    run,
                    &splits[split],
                    &sources,
                    (split, width),
                    k * per_shard,
                    encoding.eot(),
                )?);
            }
            let Some(cur) = cursor.as_mut() else {
                bail!("shard cursor missing")
            };
            let file = format!("{}_{k:06}.bin", SPLITS[split]);
            let rel = ctx.stage_file(&file);
            let mut writer =
                ShardWriter::new(run.storage.writer(&ctx.temp_output(&rel)), width, len)?;
            let mut stats = ShardStats::default();
            cur.fill(len, &mut writer, &mut stats)?;
            let (object, summary) = writer.finish()?;
            ctx.add_output(&rel, "shard", object.finish()?, summary.tokens)?;
            ctx.progress(stats.documents);
            for _ in 0..stats.documents {
                counts.pass();
            }
            entries.push(ShardEntry {
                file,
                split: SPLITS[split].to_string(),
                shard: k as u32,
                tokens: summary.tokens,
                documents: stats.documents,
                tokens_per_source: stats.per_source,
                payload_xxh3: summary.payload_xxh3,
                dtype: if width == TokenWidth::U16 {
                    "uint16"
                } else {
                    "uint32"
                }
                .to_string(),
            });
        }
        let inputs: Vec<MarkerInput> = splits
            .iter()
            .flatten()
            .flat_map(|p| &p.runs)
            .map(|o| MarkerInput {
                path: run.work.child(&o.path).url().to_string(),
                bytes: o.bytes,
            })
            .collect();
        counts.bytes_in = inputs.iter().map(|i| i.bytes).sum();
        Ok(TaskResult {
            inputs,
            counts,
            extra: json!({ "shards": entries }),
        })
    }

    fn finish(&self, run: &RunContext, markers: &[Marker]) -> Result<()> {
        let mut entries: Vec<ShardEntry> = Vec::new();
        for m in markers {
            let list = m.extra.get("shards").cloned().unwrap_or_else(|| json!([]));
            entries.extend(
                serde_json::from_value::<Vec<ShardEntry>>(list).context("shard marker extra")?,
            );
        }
        entries.sort_by_key(|e| (SPLITS.iter().position(|s| *s == e.split), e.shard));
        write_manifest(&run.storage, &run.work.child(MANIFEST), &entries)
    }
}

#[derive(Default)]
struct ShardStats {
    documents: u64,
    per_source: BTreeMap<String, u64>,
}

/// The merged runs of one partition, in shuffle-key order.
type PartitionStream = Merge<Keyed<2>, RunReader<BufReader<ObjectReader>, Keyed<2>>>;

/// Walks one split's token stream (separator + tokens of each copy) across its partitions.
struct TokenCursor<'a> {
    run: &'a RunContext,
    parts: &'a [Partition],
    sources: &'a [String],
    split: usize,
    width: TokenWidth,
    eot: u32,
    part: usize,
    stream: Option<PartitionStream>,
    doc: Vec<u32>,
    tokens: Vec<u32>,
    doc_source: String,
    doc_pos: usize,
}

impl<'a> TokenCursor<'a> {
    /// A cursor at token `start` of the split: whole partitions before it are skipped by their counts,
    /// then copies of the partition that holds it are read until it.
    fn seek(
        run: &'a RunContext,
        parts: &'a [Partition],
        sources: &'a [String],
        (split, width): (usize, TokenWidth),
        start: u64,
        eot: u32,
    ) -> Result<Self> {
        let mut skip = start;
        let mut part = 0;
        while part < parts.len() && skip >= parts[part].tokens {
            skip -= parts[part].tokens;
            part += 1;
        }
        let mut cur = TokenCursor {
            run,
            parts,
            sources,
            split,
            width,
            eot,
            part,
            stream: None,
            doc: Vec::new(),
            tokens: Vec::new(),
            doc_source: String::new(),
            doc_pos: 0,
        };
        loop {
            if !cur.next_doc()? {
                bail!(
                    "token stream of split {} ends before token {start}",
                    SPLITS[split]
                );
            }
            let len = cur.doc.len() as u64;
            if skip < len {
                cur.doc_pos = skip as usize;
                return Ok(cur);
            }
            skip -= len;
        }
    }

    /// Loads the next copy of the split; false at the end of the stream.
    fn next_doc(&mut self) -> Result<bool> {
        loop {
            if let Some(stream) = self.stream.as_mut() {
                match stream.next() {
                    Some(record) => {
                        let record = record.map_err(|e| io_context(e, "reading the mix runs"))?;
                        let source = decode_copy(&record.payload, self.width, &mut self.tokens)?;
                        let name = self
                            .sources
                            .get(usize::from(source))
                            .ok_or_else(|| anyhow!("mix run names source #{source}"))?;
                        self.doc.clear();
                        self.doc.push(self.eot);
                        self.doc.extend_from_slice(&self.tokens);
                        self.doc_source.clone_from(name);
                        self.doc_pos = 0;
                        return Ok(true);
                    }
                    None => {
                        self.stream = None;
                        self.part += 1;
                    }
                }
            }
            while self.part < self.parts.len() && self.parts[self.part].tokens == 0 {
                self.part += 1;
            }
            let Some(part) = self.parts.get(self.part) else {
                return Ok(false);
            };
            self.stream = Some(merge(open_runs(self.run, part.runs.iter())?));
        }
    }

    /// Writes the next `n` tokens of the stream into `writer`.
    fn fill<W: std::io::Write>(
        &mut self,
        mut n: u64,
        writer: &mut ShardWriter<W>,
        stats: &mut ShardStats,
    ) -> Result<()> {
        while n > 0 {
            if self.doc_pos == self.doc.len() && !self.next_doc()? {
                bail!(
                    "token stream of split {} ended {n} tokens early",
                    SPLITS[self.split]
                );
            }
            let take = (n as usize).min(self.doc.len() - self.doc_pos);
            if self.doc_pos == 0 {
                stats.documents += 1;
            }
            writer.push(&self.doc[self.doc_pos..self.doc_pos + take])?;
            *stats.per_source.entry(self.doc_source.clone()).or_default() += take as u64;
            self.doc_pos += take;
            n -= take as u64;
        }
        Ok(())
    }
}
