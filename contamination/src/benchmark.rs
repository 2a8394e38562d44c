//! Reading benchmark test sets into example texts.
//!
//! A benchmark file holds examples in one of the [`BenchmarkFormat`]s; [`load_examples`] turns it into
//! one text per example, in file order, so that example `i` of the reports is record `i` of the file.
//! Which values form an example's text is configured per benchmark: `fields` (paths into a JSON record or
//! column names) and, for JSON files whose examples are nested (SQuAD), a `records` path that enumerates
//! them. A path is dot-separated keys, where `key[]` means "each item of the array under `key`" and a bare
//! `[]` "each item of this array": `data[].paragraphs[]`, `qas[].answers[].text`.

use std::fmt;
use std::str::FromStr;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// A name that is not one of the accepted choices of a config setting ([`BenchmarkFormat`],
/// [`crate::Mode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}`; expected one of {}", .allowed.join(", "))]
pub struct UnknownChoice {
    what: &'static str,
    got: String,
    allowed: &'static [&'static str],
}

impl UnknownChoice {
    /// A `what` named `got` that is none of `allowed`.
    pub(crate) fn new(what: &'static str, got: &str, allowed: &'static [&'static str]) -> Self {
        Self {
            what,
            got: got.to_string(),
            allowed,
        }
    }
}

/// How a benchmark file stores its examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BenchmarkFormat {
    /// One JSON record per non-empty line.
    Jsonl,
    /// One JSON document: an array of records, one record, or (with `records`) any nesting.
    Json,
    /// Tab-separated values with a header row; no quoting, so quotes are plain text.
    Tsv,
    /// Comma-separated values (RFC 4180 quoting) with a header row.
    Csv,
    /// Apache Parquet; `fields` are string or list-of-string columns.
    Parquet,
    /// One example per non-empty line; `fields` do not apply.
    Text,
}

impl BenchmarkFormat {
    /// The names [`BenchmarkFormat::from_str`] accepts, in declaration order.
    pub const ALLOWED: &'static [&'static str] =
        &["jsonl", "json", "tsv", "csv", "parquet", "text"];

    /// The format's config name, as [`BenchmarkFormat::from_str`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Json => "json",
            Self::Tsv => "tsv",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Text => "text",
        }
    }
}

impl fmt::Display for BenchmarkFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BenchmarkFormat {
    type Err = UnknownChoice;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "jsonl" => Ok(Self::Jsonl),
            "json" => Ok(Self::Json),
            "tsv" => Ok(Self::Tsv),
            "csv" => Ok(Self::Csv),
            "parquet" => Ok(Self::Parquet),
            "text" => Ok(Self::Text),
            _ => Err(UnknownChoice::new("benchmark format", name, Self::ALLOWED)),
        }
    }
}

/// Why a benchmark file could not be read into examples. Each message says where in the file it went
/// wrong (line, JSON path, column) and which field was asked for.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    /// A JSONL line is not valid JSON.
    #[error("line {line}: not valid JSON: {source}")]
    JsonLine {
        /// 1-based line number.
        line: usize,
        /// The parser's error (its column is within the line).
        source: serde_json::Error,
    },
    /// A JSON file is not valid JSON.
    #[error("not valid JSON: {source}")]
    Json {
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// A line of a JSONL or text file is not UTF-8.
    #[error("line {line}: not valid UTF-8")]
    Utf8 {
        /// 1-based line number.
        line: usize,
    },
    /// A `fields` or `records` path does not lead to usable values in a record.
    #[error("{at}: {path} `{field}`: {problem}")]
    Field {
        /// Where the record is: `line 7`, `line 1, data[0].paragraphs[3]`, `[12]`.
        at: String,
        /// `field` or `records`.
        path: &'static str,
        /// The path as configured.
        field: String,
        /// What was wrong, e.g. "no key `question`".
        problem: String,
    },
    /// A `fields` or `records` path is not well formed.
    #[error("invalid path `{path}`: {reason}")]
    Path {
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No `fields` were given for a format that needs them.
    #[error(
        "{format} benchmarks need `fields`: the fields or columns whose values form an example"
    )]
    NoFields {
        /// The file's format.
        format: BenchmarkFormat,
    },
    /// `records` was given for a format without nesting.
    #[error("`records` applies to json and jsonl benchmarks, not {format}")]
    RecordsUnsupported {
        /// The file's format.
        format: BenchmarkFormat,
    },
    /// A TSV or CSV file could not be parsed (the message names the record and line).
    #[error("{format}: {source}")]
    Csv {
        /// `tsv` or `csv`.
        format: BenchmarkFormat,
        /// The parser's error.
        source: csv::Error,
    },
    /// A requested column is not in the file.
    #[error("{format} file has no column `{column}`; its columns are: {available}")]
    MissingColumn {
        /// The file's format.
        format: BenchmarkFormat,
        /// The column asked for.
        column: String,
        /// The file's columns, comma-separated.
        available: String,
    },
    /// A requested Parquet column does not hold strings.
    #[error("column `{column}` has type {data_type}; expected strings or lists of strings")]
    ColumnType {
        /// The column asked for.
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// The Parquet file could not be read.
    #[error("parquet: {source}")]
    Parquet {
        /// The reader's error.
        #[from]
        source: parquet::errors::ParquetError,
    },
    /// A Parquet row group could not be decoded.
    #[error("parquet: {source}")]
    Arrow {
        /// The decoder's error.
        #[from]
        source: arrow::error::ArrowError,
    },
}

