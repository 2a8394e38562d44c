//! `[[sources]]` of the run configuration: what a reader needs to know about its source.

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::Format;

/// `[[sources]]`: one named source and its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Source name; becomes the `source` column (`common_crawl`, `webtext2`, `books1`, ...).
    pub name: String,
    /// Reader format (see [`Format::ALLOWED`]).
    pub format: String,
    /// Globs of input files, local or `s3://`.
    pub paths: Vec<String>,
    /// Mixing weight (GPT-3 Table 2.2).
    pub weight: f64,
    /// JSONL: dotted path of the text field.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// JSONL: dotted path of the record's own id, kept in `meta.orig_id`.
    #[serde(default)]
    pub id_field: Option<String>,
    /// JSONL: dotted path of the URL field.
    #[serde(default)]
    pub url_field: Option<String>,
    /// JSONL: dotted path of the title field.
    #[serde(default)]
    pub title_field: Option<String>,
    /// Largest document (text bytes) a reader accepts; larger records become `too_large` rejects.
    #[serde(default = "default_max_doc_bytes")]
    pub max_doc_bytes: u64,
}

impl SourceConfig {
    /// A source with every optional field at its default (`text_field = "text"`, no id/url/title fields,
    /// the default `max_doc_bytes`), for programmatic use: benches, tests, tools.
    pub fn with_defaults(name: &str, format: &str) -> Self {
        SourceConfig {
            name: name.to_string(),
            format: format.to_string(),
            paths: Vec::new(),
            weight: 1.0,
            text_field: default_text_field(),
            id_field: None,
            url_field: None,
            title_field: None,
            max_doc_bytes: default_max_doc_bytes(),
        }
    }
}

fn default_max_doc_bytes() -> u64 {
    32 << 20
}

fn default_text_field() -> String {
    "text".to_string()
}
