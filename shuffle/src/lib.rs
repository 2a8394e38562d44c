//! Sorted run files: the shuffle format of the multi-phase `dedup` stages (`dedup/signatures/buckets/`,
//! `dedup/candidates/edges/`) and of `mix` (`mix/{split}/`), docs/ARCHITECTURE.md §4, with the bounded-memory [`Spiller`] that cuts them and the k-way [`merge`] that reads
//! them back as one sorted stream.
//!
//! A run is a sorted sequence of fixed-type [`Record`]s written once, front to back, so a task can stream
//! it to object storage without seeking. Layout (all integers little-endian):
//!
//! ```text
//! header   magic b"corprun\0" (8 bytes) | format version u32 = 1 | record type tag u64 (Record::TYPE_TAG)
//! block*   record count u32 (> 0) | byte length u32 | the records' encodings (Record::write_to)
//! end      record count u32 = 0   | byte length u32 = 16 | total records u64 | xxh3-64 of all record bytes u64
//! ```
//!
//! The writer closes a block once it holds [`BLOCK_BYTES`] of encoded records (a larger record gets a block
//! of its own). The checksum covers the concatenated record bytes of every block, without the framing.
//! [`RunReader`] refuses, as an [`io::Error`] of kind `InvalidData` (or `UnexpectedEof` for a file cut
//! short anywhere, the end block included): another magic or version, another record type, a block whose
//! records do not fill its byte length exactly, records out of ascending order, a count or checksum that
//! does not match the end block, and bytes after it. Records reach the consumer as they are decoded, so a
//! checksum mismatch is reported after the records it covers: the consumer must treat the error as failing
//! everything it built from the stream, which the task contract (outputs are committed only when the task
//! succeeds) already does.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::mem;

use xxhash_rust::xxh3::Xxh3Default;

/// Magic bytes that open every run file.
pub const RUN_MAGIC: [u8; 8] = *b"corprun\0";

/// Version of the run file layout described in the module documentation.
pub const RUN_FORMAT_VERSION: u32 = 1;

/// Encoded record bytes after which [`RunWriter`] closes a block.
pub const BLOCK_BYTES: usize = 64 * 1024;

const HEADER_LEN: u64 = 8 + 4 + 8;
const END_PAYLOAD_LEN: u32 = 16;

/// A value that can be sorted, spilled to a run file and read back.
///
/// `Ord` must compare everything `write_to` writes: two records that compare equal must be
/// indistinguishable. Runs are sorted with an unstable in-place sort (a stable sort would allocate outside
/// the [`Spiller`]'s budget), and this is what keeps its output deterministic.
pub trait Record: Ord + Clone + Send + Sized {
    /// Identifies the record type in run headers, so reading a run as another type is an error rather
    /// than garbage. Distinct for every record type and layout.
    const TYPE_TAG: u64;

    /// Bytes the record occupies in memory, inline and on the heap, counted against a spill budget.
    fn mem_size(&self) -> usize;

    /// Appends the record's encoding to `out`.
    fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()>;

    /// Decodes one record written by [`Record::write_to`], consuming exactly its bytes.
    fn read_from<R: Read>(input: &mut R) -> io::Result<Self>;
}

/// A key of `N` little-endian `u64` words, e.g. an LSH band hash or a `[node, neighbour]` edge.
impl<const N: usize> Record for [u64; N] {
    const TYPE_TAG: u64 = N as u64;

    fn mem_size(&self) -> usize {
        mem::size_of::<Self>()
    }

    fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        self.iter()
            .try_for_each(|word| out.write_all(&word.to_le_bytes()))
    }

    fn read_from<R: Read>(input: &mut R) -> io::Result<Self> {
        let mut words = [0u64; N];
        for word in &mut words {
            *word = read_u64(input)?;
        }
        Ok(words)
    }
}

/// A key of `N` words with a byte payload, e.g. a band hash with the id of the document that has it.
///
/// Ordered by key, then by payload bytes. Encoded as the key words, a `u32` payload length and the payload.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keyed<const N: usize> {
    /// The sort key.
    pub key: [u64; N],
    /// Bytes carried with the key (at most `u32::MAX` of them).
    pub payload: Vec<u8>,
}

impl<const N: usize> Clone for Keyed<N> {
    fn clone(&self) -> Self {
        Self {
            key: self.key,
            payload: self.payload.clone(),
        }
    }

    // Readers and writers keep a copy of the previous record to check the order; reusing its allocation
    // saves one allocation per record.
    fn clone_from(&mut self, source: &Self) {
        self.key = source.key;
        self.payload.clone_from(&source.payload);
    }
}