/// Reads the examples of one benchmark file, in file order.
///
/// Each example's text is the values of `fields`, in the order given, joined by single spaces: a list
/// value's items are joined too (nested lists flattened), numbers and booleans are rendered as JSON text,
/// and `null` and empty values add nothing. A key missing on the way to a value is an error that names
/// the field and the record. Per format:
///
/// - `jsonl`: each non-empty line is a record; `json`: a top-level array's items are the records, any
///   other value is one record. With `records` (JSON and JSONL only), the examples are the values that
///   path enumerates inside each record instead, e.g. SQuAD: `records = "data[].paragraphs[]"`,
///   `fields = ["context", "qas[].question", "qas[].answers[].text"]`.
/// - `tsv`, `csv`: the first row is the header; `fields` are column names; every later row is an example.
/// - `parquet`: `fields` are column names of string or list-of-string columns; every row is an example.
/// - `text`: every non-blank line is an example (a trailing `\r` removed); `fields` are ignored.
///
/// A leading UTF-8 byte order mark is skipped.
pub fn load_examples(
    format: BenchmarkFormat,
    bytes: &[u8],
    fields: &[String],
    records: Option<&str>,
) -> Result<Vec<String>, BenchmarkError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if records.is_some() && !matches!(format, BenchmarkFormat::Json | BenchmarkFormat::Jsonl) {
        return Err(BenchmarkError::RecordsUnsupported { format });
    }
    if fields.is_empty() && format != BenchmarkFormat::Text {
        return Err(BenchmarkError::NoFields { format });
    }
    match format {
        BenchmarkFormat::Text => lines(bytes)
            .filter(|(_, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
            .map(|(number, line)| {
                std::str::from_utf8(line)
                    .map(str::to_string)
                    .map_err(|_| BenchmarkError::Utf8 { line: number })
            })
            .collect(),
        BenchmarkFormat::Jsonl => {
            let extractor = JsonExtractor::new(fields, records)?;
            let mut examples = Vec::new();
            for (number, line) in lines(bytes) {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let record: Value =
                    serde_json::from_slice(line).map_err(|source| BenchmarkError::JsonLine {
                        line: number,
                        source,
                    })?;
                extractor.extract(&record, &format!("line {number}"), &mut examples)?;
            }
            Ok(examples)
        }
        BenchmarkFormat::Json => {
            let extractor = JsonExtractor::new(fields, records)?;
            let document: Value =
                serde_json::from_slice(bytes).map_err(|source| BenchmarkError::Json { source })?;
            let mut examples = Vec::new();
            match (&document, records) {
                (Value::Array(items), None) => {
                    for (i, item) in items.iter().enumerate() {
                        extractor.extract(item, &format!("[{i}]"), &mut examples)?;
                    }
                }
                _ => extractor.extract(&document, "document", &mut examples)?,
            }
            Ok(examples)
        }
        BenchmarkFormat::Tsv | BenchmarkFormat::Csv => load_delimited(format, bytes, fields),
        BenchmarkFormat::Parquet => load_parquet(bytes, fields),
    }
}

/// The lines of `bytes` with their 1-based numbers, without `\n` or a trailing `\r`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// One step of a path: a key of an object, or each item of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Each,
}

