//! Every bundled sample of the JSONL, text and WAT kinds read end to end through `open_reader`, with the
//! documents, rejects and skips each must give, and the start of a few documents as a person reads them.
//! (The WARC, WET and Wikipedia samples have the same checks in their readers' own test modules.)

use std::path::Path;

use super::{InputFile, Record, open_reader};
use crate::SourceConfig;
use corpus_store::Document;
use corpus_store::Storage;

struct Expect {
    format: &'static str,
    file: &'static str,
    docs: usize,
    rejects: usize,
    skips: usize,
    /// (document index, how its text starts, its title)
    starts: &'static [(usize, &'static str, Option<&'static str>)],
}

const EXPECTED: &[Expect] = &[
    Expect {
        format: "jsonl",
        file: "webtext/c4-en-sample.01.json.gz",
        docs: 10,
        rejects: 0,
        skips: 0,
        starts: &[(
            0,
            "The woman who died after falling from a bridge over the A21 has been identified",
            None,
        )],
    },
    Expect {
        format: "jsonl",
        file: "webtext/c4-en-sample.02.json.gz",
        docs: 10,
        rejects: 0,
        skips: 0,
        starts: &[],
    },
    Expect {
        format: "jsonl",
        file: "webtext/ccnet-cc_en_head-0091.jsonl.gz",
        docs: 10,
        rejects: 0,
        skips: 0,
        starts: &[],
    },
    Expect {
        format: "jsonl",
        file: "webtext/pile-val-openwebtext2-doc.jsonl.zst",
        docs: 1,
        rejects: 0,
        skips: 0,
        starts: &[(
            0,
            "Catalonia election: Puigdemont calls for talks with Spain",
            None,
        )],
    },
    Expect {
        format: "jsonl",
        file: "webtext/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz",
        docs: 670,
        rejects: 27,
        skips: 0,
        starts: &[(
            0,
            "A New Home?\n\nMarch 03, 2018 - After a great deal of discussion",
            None,
        )],
    },
    Expect {
        format: "text",
        file: "books/pg972-the-devils-dictionary.txt",
        docs: 1,
        rejects: 0,
        skips: 0,
        starts: &[(
            0,
            "THE DEVIL'S DICTIONARY\n\nby Ambrose Bierce",
            Some("The Devil's Dictionary"),
        )],
    },
    Expect {
        format: "text",
        file: "books/pg1342-pride-and-prejudice.txt",
        docs: 1,
        rejects: 0,
        skips: 0,
        starts: &[(
            0,
            "PRIDE AND PREJUDICE\n\nBy Jane Austen",
            Some("Pride and Prejudice"),
        )],
    },
    Expect {
        format: "text",
        file: "books/pg2701-moby-dick.txt",
        docs: 1,
        rejects: 0,
        skips: 0,
        starts: &[(
            0,
            "MOBY-DICK;\n\nor, THE WHALE.\n\nBy Herman Melville",
            Some("Moby Dick; or The Whale"),
        )],
    },
    // A WAT file holds JSON metadata records only: read as WARC, nothing becomes a document.
    Expect {
        format: "warc",
        file: "warc/whirlwind.warc.wat.gz",
        docs: 0,
        rejects: 0,
        skips: 2,
        starts: &[],
    },
];

fn read(storage: &std::sync::Arc<Storage>, e: &Expect) -> (Vec<Document>, usize, usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(e.file);
    let Ok(location) = storage.resolve(path.to_str().unwrap_or("")) else {
        panic!("resolve {}", e.file)
    };
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let input = InputFile {
        source_index: 0,
        location,
        size,
        stem: "sample".into(),
        title: None,
    };
    let source = SourceConfig::with_defaults("s", e.format);
    let Ok(reader) = open_reader(storage, &source, &input) else {
        panic!("open {}", e.file)
    };
    let (mut docs, mut rejects, mut skips) = (Vec::new(), 0, 0);
    for record in reader {
        match record {
            Record::Doc(d) => docs.push(d),
            Record::Reject(_) => rejects += 1,
            Record::Skip(_) => skips += 1,
        }
    }
    (docs, rejects, skips)
}

#[test]
fn every_bundled_sample_gives_its_documents() {
    let Ok(storage) = Storage::new() else {
        panic!("storage")
    };
    for e in EXPECTED {
        let (docs, rejects, skips) = read(&storage, e);
        assert_eq!(
            (docs.len(), rejects, skips),
            (e.docs, e.rejects, e.skips),
            "{}",
            e.file
        );
        for doc in &docs {
            assert!(
                !doc.text.contains('\r'),
                "{}: CR left in {}",
                e.file,
                doc.id
            );
            assert!(
                !doc.text
                    .to_ascii_uppercase()
                    .contains("PROJECT GUTENBERG LICENSE"),
                "{}",
                e.file
            );
        }
        for (i, start, title) in e.starts {
            let doc = &docs[*i];
            assert!(
                doc.text.starts_with(start),
                "{} #{i} starts {:?}",
                e.file,
                &doc.text[..doc.text.len().min(120)]
            );
            assert_eq!(doc.title.as_deref(), *title, "{} #{i}", e.file);
        }
    }
}