impl<const N: usize> Record for Keyed<N> {
    const TYPE_TAG: u64 = (1 << 32) | N as u64;

    fn mem_size(&self) -> usize {
        mem::size_of::<Self>() + self.payload.capacity()
    }

    fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let len = u32::try_from(self.payload.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "record payload of {} bytes exceeds the u32 length prefix",
                    self.payload.len()
                ),
            )
        })?;
        self.key.write_to(out)?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&self.payload)
    }

    fn read_from<R: Read>(input: &mut R) -> io::Result<Self> {
        let key = <[u64; N]>::read_from(input)?;
        let len = read_u32(input)?;
        // Read through `take` so a corrupt length allocates no more than the bytes actually present.
        let mut payload = Vec::new();
        input.take(u64::from(len)).read_to_end(&mut payload)?;
        if payload.len() != len as usize {
            return Err(eof(format!(
                "record payload cut short: {} of {len} bytes",
                payload.len()
            )));
        }
        Ok(Self { key, payload })
    }
}

/// Size of a finished run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunStats {
    /// Records in the run.
    pub records: u64,
    /// Bytes of the run file, header and framing included.
    pub bytes: u64,
}

/// Writes a sorted run to a stream, in the format of the module documentation.
///
/// Records must be pushed in ascending order (equal neighbours allowed). Nothing is written until the
/// first block is full or the run is finished, and the stream is never sought.
pub struct RunWriter<W: Write, T: Record> {
    out: W,
    block: Vec<u8>,
    block_records: u32,
    last: Option<T>,
    header_written: bool,
    checksum: Xxh3Default,
    stats: RunStats,
    failed: bool,
}

impl<W: Write, T: Record> RunWriter<W, T> {
    /// Starts a run on `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            block: Vec::new(),
            block_records: 0,
            last: None,
            header_written: false,
            checksum: Xxh3Default::new(),
            stats: RunStats::default(),
            failed: false,
        }
    }

    /// Appends `record`. Fails with `InvalidInput`, writing nothing, if it is smaller than the previous
    /// record; after a write error the writer refuses everything.
    pub fn push(&mut self, record: &T) -> io::Result<()> {
        self.check_usable()?;
        if self.last.as_ref().is_some_and(|last| record < last) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "run record {} is smaller than the one before it",
                    self.stats.records
                ),
            ));
        }
        let len_before = self.block.len();
        if let Err(e) = record.write_to(&mut self.block) {
            self.block.truncate(len_before);
            return Err(e);
        }
        match &mut self.last {
            Some(last) => last.clone_from(record),
            None => self.last = Some(record.clone()),
        }
        self.block_records += 1;
        self.stats.records += 1;
        if self.block.len() >= BLOCK_BYTES || self.block_records == u32::MAX {
            self.flush_block().inspect_err(|_| self.failed = true)?;
        }
        Ok(())
    }

    /// Writes the last block and the end block, flushes the stream and returns it with the run's size.
    pub fn finish(mut self) -> io::Result<(W, RunStats)> {
        self.check_usable()?;
        self.flush_block()?;
        let mut end = [0u8; 24];
        end[4..8].copy_from_slice(&END_PAYLOAD_LEN.to_le_bytes());
        end[8..16].copy_from_slice(&self.stats.records.to_le_bytes());
        end[16..24].copy_from_slice(&self.checksum.digest().to_le_bytes());
        self.out.write_all(&end)?;
        self.stats.bytes += end.len() as u64;
        self.out.flush()?;
        Ok((self.out, self.stats))
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "run writer failed earlier and cannot continue",
            ));
        }
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.out.write_all(&RUN_MAGIC)?;
            self.out.write_all(&RUN_FORMAT_VERSION.to_le_bytes())?;
            self.out.write_all(&T::TYPE_TAG.to_le_bytes())?;
            self.header_written = true;
            self.stats.bytes += HEADER_LEN;
        }
        if self.block_records == 0 {
            return Ok(());
        }
        let len = u32::try_from(self.block.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a record of {} bytes does not fit a run block",
                    self.block.len()
                ),
            )
        })?;
        self.out.write_all(&self.block_records.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.block)?;
        self.checksum.update(&self.block);
        self.stats.bytes += 8 + u64::from(len);
        self.block.clear();
        self.block_records = 0;
        Ok(())
    }
}

/// Reads a run written by [`RunWriter`], verifying it as it goes (see the module documentation).
///
/// Yields the records in order; the first error is yielded once and ends the stream. Memory: one block.
pub struct RunReader<R: Read, T: Record> {
    input: R,
    block: Vec<u8>,
    pos: usize,
    block_left: u32,
    previous: Option<T>,
    records: u64,
    checksum: Xxh3Default,
    state: ReadState,
    _record: PhantomData<fn() -> T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Header,
    Records,
    Done,
}