/// Parses a dot-separated path with `[]` suffixes (see the module documentation).
fn parse_path(path: &str) -> Result<Vec<Step>, BenchmarkError> {
    let invalid = |reason| BenchmarkError::Path {
        path: path.to_string(),
        reason,
    };
    let mut steps = Vec::new();
    for segment in path.split('.') {
        let mut key = segment;
        let mut each = 0;
        while let Some(rest) = key.strip_suffix("[]") {
            key = rest;
            each += 1;
        }
        if key.contains(['[', ']']) {
            return Err(invalid(
                "brackets are only allowed as `[]` at the end of a segment",
            ));
        }
        if key.is_empty() && each == 0 {
            return Err(invalid("empty segment"));
        }
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        steps.extend(std::iter::repeat_n(Step::Each, each));
    }
    Ok(steps)
}

/// Follows `steps` from `value`, collecting every value reached (with its location suffix when
/// `locate` is set); fails with the problem when a key is missing or an `[]` meets a non-array.
fn follow<'v>(
    value: &'v Value,
    steps: &[Step],
    locate: Option<String>,
    out: &mut Vec<(&'v Value, Option<String>)>,
) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        out.push((value, locate));
        return Ok(());
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => match map.get(key) {
            Some(inner) => follow(inner, rest, locate.map(|at| format!("{at}.{key}")), out),
            None => Err(format!("no key `{key}`")),
        },
        (Step::Key(key), other) => Err(format!(
            "key `{key}` looked up in {}, not an object",
            kind(other)
        )),
        (Step::Each, Value::Array(items)) => items.iter().enumerate().try_for_each(|(i, item)| {
            let at = locate.as_ref().map(|at| format!("{at}[{i}]"));
            follow(item, rest, at, out)
        }),
        (Step::Each, other) => Err(format!("`[]` applied to {}, not an array", kind(other))),
    }
}

/// The JSON type name of `value`, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Appends the text of `value` to `text`, space-separated (see [`load_examples`]).
fn push_text(value: &Value, text: &mut String) -> Result<(), String> {
    let mut push = |part: &str| {
        if !part.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(part);
        }
    };
    match value {
        Value::Null => {}
        Value::Bool(b) => push(if *b { "true" } else { "false" }),
        Value::Number(number) => push(&number.to_string()),
        Value::String(s) => push(s),
        Value::Array(items) => {
            for item in items {
                push_text(item, text)?;
            }
        }
        Value::Object(_) => return Err("is an object; name a string inside it".to_string()),
    }
    Ok(())
}

