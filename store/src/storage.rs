//! All reads and writes of the pipeline go through here, over `object_store` (docs/ARCHITECTURE.md §4): local paths and
//! `s3://bucket/prefix` URLs behind one API. S3 credentials, region and endpoint come from the standard AWS
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` or
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`), so any S3-compatible server works.
//!
//! Stage code is synchronous and CPU-bound; this module owns a small tokio runtime and offers blocking
//! `Read`/`Write` adapters over object streams and multipart uploads, so readers (gzip, zstd) and writers
//! (parquet, shards) stream with bounded memory whatever the object size.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;
use tokio::runtime::{Handle, Runtime};
use xxhash_rust::xxh3::Xxh3;

/// One object (or prefix) in some store, with the URL the user would write for it.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    url: String,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Location {
    /// The location `rel` below this one (`rel` uses `/` separators).
    pub fn child(&self, rel: &str) -> Location {
        let mut path = self.path.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        let url = if self.url.ends_with('/') {
            format!("{}{rel}", self.url)
        } else {
            format!("{}/{rel}", self.url)
        };
        Location {
            store: self.store.clone(),
            path,
            url,
        }
    }

    /// The location one level up (the directory of a file); `None` at the root of a store.
    pub fn parent(&self) -> Option<Location> {
        let path = self.path.as_ref();
        let cut = path.rfind('/')?;
        let url_cut = self.url.rfind('/')?;
        Some(Location {
            store: self.store.clone(),
            path: ObjectPath::from(&path[..cut]),
            url: self.url[..url_cut].to_string(),
        })
    }

    /// The URL or local path, as shown to users and recorded in markers.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object path inside its store.
    pub fn object_path(&self) -> &ObjectPath {
        &self.path
    }

    /// The store holding this location.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The last path segment (file name).
    pub fn file_name(&self) -> &str {
        self.path.filename().unwrap_or("")
    }

    /// The path of `other` relative to this location, when `other` is below it.
    pub fn relative(&self, other: &Location) -> Option<String> {
        let prefix = self.path.as_ref();
        let full = other.path.as_ref();
        if prefix.is_empty() {
            return Some(full.to_string());
        }
        full.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('/'))
            .map(str::to_string)
    }
}

/// An object found by a listing or a glob.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Where it is.
    pub location: Location,
    /// Size in bytes.
    pub size: u64,
}

/// The storage layer: a runtime plus one client per store.
pub struct Storage {
    runtime: Runtime,
    local: Arc<dyn ObjectStore>,
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Storage {
    /// Starts the I/O runtime (two threads: the work is CPU-bound, I/O only needs to keep up).
    pub fn new() -> Result<Arc<Storage>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("corpus-io")
            .enable_all()
            .build()
            .context("cannot start the I/O runtime")?;
        Ok(Arc::new(Storage {
            runtime,
            local: Arc::new(LocalFileSystem::new()),
            buckets: Mutex::new(HashMap::new()),
        }))
    }

    /// The runtime handle, for async readers that need one.
    pub fn handle(&self) -> Handle {
        self.runtime.handle().clone()
    }