impl<R: Read, T: Record> RunReader<R, T> {
    /// Starts reading a run from `input`. The header is checked on the first call to `next`.
    pub fn new(input: R) -> Self {
        Self {
            input,
            block: Vec::new(),
            pos: 0,
            block_left: 0,
            previous: None,
            records: 0,
            checksum: Xxh3Default::new(),
            state: ReadState::Header,
            _record: PhantomData,
        }
    }

    fn read_header(&mut self) -> io::Result<()> {
        let mut magic = [0u8; 8];
        read_exact(&mut self.input, &mut magic, "run header")?;
        if magic != RUN_MAGIC {
            return Err(invalid(format!("not a run file: magic bytes {magic:02x?}")));
        }
        let version = read_u32(&mut self.input).map_err(|e| context(e, "run header"))?;
        if version != RUN_FORMAT_VERSION {
            return Err(invalid(format!(
                "run format version {version}, this build reads version {RUN_FORMAT_VERSION}"
            )));
        }
        let tag = read_u64(&mut self.input).map_err(|e| context(e, "run header"))?;
        if tag != T::TYPE_TAG {
            return Err(invalid(format!(
                "run holds records of type tag {tag:#x}, read as type tag {:#x}",
                T::TYPE_TAG
            )));
        }
        Ok(())
    }

    /// Loads the next block, or verifies the end block and returns `false`.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.pos != self.block.len() {
            return Err(invalid(format!(
                "run block has {} bytes after its last record",
                self.block.len() - self.pos
            )));
        }
        let count = read_u32(&mut self.input).map_err(|e| context(e, "run block header"))?;
        let len = read_u32(&mut self.input).map_err(|e| context(e, "run block header"))?;
        if count == 0 {
            self.verify_end(len)?;
            return Ok(false);
        }
        self.block.clear();
        self.pos = 0;
        (&mut self.input)
            .take(u64::from(len))
            .read_to_end(&mut self.block)?;
        if self.block.len() != len as usize {
            return Err(eof(format!(
                "run cut short inside a block: {} of {len} bytes",
                self.block.len()
            )));
        }
        self.checksum.update(&self.block);
        self.block_left = count;
        Ok(true)
    }

    fn verify_end(&mut self, len: u32) -> io::Result<()> {
        if len != END_PAYLOAD_LEN {
            return Err(invalid(format!(
                "run end block of {len} bytes, expected {END_PAYLOAD_LEN}"
            )));
        }
        let records = read_u64(&mut self.input).map_err(|e| context(e, "run end block"))?;
        let checksum = read_u64(&mut self.input).map_err(|e| context(e, "run end block"))?;
        if records != self.records {
            return Err(invalid(format!(
                "run end block counts {records} records, the blocks hold {}",
                self.records
            )));
        }
        if checksum != self.checksum.digest() {
            return Err(invalid(
                "run checksum mismatch: the record bytes are corrupt".to_string(),
            ));
        }
        let mut extra = [0u8; 1];
        if read_some(&mut self.input, &mut extra)? != 0 {
            return Err(invalid("bytes after the run end block".to_string()));
        }
        Ok(())
    }

    fn next_record(&mut self) -> io::Result<Option<T>> {
        if self.state == ReadState::Header {
            self.read_header()?;
            self.state = ReadState::Records;
        }
        if self.block_left == 0 && !self.next_block()? {
            return Ok(None);
        }
        let mut rest = &self.block[self.pos..];
        let before = rest.len();
        let record = T::read_from(&mut rest).map_err(|e| {
            invalid(format!(
                "run record {} does not decode within its block: {e}",
                self.records
            ))
        })?;
        self.pos += before - rest.len();
        self.block_left -= 1;
        match &mut self.previous {
            Some(previous) => {
                if record < *previous {
                    return Err(invalid(format!(
                        "run record {} is smaller than the one before it: the run is not sorted",
                        self.records
                    )));
                }
                previous.clone_from(&record);
            }
            None => self.previous = Some(record.clone()),
        }
        self.records += 1;
        Ok(Some(record))
    }
}

impl<R: Read, T: Record> Iterator for RunReader<R, T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == ReadState::Done {
            return None;
        }
        match self.next_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.state = ReadState::Done;
                None
            }
            Err(e) => {
                self.state = ReadState::Done;
                Some(Err(e))
            }
        }
    }
}