/// The parsed `fields` and `records` paths of a JSON benchmark.
struct JsonExtractor<'a> {
    fields: Vec<(&'a str, Vec<Step>)>,
    records: Option<(&'a str, Vec<Step>)>,
}

impl<'a> JsonExtractor<'a> {
    fn new(fields: &'a [String], records: Option<&'a str>) -> Result<Self, BenchmarkError> {
        Ok(Self {
            fields: fields
                .iter()
                .map(|field| Ok((field.as_str(), parse_path(field)?)))
                .collect::<Result<_, BenchmarkError>>()?,
            records: records
                .map(|path| parse_path(path).map(|steps| (path, steps)))
                .transpose()?,
        })
    }

    /// Appends the examples of one top-level `record`, found at `at`, to `examples`.
    fn extract(
        &self,
        record: &Value,
        at: &str,
        examples: &mut Vec<String>,
    ) -> Result<(), BenchmarkError> {
        let mut found = Vec::new();
        match &self.records {
            Some((path, steps)) => {
                follow(record, steps, Some(String::new()), &mut found).map_err(|problem| {
                    BenchmarkError::Field {
                        at: at.to_string(),
                        path: "records",
                        field: (*path).to_string(),
                        problem,
                    }
                })?;
            }
            None => found.push((record, None)),
        }
        let mut values = Vec::new();
        for (example, location) in found {
            let at = match location {
                Some(inner) => format!("{at}, {}", inner.trim_start_matches('.')),
                None => at.to_string(),
            };
            let mut text = String::new();
            for (field, steps) in &self.fields {
                values.clear();
                let problem = follow(example, steps, None, &mut values).and_then(|()| {
                    values
                        .iter()
                        .try_for_each(|(value, _)| push_text(value, &mut text))
                });
                problem.map_err(|problem| BenchmarkError::Field {
                    at: at.clone(),
                    path: "field",
                    field: (*field).to_string(),
                    problem,
                })?;
            }
            examples.push(text);
        }
        Ok(())
    }
}

/// Reads a TSV or CSV file with a header row (see [`load_examples`]).
fn load_delimited(
    format: BenchmarkFormat,
    bytes: &[u8],
    fields: &[String],
) -> Result<Vec<String>, BenchmarkError> {
    let csv_error = |source| BenchmarkError::Csv { format, source };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if format == BenchmarkFormat::Tsv {
            b'\t'
        } else {
            b','
        })
        .quoting(format == BenchmarkFormat::Csv)
        .has_headers(true)
        .from_reader(bytes);
    let header = reader.headers().map_err(csv_error)?.clone();
    let columns = fields
        .iter()
        .map(|field| {
            header.iter().position(|name| name == field).ok_or_else(|| {
                BenchmarkError::MissingColumn {
                    format,
                    column: field.clone(),
                    available: header.iter().collect::<Vec<_>>().join(", "),
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut examples = Vec::new();
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
        let parts: Vec<&str> = columns
            .iter()
            .filter_map(|&column| row.get(column))
            .filter(|value| !value.is_empty())
            .collect();
        examples.push(parts.join(" "));
    }
    Ok(examples)
}

/// Reads a Parquet file's string columns (see [`load_examples`]).
fn load_parquet(bytes: &[u8], fields: &[String]) -> Result<Vec<String>, BenchmarkError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes))?;
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(fields.len());
    for field in fields {
        let (index, column) =
            schema
                .column_with_name(field)
                .ok_or_else(|| BenchmarkError::MissingColumn {
                    format: BenchmarkFormat::Parquet,
                    column: field.clone(),
                    available: schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        if !holds_strings(column.data_type()) {
            return Err(BenchmarkError::ColumnType {
                column: field.clone(),
                data_type: column.data_type().to_string(),
            });
        }
        roots.push(index);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build()?;
    let mut examples = Vec::new();
    for batch in reader {
        let batch = batch?;
        let columns = fields
            .iter()
            .map(|field| {
                batch
                    .column_by_name(field)
                    .ok_or_else(|| BenchmarkError::MissingColumn {
                        format: BenchmarkFormat::Parquet,
                        column: field.clone(),
                        available: String::new(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let mut text = String::new();
            for column in &columns {
                push_arrow_text(column.as_ref(), row, &mut text);
            }
            examples.push(text);
        }
    }
    Ok(examples)
}

/// Whether `data_type` is a string type or a (nested) list of one.
fn holds_strings(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::List(item) | DataType::LargeList(item) => holds_strings(item.data_type()),
        _ => false,
    }
}

/// Appends the text of row `row` of a column that [`holds_strings`] to `text`, space-separated; nulls
/// and empty strings add nothing.
fn push_arrow_text(column: &dyn Array, row: usize, text: &mut String) {
    if column.is_null(row) {
        return;
    }
    let value = if let Some(strings) = column.as_string_opt::<i32>() {
        strings.value(row)
    } else if let Some(strings) = column.as_string_opt::<i64>() {
        strings.value(row)
    } else if let Some(strings) = column.as_string_view_opt() {
        strings.value(row)
    } else {
        let items = if let Some(list) = column.as_list_opt::<i32>() {
            list.value(row)
        } else if let Some(list) = column.as_list_opt::<i64>() {
            list.value(row)
        } else {
            return;
        };
        for item in 0..items.len() {
            push_arrow_text(items.as_ref(), item, text);
        }
        return;
    };
    if !value.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(value);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, ListBuilder, StringArray, StringBuilder};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::ArrowWriter;

    use super::{BenchmarkError, BenchmarkFormat, load_examples};

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn load(
        format: BenchmarkFormat,
        text: &str,
        names: &[&str],
        records: Option<&str>,
    ) -> Vec<String> {
        load_examples(format, text.as_bytes(), &fields(names), records).unwrap()
    }

    fn error(format: BenchmarkFormat, text: &str, names: &[&str], records: Option<&str>) -> String {
        load_examples(format, text.as_bytes(), &fields(names), records)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn jsonl_joins_fields_lists_and_scalars() {
        let text = "\u{feff}{\"q\": \"Why?\", \"choices\": [\"a\", [\"b\", \"c\"], \"\"], \"n\": 2.5, \"ok\": true}\r\n\
                    \n   \n{\"q\": \"\", \"choices\": [], \"n\": null, \"ok\": false}\n";
        assert_eq!(
            load(
                BenchmarkFormat::Jsonl,
                text,
                &["q", "choices", "n", "ok"],
                None
            ),
            ["Why? a b c 2.5 true", "false"]
        );
    }

    #[test]
    fn json_arrays_objects_and_nested_records() {
        assert_eq!(
            load(
                BenchmarkFormat::Json,
                r#"[{"t": "x"}, {"t": "y"}]"#,
                &["t"],
                None
            ),
            ["x", "y"]
        );
        assert_eq!(
            load(BenchmarkFormat::Json, r#"{"t": "only"}"#, &["t"], None),
            ["only"]
        );
        let squad = r#"{"data": [
            {"paragraphs": [
                {"context": "C1", "qas": [{"question": "Q1", "answers": [{"text": "A1"}, {"text": "A2"}]},
                                           {"question": "Q2", "answers": []}]},
                {"context": "C2", "qas": []}]},
            {"paragraphs": [{"context": "C3", "qas": [{"question": "Q3", "answers": [{"text": "A3"}]}]}]}]}"#;
        let fields = ["context", "qas[].question", "qas[].answers[].text"];
        assert_eq!(
            load(
                BenchmarkFormat::Json,
                squad,
                &fields,
                Some("data[].paragraphs[]")
            ),
            ["C1 Q1 Q2 A1 A2", "C2", "C3 Q3 A3"]
        );
        // The same through JSONL, one article per line, and a root array through a bare `[]`.
        let lines = r#"{"paragraphs": [{"context": "C1", "qas": []}, {"context": "C2", "qas": []}]}
{"paragraphs": [{"context": "C3", "qas": []}]}"#;
        assert_eq!(
            load(
                BenchmarkFormat::Jsonl,
                lines,
                &["context"],
                Some("paragraphs[]")
            ),
            ["C1", "C2", "C3"]
        );
        assert_eq!(
            load(
                BenchmarkFormat::Json,
                r#"[[{"t": "a"}], [{"t": "b"}]]"#,
                &["t"],
                Some("[][]")
            ),
            ["a", "b"]
        );
    }

    #[test]
    fn errors_name_the_record_and_the_field() {
        let text = "{\"q\": \"a\"}\n{\"q\": \"b\"}\n{\"x\": \"c\"}\n";
        assert_eq!(
            error(BenchmarkFormat::Jsonl, text, &["q"], None),
            "line 3: field `q`: no key `q`"
        );
        let broken = error(
            BenchmarkFormat::Jsonl,
            "{\"q\": \"a\"}\n{\"q\": \n",
            &["q"],
            None,
        );
        assert!(broken.starts_with("line 2: not valid JSON: "), "{broken}");
        assert_eq!(
            error(
                BenchmarkFormat::Jsonl,
                "{\"q\": {\"deep\": 1}}",
                &["q"],
                None
            ),
            "line 1: field `q`: is an object; name a string inside it"
        );
        let squad =
            r#"{"data": [{"paragraphs": [{"context": "C1"}, {"context": "C2", "qas": 3}]}]}"#;
        assert_eq!(
            error(
                BenchmarkFormat::Json,
                squad,
                &["context", "qas[].question"],
                Some("data[].paragraphs[]")
            ),
            "document, data[0].paragraphs[0]: field `qas[].question`: no key `qas`"
        );
        assert_eq!(
            error(
                BenchmarkFormat::Json,
                r#"{"data": 1}"#,
                &["t"],
                Some("data[]")
            ),
            "document: records `data[]`: `[]` applied to a number, not an array"
        );
        assert_eq!(
            error(BenchmarkFormat::Json, r#"[{"t": "x"}, "y"]"#, &["t"], None),
            "[1]: field `t`: key `t` looked up in a string, not an object"
        );
        assert_eq!(
            error(BenchmarkFormat::Jsonl, "{}", &["a[0]"], None),
            "invalid path `a[0]`: brackets are only allowed as `[]` at the end of a segment"
        );
        assert_eq!(
            error(BenchmarkFormat::Jsonl, "{}", &[], None),
            "jsonl benchmarks need `fields`: the fields or columns whose values form an example"
        );
        assert_eq!(
            error(BenchmarkFormat::Csv, "a\nb\n", &["a"], Some("x[]")),
            "`records` applies to json and jsonl benchmarks, not csv"
        );
        let bad_utf8 = load_examples(BenchmarkFormat::Text, b"ok\n\xff\xfe\n", &[], None);
        assert_eq!(bad_utf8.unwrap_err().to_string(), "line 2: not valid UTF-8");
    }

    #[test]
    fn text_is_one_example_per_non_blank_line() {
        assert_eq!(
            load(
                BenchmarkFormat::Text,
                "first line\r\n\n  \t\nsecond line\nthird",
                &[],
                None
            ),
            ["first line", "second line", "third"]
        );
    }

    #[test]
    fn tsv_and_csv_read_named_columns_after_the_header() {
        let tsv = "id\tquestion\tanswer\n1\tWhat is \"it\"?\tthat\n2\t\tonly answer\n";
        assert_eq!(
            load(BenchmarkFormat::Tsv, tsv, &["question", "answer"], None),
            ["What is \"it\"? that", "only answer"]
        );
        let csv =
            "id,question,answer\n1,\"Commas, and \"\"quotes\"\"\",yes\n2,\"multi\nline\",no\n";
        assert_eq!(
            load(BenchmarkFormat::Csv, csv, &["answer", "question"], None),
            ["yes Commas, and \"quotes\"", "no multi\nline"]
        );
        assert_eq!(
            error(BenchmarkFormat::Csv, csv, &["context"], None),
            "csv file has no column `context`; its columns are: id, question, answer"
        );
        let ragged = error(BenchmarkFormat::Tsv, "a\tb\n1\t2\n3\n", &["a"], None);
        assert!(
            ragged.starts_with("tsv: ") && ragged.contains("line: 3"),
            "{ragged}"
        );
    }

    #[test]
    fn parquet_reads_string_and_list_columns() {
        let mut choices = ListBuilder::new(StringBuilder::new());
        choices.values().append_value("red");
        choices.values().append_value("blue");
        choices.append(true);
        choices.append(false);
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2]))),
            (
                "question",
                Arc::new(StringArray::from(vec![Some("Which colour?"), None])),
            ),
            ("choices", Arc::new(choices.finish())),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let examples = load_examples(
            BenchmarkFormat::Parquet,
            &file,
            &fields(&["question", "choices"]),
            None,
        );
        assert_eq!(examples.unwrap(), ["Which colour? red blue", ""]);
        let wrong_type = load_examples(BenchmarkFormat::Parquet, &file, &fields(&["id"]), None);
        assert_eq!(
            wrong_type.unwrap_err().to_string(),
            "column `id` has type Int64; expected strings or lists of strings"
        );
        let missing = load_examples(BenchmarkFormat::Parquet, &file, &fields(&["answer"]), None);
        assert!(matches!(missing, Err(BenchmarkError::MissingColumn { .. })));
        let garbage = load_examples(
            BenchmarkFormat::Parquet,
            b"not parquet",
            &fields(&["q"]),
            None,
        );
        assert!(matches!(garbage, Err(BenchmarkError::Parquet { .. })));
    }

    #[test]
    fn formats_parse_from_their_names() {
        for &name in BenchmarkFormat::ALLOWED {
            assert_eq!(
                name.parse::<BenchmarkFormat>().map(BenchmarkFormat::name),
                Ok(name)
            );
        }
        assert_eq!(
            "xml".parse::<BenchmarkFormat>().unwrap_err().to_string(),
            "unknown benchmark format `xml`; expected one of jsonl, json, tsv, csv, parquet, text"
        );
    }
}