    /// Runs a future to completion from a (non-runtime) worker thread.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.runtime.handle().block_on(fut)
    }

    /// Resolves a local path (absolute or relative to the current directory) or an `s3://` URL.
    pub fn resolve(&self, spec: &str) -> Result<Location> {
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("'{spec}' has no bucket name");
            }
            let store = self.bucket(bucket)?;
            let key = key.trim_end_matches('/');
            let path = ObjectPath::parse(key)
                .with_context(|| format!("'{spec}' is not a valid object key"))?;
            let url = if key.is_empty() {
                format!("s3://{bucket}")
            } else {
                format!("s3://{bucket}/{key}")
            };
            return Ok(Location { store, path, url });
        }
        if spec.contains("://") {
            bail!("'{spec}': only local paths and s3:// URLs are supported");
        }
        let abs =
            std::path::absolute(spec).with_context(|| format!("cannot resolve path '{spec}'"))?;
        // `..` and `.` are resolved lexically (object paths cannot hold them): `../data/x` works as in a shell.
        let abs = lexically_normal(&abs);
        let path = ObjectPath::from_absolute_path(&abs)
            .with_context(|| format!("cannot use path '{spec}'"))?;
        let shown = abs.to_string_lossy().trim_end_matches('/').to_string();
        Ok(Location {
            store: self.local.clone(),
            path,
            url: shown,
        })
    }

    fn bucket(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| anyhow!("storage client table poisoned"))?;
        if let Some(store) = buckets.get(bucket) {
            return Ok(store.clone());
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_endpoint(endpoint);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            builder
                .build()
                .with_context(|| format!("cannot configure S3 client for bucket '{bucket}'"))?,
        );
        buckets.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    /// Every object below `prefix`, recursively, sorted by path.
    pub fn list(&self, prefix: &Location) -> Result<Vec<Listed>> {
        let store = prefix.store.clone();
        let metas: Vec<object_store::ObjectMeta> = self
            .block_on(store.list(Some(&prefix.path)).try_collect())
            .with_context(|| format!("cannot list {prefix}"))?;
        let mut out: Vec<Listed> = metas
            .into_iter()
            .map(|m| {
                let rel = prefix.relative(&Location {
                    store: store.clone(),
                    path: m.location.clone(),
                    url: String::new(),
                });
                let location = match rel {
                    Some(rel) if !rel.is_empty() => prefix.child(&rel),
                    _ => Location {
                        store: store.clone(),
                        path: m.location.clone(),
                        url: prefix.url.clone(),
                    },
                };
                Listed {
                    location,
                    size: m.size,
                }
            })
            .collect();
        out.sort_by(|a, b| a.location.path.as_ref().cmp(b.location.path.as_ref()));
        Ok(out)
    }

    /// Expands a glob (`*`, `?`, `[...]`, `**`) over a local directory tree or an S3 prefix, sorted.
    pub fn glob(&self, pattern: &str) -> Result<Vec<Listed>> {
        let first_meta = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
        let base = match pattern[..first_meta].rfind('/') {
            Some(i) if first_meta < pattern.len() => &pattern[..i],
            _ if first_meta < pattern.len() => ".",
            _ => pattern,
        };
        let base_loc = self.resolve(if base.is_empty() { "/" } else { base })?;
        if first_meta == pattern.len() {
            // A plain path: one object, if it exists.
            return Ok(match self.head(&base_loc)? {
                Some(size) => vec![Listed {
                    location: base_loc,
                    size,
                }],
                None => Vec::new(),
            });
        }
        let rest = &pattern[pattern[..first_meta].rfind('/').map(|i| i + 1).unwrap_or(0)..];
        let matcher =
            glob::Pattern::new(rest).with_context(|| format!("invalid glob '{pattern}'"))?;
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let listed = match self.list(&base_loc) {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(listed
            .into_iter()
            .filter(|l| {
                base_loc
                    .relative(&l.location)
                    .is_some_and(|rel| matcher.matches_with(&rel, options))
            })
            .collect())
    }

    /// Size of an object, or `None` when it does not exist.
    pub fn head(&self, loc: &Location) -> Result<Option<u64>> {
        match self.block_on(loc.store.head(&loc.path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot stat {loc}")),
        }
    }

    /// The whole object in memory (for small objects: markers, manifests, configs).
    pub fn get(&self, loc: &Location) -> Result<Bytes> {
        self.block_on(async { loc.store.get(&loc.path).await?.bytes().await })
            .with_context(|| format!("cannot read {loc}"))
    }

    /// The whole object, or `None` when it does not exist.
    pub fn get_opt(&self, loc: &Location) -> Result<Option<Bytes>> {
        match self.block_on(async { loc.store.get(&loc.path).await?.bytes().await }) {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {loc}")),
        }
    }

    /// A byte range of an object.
    pub fn get_range(&self, loc: &Location, range: std::ops::Range<u64>) -> Result<Bytes> {
        self.block_on(loc.store.get_range(&loc.path, range.clone()))
            .with_context(|| format!("cannot read bytes {range:?} of {loc}"))
    }

    /// A streaming blocking reader over an object.
    pub fn reader(self: &Arc<Self>, loc: &Location) -> Result<ObjectReader> {
        let stream = self
            .block_on(async {
                Ok::<_, object_store::Error>(loc.store.get(&loc.path).await?.into_stream())
            })
            .with_context(|| format!("cannot open {loc}"))?;
        Ok(ObjectReader {
            storage: self.clone(),
            stream,
            current: Bytes::new(),
            url: loc.url.clone(),
        })
    }

    /// Writes a small object in one request (atomic on every store).
    pub fn put(&self, loc: &Location, bytes: impl Into<Bytes>) -> Result<()> {
        self.block_on(loc.store.put(&loc.path, PutPayload::from(bytes.into())))
            .map(|_| ())
            .with_context(|| format!("cannot write {loc}"))
    }

    /// A streaming writer (multipart upload on S3) that checksums what it writes.
    pub fn writer(self: &Arc<Self>, loc: &Location) -> ObjectWriter {
        ObjectWriter {
            storage: self.clone(),
            inner: Some(BufWriter::with_capacity(
                loc.store.clone(),
                loc.path.clone(),
                8 << 20,
            )),
            hash: Xxh3::new(),
            bytes: 0,
            url: loc.url.clone(),
        }
    }

    /// Moves an object (commit of a temporary output); overwrites the target.
    pub fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        self.block_on(from.store.rename(&from.path, &to.path))
            .with_context(|| format!("cannot move {from} to {to}"))
    }

    /// Deletes one object; a missing object is not an error.
    pub fn delete(&self, loc: &Location) -> Result<()> {
        match self.block_on(loc.store.delete(&loc.path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot delete {loc}")),
        }
    }

    /// Deletes every object below `prefix`.
    pub fn delete_prefix(&self, prefix: &Location) -> Result<()> {
        let listed = match self.list(prefix) {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        for l in listed {
            self.delete(&l.location)?;
        }
        Ok(())
    }
}

/// Removes `.` and resolves `..` components without touching the file system.
fn lexically_normal(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// True when an error chain bottoms out in "object not found" (a missing local directory lists as that).
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<object_store::Error>(),
            Some(object_store::Error::NotFound { .. })
        ) || c
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
    })
}