/// Merges sorted streams into one sorted stream (see [`merge`]).
pub struct Merge<T: Ord, I: Iterator<Item = io::Result<T>>> {
    inputs: Vec<I>,
    heap: BinaryHeap<Reverse<(T, usize)>>,
    refill: Refill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refill {
    All,
    One(usize),
    Done,
}

/// Merges ascending `inputs` into one ascending stream with a binary heap, holding one record per input.
///
/// Equal records from different inputs come out in input order, so the output is a function of the
/// inputs and their order alone. The first error from any input is yielded and ends the merge. Inputs are
/// not checked for order: read them through [`RunReader`], which is.
pub fn merge<T: Ord, I: Iterator<Item = io::Result<T>>>(inputs: Vec<I>) -> Merge<T, I> {
    let heap = BinaryHeap::with_capacity(inputs.len());
    Merge {
        inputs,
        heap,
        refill: Refill::All,
    }
}

impl<T: Ord, I: Iterator<Item = io::Result<T>>> Merge<T, I> {
    fn pull(&mut self, input: usize) -> io::Result<()> {
        if let Some(next) = self.inputs.get_mut(input).and_then(Iterator::next) {
            self.heap.push(Reverse((next?, input)));
        }
        Ok(())
    }
}

impl<T: Ord, I: Iterator<Item = io::Result<T>>> Iterator for Merge<T, I> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        // The input that gave the last record is advanced only now, so its error (if any) comes after
        // that record rather than in its place.
        let pulled = match self.refill {
            Refill::Done => return None,
            Refill::One(input) => self.pull(input),
            Refill::All => (0..self.inputs.len()).try_for_each(|input| self.pull(input)),
        };
        if let Err(e) = pulled {
            self.refill = Refill::Done;
            return Some(Err(e));
        }
        match self.heap.pop() {
            Some(Reverse((record, input))) => {
                self.refill = Refill::One(input);
                Some(Ok(record))
            }
            None => {
                self.refill = Refill::Done;
                None
            }
        }
    }
}

/// Where a [`Spiller`] writes its runs: one stream per (partition, run), e.g. a temporary object named
/// after both.
pub trait RunSink {
    /// The stream a run is written to.
    type Writer: Write;

    /// Opens the stream for run number `run` (counted from 0 in each partition) of `partition`.
    fn create(&mut self, partition: usize, run: usize) -> io::Result<Self::Writer>;

    /// Receives the stream of a complete run, flushed, with its size; this is where to close or commit it.
    fn finished(
        &mut self,
        partition: usize,
        run: usize,
        writer: Self::Writer,
        stats: RunStats,
    ) -> io::Result<()>;
}

/// What a [`Spiller`] does with records equal to one already buffered in the same partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EqualRecords {
    /// Write every copy.
    Keep,
    /// Write one copy per run. Copies in different runs remain, to be skipped after the merge.
    DropWithinRun,
}

/// Partitions records into sorted runs in bounded memory.
///
/// Records are buffered per partition. When the buffers reach the memory budget (records'
/// [`Record::mem_size`] plus the buffers' spare capacity), every non-empty partition's buffer is sorted
/// and written as one run through the [`RunSink`], and the buffers are freed. Merging a partition's runs
/// with [`merge`] gives its records in sorted order. After an error the spiller refuses further work.
pub struct Spiller<T: Record, S: RunSink> {
    buffers: Vec<Vec<T>>,
    runs: Vec<usize>,
    budget_bytes: usize,
    used_bytes: usize,
    equal: EqualRecords,
    sink: S,
    failed: bool,
}

impl<T: Record, S: RunSink> Spiller<T, S> {
    /// A spiller over `partitions` partitions that holds at most about `budget_bytes` of records (one
    /// record more when a single record exceeds the budget) before writing runs to `sink`. Writing a run
    /// takes one block of [`BLOCK_BYTES`] more.
    pub fn new(partitions: usize, budget_bytes: usize, equal: EqualRecords, sink: S) -> Self {
        Self {
            buffers: (0..partitions).map(|_| Vec::new()).collect(),
            runs: vec![0; partitions],
            budget_bytes,
            used_bytes: 0,
            equal,
            sink,
            failed: false,
        }
    }

    /// Runs written so far for `partition` (0 for a partition out of range).
    pub fn runs_written(&self, partition: usize) -> usize {
        self.runs.get(partition).copied().unwrap_or(0)
    }

