//! Real text for the tests: the web documents and books bundled in `tests/data` (see its README).

use std::io::BufRead;

fn data_path(relative: &str) -> String {
    format!("{}/../tests/data/{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// The `text` of every record of the gzipped JSONL web samples (Dolma CC, CCNet, C4): 727 pages in
/// many languages and scripts.
pub(crate) fn web_texts() -> Vec<String> {
    [
        "webtext/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz",
        "webtext/ccnet-cc_en_head-0091.jsonl.gz",
        "webtext/c4-en-sample.01.json.gz",
        "webtext/c4-en-sample.02.json.gz",
    ]
    .iter()
    .flat_map(|name| {
        let file = std::fs::File::open(data_path(name)).expect("sample file in tests/data");
        std::io::BufReader::new(flate2::read::GzDecoder::new(file))
            .lines()
            .map(|line| {
                let record: serde_json::Value =
                    serde_json::from_str(&line.expect("readable sample")).expect("JSON record");
                record["text"].as_str().unwrap_or_default().to_string()
            })
            .collect::<Vec<_>>()
    })
    .collect()
}

/// *The Devil's Dictionary* (Project Gutenberg #972): ASCII prose with CRLF line ends.
pub(crate) fn book_text() -> String {
    std::fs::read_to_string(data_path("books/pg972-the-devils-dictionary.txt"))
        .expect("sample book")
}