/// Blocking `Read` over an object's byte stream.
pub struct ObjectReader {
    storage: Arc<Storage>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
    url: String,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.storage.block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!("reading {}: {e}", self.url)));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Blocking `Write` into an object; call [`ObjectWriter::finish`] to complete the upload.
pub struct ObjectWriter {
    storage: Arc<Storage>,
    inner: Option<BufWriter>,
    hash: Xxh3,
    bytes: u64,
    url: String,
}

/// Size and checksum of a finished object.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Bytes written.
    pub bytes: u64,
    /// xxh3-64 of the bytes.
    pub xxh3: u64,
}

impl ObjectWriter {
    /// Completes the upload and returns the object's size and checksum.
    pub fn finish(mut self) -> Result<Written> {
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| anyhow!("{} was already finished", self.url))?;
        self.storage
            .block_on(inner.shutdown())
            .with_context(|| format!("cannot complete {}", self.url))?;
        Ok(Written {
            bytes: self.bytes,
            xxh3: self.hash.digest(),
        })
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| std::io::Error::other("write after finish"))?;
        self.storage.block_on(inner.write_all(buf))?;
        self.hash.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take() {
            // An unfinished upload is abandoned, never completed: no partial object becomes visible.
            let _ = self.storage.block_on(inner.abort());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn local_round_trip_glob_and_rename() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new().unwrap();
        let root = storage.resolve(dir.path().to_str().unwrap()).unwrap();
        let a = root.child("in/a.jsonl");
        let mut w = storage.writer(&a);
        w.write_all(b"hello\n").unwrap();
        let written = w.finish().unwrap();
        assert_eq!(written.bytes, 6);
        assert_eq!(written.xxh3, xxhash_rust::xxh3::xxh3_64(b"hello\n"));
        storage
            .put(&root.child("in/sub/b.jsonl"), Bytes::from_static(b"x"))
            .unwrap();
        storage
            .put(&root.child("in/c.txt"), Bytes::from_static(b"y"))
            .unwrap();

        let pattern = format!("{}/in/*.jsonl", dir.path().display());
        let found: Vec<String> = storage
            .glob(&pattern)
            .unwrap()
            .iter()
            .map(|l| l.location.file_name().to_string())
            .collect();
        assert_eq!(found, vec!["a.jsonl"]);
        let deep = format!("{}/in/**/*.jsonl", dir.path().display());
        assert_eq!(storage.glob(&deep).unwrap().len(), 2);
        assert!(
            storage
                .glob(&format!("{}/missing/*.x", dir.path().display()))
                .unwrap()
                .is_empty()
        );

        let mut s = String::new();
        storage.reader(&a).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello\n");
        let moved = root.child("out/a.jsonl");
        storage.rename(&a, &moved).unwrap();
        assert_eq!(storage.head(&a).unwrap(), None);
        assert_eq!(storage.head(&moved).unwrap(), Some(6));
        storage.delete_prefix(&root.child("in")).unwrap();
        assert!(
            storage
                .list(&root.child("in"))
                .map(|l| l.is_empty())
                .unwrap_or(true)
        );
    }

    #[test]
    fn dot_dot_paths_resolve_like_a_shell() {
        let storage = Storage::new().unwrap();
        let loc = storage.resolve("/tmp/a/../b/./c.txt").unwrap();
        assert_eq!(loc.url(), "/tmp/b/c.txt");
        assert_eq!(
            loc.parent().map(|p| p.url().to_string()),
            Some("/tmp/b".to_string())
        );
    }

    #[test]
    fn dropped_writer_leaves_no_object() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new().unwrap();
        let loc = storage
            .resolve(dir.path().to_str().unwrap())
            .unwrap()
            .child("x.bin");
        let mut w = storage.writer(&loc);
        w.write_all(&[1u8; 100]).unwrap();
        drop(w);
        assert_eq!(storage.head(&loc).unwrap(), None);
    }
}