    /// Buffers `record` for `partition`, writing runs first if the budget is reached. A partition out of
    /// range is an `InvalidInput` error.
    pub fn push(&mut self, partition: usize, record: T) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "spiller failed earlier and cannot continue",
            ));
        }
        let partitions = self.buffers.len();
        let Some(buffer) = self.buffers.get_mut(partition) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("partition {partition} out of range for {partitions} partitions"),
            ));
        };
        let capacity_before = buffer.capacity();
        let record_bytes = record.mem_size();
        buffer.push(record);
        // The slot itself is counted in the growth of the buffer, the record's heap bytes here.
        let grown = (buffer.capacity() - capacity_before) * mem::size_of::<T>();
        self.used_bytes += grown + record_bytes.saturating_sub(mem::size_of::<T>());
        if self.used_bytes >= self.budget_bytes {
            self.spill().inspect_err(|_| self.failed = true)?;
        }
        Ok(())
    }

    /// Writes the buffered records as a last run per non-empty partition and returns the sink. Partitions
    /// that never got a record have no run.
    pub fn finish(mut self) -> io::Result<S> {
        if self.failed {
            return Err(io::Error::other(
                "spiller failed earlier and cannot continue",
            ));
        }
        self.spill()?;
        Ok(self.sink)
    }

    fn spill(&mut self) -> io::Result<()> {
        for (partition, buffer) in self.buffers.iter_mut().enumerate() {
            if buffer.is_empty() {
                continue;
            }
            let mut records = mem::take(buffer);
            records.sort_unstable();
            if self.equal == EqualRecords::DropWithinRun {
                records.dedup();
            }
            let run = self.runs[partition];
            let mut writer = RunWriter::new(self.sink.create(partition, run)?);
            records.iter().try_for_each(|record| writer.push(record))?;
            drop(records);
            let (out, stats) = writer.finish()?;
            self.sink.finished(partition, run, out, stats)?;
            self.runs[partition] += 1;
        }
        self.used_bytes = 0;
        Ok(())
    }
}

fn read_some<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn read_exact<R: Read>(input: &mut R, buf: &mut [u8], what: &str) -> io::Result<()> {
    input.read_exact(buf).map_err(|e| context(e, what))
}

fn read_u32<R: Read>(input: &mut R) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64<R: Read>(input: &mut R) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    input.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Names what was being read when the stream ended, which `read_exact` alone does not say.
fn context(e: io::Error, what: &str) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        eof(format!("run cut short in the {what}"))
    } else {
        e
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn eof(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use xxhash_rust::xxh3::xxh3_64_with_seed;

    use super::*;

    /// Counter-based pseudo-random numbers: the `i`-th draw of stream `seed`.
    fn draw(seed: u64, i: u64) -> u64 {
        xxh3_64_with_seed(&i.to_le_bytes(), seed)
    }

    fn write_run<T: Record>(records: &[T]) -> (Vec<u8>, RunStats) {
        let mut writer = RunWriter::new(Vec::new());
        for record in records {
            writer.push(record).unwrap();
        }
        writer.finish().unwrap()
    }

    fn read_run<T: Record>(bytes: &[u8]) -> Vec<io::Result<T>> {
        RunReader::<_, T>::new(bytes).collect()
    }

    /// The records read before the error, and the error; panics if the run reads cleanly.
    fn read_error<T: Record>(bytes: &[u8]) -> (usize, io::Error) {
        let mut items = read_run::<T>(bytes);
        let error = match items.pop() {
            Some(Err(e)) => e,
            _ => panic!("corrupt run read without error"),
        };
        assert!(
            items.iter().all(Result::is_ok),
            "an error that does not end the stream"
        );
        (items.len(), error)
    }

    fn sorted_words(n: u64, seed: u64, modulus: u64) -> Vec<[u64; 2]> {
        let mut records: Vec<[u64; 2]> = (0..n)
            .map(|i| [draw(seed, i) % modulus, draw(seed + 1, i) % 4])
            .collect();
        records.sort_unstable();
        records
    }

    fn sorted_keyed(n: u64) -> Vec<Keyed<1>> {
        let mut records: Vec<Keyed<1>> = (0..n)
            .map(|i| Keyed {
                key: [draw(7, i) % 1000],
                payload: format!("doc-{}", draw(8, i) % 50).into_bytes(),
            })
            .collect();
        // One record larger than a block, and one with no payload.
        records.push(Keyed {
            key: [500],
            payload: vec![0xAB; BLOCK_BYTES + 100],
        });
        records.push(Keyed {
            key: [3],
            payload: Vec::new(),
        });
        records.sort_unstable();
        records
    }

    #[test]
    fn words_round_trip_over_many_blocks() {
        let records = sorted_words(20_000, 1, 5_000);
        let (bytes, stats) = write_run(&records);
        assert_eq!(
            stats,
            RunStats {
                records: 20_000,
                bytes: bytes.len() as u64
            }
        );
        // 20 000 records of 16 bytes fill several 64 KiB blocks.
        assert!(bytes.len() > 4 * BLOCK_BYTES);
        let read: Vec<[u64; 2]> = read_run(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(read, records);
    }

    #[test]
    fn keyed_round_trip_with_empty_and_oversized_payloads() {
        let records = sorted_keyed(3_000);
        let (bytes, stats) = write_run(&records);
        assert_eq!(stats.records, records.len() as u64);
        let read: Vec<Keyed<1>> = read_run(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(read, records);
    }

    #[test]
    fn empty_run_is_header_and_end_block() {
        let (bytes, stats) = write_run::<[u64; 2]>(&[]);
        assert_eq!(
            stats,
            RunStats {
                records: 0,
                bytes: 20 + 24
            }
        );
        assert_eq!(bytes.len(), 44);
        assert!(read_run::<[u64; 2]>(&bytes).is_empty());
    }

    #[test]
    fn writer_refuses_a_smaller_record_and_keeps_going() {
        let mut writer = RunWriter::new(Vec::new());
        writer.push(&[5u64]).unwrap();
        writer.push(&[5u64]).unwrap();
        let error = writer.push(&[4u64]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        writer.push(&[6u64]).unwrap();
        let (bytes, stats) = writer.finish().unwrap();
        assert_eq!(stats.records, 3);
        let read: Vec<[u64; 1]> = read_run(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(read, vec![[5], [5], [6]]);
    }

    #[test]
    fn reading_as_another_record_type_is_refused() {
        let (bytes, _) = write_run(&sorted_words(10, 2, 100));
        let (read, error) = read_error::<[u64; 3]>(&bytes);
        assert_eq!((read, error.kind()), (0, io::ErrorKind::InvalidData));
        assert!(error.to_string().contains("type tag"), "{error}");
        let (_, error) = read_error::<Keyed<2>>(&bytes);
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn wrong_magic_and_version_are_refused() {
        let (bytes, _) = write_run(&sorted_words(10, 2, 100));
        let mut wrong_magic = bytes.clone();
        wrong_magic[0] = b'X';
        let (_, error) = read_error::<[u64; 2]>(&wrong_magic);
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("not a run file"), "{error}");
        let mut wrong_version = bytes;
        wrong_version[8] = 2;
        let (_, error) = read_error::<[u64; 2]>(&wrong_version);
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("version 2"), "{error}");
    }

    #[test]
    fn truncation_anywhere_is_unexpected_eof() {
        let small = write_run(&sorted_keyed(40)).0;
        for cut in 0..small.len() {
            let (_, error) = read_error::<Keyed<1>>(&small[..cut]);
            assert_eq!(
                error.kind(),
                io::ErrorKind::UnexpectedEof,
                "cut at {cut}: {error}"
            );
        }
        let large = write_run(&sorted_words(10_000, 3, 1_000)).0;
        let near_boundary =
            |cut: usize| cut < 64 || large.len() - cut <= 64 || cut % BLOCK_BYTES < 64;
        for cut in (0..large.len()).filter(|&cut| cut % 997 == 0 || near_boundary(cut)) {
            let (_, error) = read_error::<[u64; 2]>(&large[..cut]);
            assert_eq!(
                error.kind(),
                io::ErrorKind::UnexpectedEof,
                "cut at {cut}: {error}"
            );
        }
    }

    #[test]
    fn any_flipped_byte_is_an_error_and_record_bytes_are_invalid_data() {
        let records = sorted_words(50, 4, 1_000);
        let (bytes, _) = write_run(&records);
        let records_start = 20 + 8;
        let records_end = records_start + 50 * 16;
        for position in 0..bytes.len() {
            for flip in [0x01u8, 0x80] {
                let mut corrupt = bytes.clone();
                corrupt[position] ^= flip;
                let (_, error) = read_error::<[u64; 2]>(&corrupt);
                if (records_start..records_end).contains(&position) {
                    assert_eq!(
                        error.kind(),
                        io::ErrorKind::InvalidData,
                        "byte {position}: {error}"
                    );
                }
            }
        }
    }

    #[test]
    fn checksum_count_and_trailing_bytes_are_checked() {
        let (bytes, _) = write_run(&sorted_words(50, 5, 1_000));
        let n = bytes.len();

        let mut bad_checksum = bytes.clone();
        bad_checksum[n - 1] ^= 0x10;
        let (read, error) = read_error::<[u64; 2]>(&bad_checksum);
        assert_eq!(read, 50);
        assert!(error.to_string().contains("checksum"), "{error}");

        let mut bad_count = bytes.clone();
        bad_count[n - 16] ^= 0x01;
        let (_, error) = read_error::<[u64; 2]>(&bad_count);
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("counts 51 records"), "{error}");

        let mut trailing = bytes;
        trailing.push(0);
        let (_, error) = read_error::<[u64; 2]>(&trailing);
        assert!(
            error.to_string().contains("after the run end block"),
            "{error}"
        );
    }

    #[test]
    fn unsorted_records_in_a_file_are_refused() {
        let (mut bytes, _) = write_run(&[[1u64, 0], [2, 0], [3, 0]]);
        // Swap the first two records in place: the block framing stays valid.
        let start = 20 + 8;
        let (first, second) = bytes[start..start + 32].split_at_mut(16);
        first.swap_with_slice(second);
        let (read, error) = read_error::<[u64; 2]>(&bytes);
        assert_eq!((read, error.kind()), (1, io::ErrorKind::InvalidData));
        assert!(error.to_string().contains("not sorted"), "{error}");
    }

    #[test]
    fn nothing_follows_an_error() {
        let mut reader = RunReader::<_, [u64; 2]>::new(&b"garbage"[..]);
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none());
        assert!(reader.next().is_none());
    }

    #[test]
    fn merge_of_runs_is_the_sorted_concatenation() {
        let inputs: Vec<Vec<[u64; 2]>> = (0..5)
            .map(|seed| sorted_words(2_000, seed * 10, 300))
            .collect();
        let runs: Vec<Vec<u8>> = inputs.iter().map(|records| write_run(records).0).collect();
        let readers = runs
            .iter()
            .map(|bytes| RunReader::<_, [u64; 2]>::new(&bytes[..]))
            .collect();
        let merged: Vec<[u64; 2]> = merge(readers).map(Result::unwrap).collect();
        let mut expected = inputs.concat();
        expected.sort_unstable();
        assert_eq!(merged, expected);
    }

    /// Compares by `key` only, so the order of equal keys in the output is visible.
    #[derive(Debug, PartialEq, Eq)]
    struct Tagged {
        key: u64,
        input: usize,
    }

    impl PartialOrd for Tagged {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for Tagged {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.key.cmp(&other.key)
        }
    }

    #[test]
    fn equal_records_merge_in_input_order() {
        let keys = [vec![1, 2, 2, 5], vec![2, 5], vec![0, 2, 5, 5]];
        let inputs = keys
            .iter()
            .enumerate()
            .map(|(input, keys)| {
                keys.iter()
                    .map(move |&key| Ok(Tagged { key, input }))
                    .collect::<Vec<_>>()
                    .into_iter()
            })
            .collect();
        let merged: Vec<(u64, usize)> = merge(inputs)
            .map(|tagged| tagged.map(|t| (t.key, t.input)).unwrap())
            .collect();
        let expected = [
            (0, 2),
            (1, 0),
            (2, 0),
            (2, 0),
            (2, 1),
            (2, 2),
            (5, 0),
            (5, 1),
            (5, 2),
            (5, 2),
        ];
        assert_eq!(merged, expected);
    }

    #[test]
    fn merge_stops_at_the_first_error() {
        let good = vec![Ok(1u64), Ok(4), Ok(9)].into_iter();
        let bad = vec![Ok(2u64), Err(io::Error::other("disk gone")), Ok(3)].into_iter();
        let out: Vec<io::Result<u64>> = merge(vec![good, bad]).collect();
        let values: Vec<u64> = out
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(values, vec![1, 2]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].as_ref().unwrap_err().to_string(), "disk gone");
    }

    #[test]
    fn merge_of_nothing_is_empty() {
        let none: Vec<std::vec::IntoIter<io::Result<u64>>> = Vec::new();
        assert_eq!(merge(none).count(), 0);
        let empties = vec![Vec::new().into_iter(), Vec::new().into_iter()];
        assert_eq!(merge::<u64, _>(empties).count(), 0);
        let (empty_run, _) = write_run::<[u64; 1]>(&[]);
        assert_eq!(
            merge(vec![RunReader::<_, [u64; 1]>::new(&empty_run[..])]).count(),
            0
        );
    }

    /// Keeps every run in memory, by partition and run number.
    #[derive(Default)]
    struct MemorySink {
        runs: BTreeMap<(usize, usize), (Vec<u8>, RunStats)>,
    }

    impl RunSink for MemorySink {
        type Writer = Vec<u8>;

        fn create(&mut self, _partition: usize, _run: usize) -> io::Result<Vec<u8>> {
            Ok(Vec::new())
        }

        fn finished(
            &mut self,
            partition: usize,
            run: usize,
            writer: Vec<u8>,
            stats: RunStats,
        ) -> io::Result<()> {
            assert_eq!(stats.bytes, writer.len() as u64);
            assert!(
                self.runs
                    .insert((partition, run), (writer, stats))
                    .is_none()
            );
            Ok(())
        }
    }

    impl MemorySink {
        fn merged<T: Record>(&self, partition: usize) -> Vec<T> {
            let readers = self
                .runs
                .range((partition, 0)..(partition + 1, 0))
                .map(|(_, (bytes, _))| RunReader::<_, T>::new(&bytes[..]))
                .collect();
            merge(readers).map(Result::unwrap).collect()
        }

        fn run_count(&self, partition: usize) -> usize {
            self.runs.range((partition, 0)..(partition + 1, 0)).count()
        }
    }

    fn spill_random(equal: EqualRecords, budget: usize) -> (MemorySink, Vec<Vec<[u64; 2]>>) {
        const PARTITIONS: usize = 4;
        let mut spiller = Spiller::new(PARTITIONS, budget, equal, MemorySink::default());
        let mut expected = vec![Vec::new(); PARTITIONS];
        for i in 0..10_000 {
            let record = [draw(20, i) % 500, draw(21, i) % 3];
            // Partition 3 never gets a record.
            let partition = (draw(22, i) % 3) as usize;
            spiller.push(partition, record).unwrap();
            expected[partition].push(record);
        }
        let runs_written: Vec<usize> = (0..PARTITIONS).map(|p| spiller.runs_written(p)).collect();
        let sink = spiller.finish().unwrap();
        for (partition, records) in expected.iter_mut().enumerate() {
            records.sort_unstable();
            assert!(sink.run_count(partition) >= runs_written[partition]);
        }
        (sink, expected)
    }

    #[test]
    fn tiny_budget_spills_many_bounded_runs_that_merge_to_the_sorted_input() {
        let budget = 4096;
        let (sink, expected) = spill_random(EqualRecords::Keep, budget);
        for (partition, records) in expected.iter().enumerate().take(3) {
            assert!(
                sink.run_count(partition) >= 10,
                "partition {partition}: {}",
                sink.run_count(partition)
            );
            assert_eq!(&sink.merged::<[u64; 2]>(partition), records);
        }
        assert_eq!(sink.run_count(3), 0);
        for (_, stats) in sink.runs.values() {
            assert!(stats.records > 0);
            assert!(stats.records as usize * mem::size_of::<[u64; 2]>() <= budget);
        }
    }

    #[test]
    fn dropping_equal_records_leaves_one_copy_per_run() {
        let (sink, expected) = spill_random(EqualRecords::DropWithinRun, 4096);
        for (partition, records) in expected.iter().enumerate().take(3) {
            let mut merged = sink.merged::<[u64; 2]>(partition);
            assert!(merged.windows(2).all(|w| w[0] <= w[1]));
            merged.dedup();
            let mut distinct = records.clone();
            distinct.dedup();
            assert_eq!(merged, distinct);
        }
        for ((partition, _), (bytes, _)) in &sink.runs {
            let run: Vec<[u64; 2]> = read_run(bytes).into_iter().map(Result::unwrap).collect();
            assert!(
                run.windows(2).all(|w| w[0] < w[1]),
                "partition {partition} run {run:?} repeats a record"
            );
        }
    }

    #[test]
    fn large_budget_writes_one_run_per_partition() {
        let (sink, expected) = spill_random(EqualRecords::Keep, usize::MAX);
        for (partition, records) in expected.iter().enumerate().take(3) {
            assert_eq!(sink.run_count(partition), 1);
            assert_eq!(&sink.merged::<[u64; 2]>(partition), records);
        }
    }

    #[test]
    fn keyed_records_count_their_payloads_against_the_budget() {
        let mut spiller = Spiller::new(1, 10_000, EqualRecords::Keep, MemorySink::default());
        for i in 0..10u64 {
            spiller
                .push(
                    0,
                    Keyed {
                        key: [i],
                        payload: vec![0; 4_000],
                    },
                )
                .unwrap();
        }
        let sink = spiller.finish().unwrap();
        // Each run holds at most three 4 KB payloads.
        assert!(sink.run_count(0) >= 4);
        assert_eq!(sink.merged::<Keyed<1>>(0).len(), 10);
    }

    #[test]
    fn out_of_range_partition_is_an_error() {
        let mut spiller = Spiller::new(2, 1024, EqualRecords::Keep, MemorySink::default());
        let error = spiller.push(2, [1u64]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        let mut no_partitions = Spiller::new(0, 1024, EqualRecords::Keep, MemorySink::default());
        assert!(no_partitions.push(0, [1u64]).is_err());
        assert!(spiller.finish().unwrap().runs.is_empty());
    }
}
