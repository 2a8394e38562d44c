//! Main text of an HTML page, for the WARC reader: script, style, navigation and boilerplate dropped,
//! paragraph structure kept as newlines.
//!
//! Method: `dom_smoothie`, a Rust port of Mozilla Readability (the Firefox reader view), parses the page with
//! html5ever (the WHATWG tree builder, so broken markup is repaired the way a browser repairs it), scores
//! block containers by text and link density and keeps the best one, then renders it with
//! `TextMode::Formatted`: one line per paragraph, heading and list item, blank lines between blocks. A
//! second pass over a copy of the same tree renders the whole `<body>` after removing scripts, styles and
//! page chrome (`nav`, `header`, `footer`, `aside`, forms, menus, embedded objects). The article wins unless
//! Readability found none, or kept less than a third of the body's text: then the page has no single
//! article (home pages, profiles, link lists, spam) and its visible text is the better document.
//!
//! How it compares:
//! - Common Crawl WET (ia-web-commons) keeps every text node of the page, menus and footers included; this
//!   keeps the article and drops the chrome, which is what GPT-3-style corpora want from HTML (on the
//!   bundled Wikipedia page: WET starts with "Ir al contenido / Menú principal", this with the article).
//! - Trafilatura (datatrove's default extractor, Python) combines readability-like scoring with
//!   jusText-style boilerplate rules; by its design it keeps more of an article's edges (captions,
//!   comments), where Readability returns the main block. Not yet compared on the same pages.
//! - A hand-written block walk over html5ever, scraper or tl would build faster but cannot tell which block
//!   is the content. `dom_smoothie` and `chardetng` add about 70 s of CPU (about 40 s wall on 2 cores) to a
//!   cold build at the workspace's dependency `opt-level = 1` (dom_query, selectors, cssparser, html5ever);
//!   reading costs about 30 MB/s of uncompressed WARC per core in release on the bundled samples.
//!
//! Hostile markup is bounded: nesting is estimated before parsing (html5ever and Readability both slow down
//! with the square of the depth) and a page nested thousands deep is a `too_deep` reject; a panic inside
//! the parser becomes an `extraction_failed` reject, never a crashed task.

use dom_smoothie::{Config, Readability, TextMode};

/// Elements that are never page text in the body pass: code, styling, embedded objects and chrome.
const NOT_TEXT: &str = "script, style, noscript, template, iframe, object, embed, svg, canvas, math, \
    nav, header, footer, aside, form, button, select, textarea, dialog, menu";

/// Readability's article is kept when it has at least 1/this of the body's text; less means it kept one
/// block of a page that has no single article (home pages, profiles, lists), and the body pass is better.
const MIN_ARTICLE_SHARE: usize = 3;

/// Pages with more elements than this skip Readability's scoring and keep the body pass.
const MAX_SCORED_ELEMENTS: usize = 50_000;

/// Pages nested deeper than this skip Readability's scoring, whose cost grows with the square of the depth
/// (about 40 ms at 500 levels, 2 s at 4000).
const MAX_SCORED_DEPTH: usize = 512;

/// Pages whose markup nests deeper than this (estimated before parsing) are not parsed at all: html5ever's
/// tree builder also grows with the square of the depth (0.7 s at 20 000 levels, 23 s at 100 000), and no
/// real page needs it.
const MAX_NESTING: usize = 8192;

/// Elements that do not nest in practice: void elements, elements the tree builder closes when a sibling
/// starts, formatting elements it caps, and the document skeleton.
const FLAT_ELEMENTS: [&str; 40] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead",
    "tbody", "tfoot", "rb", "rt", "rp", "a", "b", "i", "u", "s", "em", "strong", "font", "html",
    "head", "body",
];

/// Elements whose content is raw text, not markup.
const RAW_TEXT_ELEMENTS: [&str; 5] = ["script", "style", "textarea", "title", "xmp"];

/// The text and title of one page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageText {
    /// Visible main text, blocks separated by newlines.
    pub text: String,
    /// `<title>`, whitespace collapsed, when present and not empty.
    pub title: Option<String>,
    /// `readability` or `body` (the whole-body pass).
    pub method: &'static str,
}

/// Extracts the main text and title of an HTML page; `Err((reason, detail))` for a page nested too deep
/// to parse in bounded time (`too_deep`) or one that made the parser panic (`extraction_failed`).
pub(crate) fn extract(html: &str) -> Result<PageText, (&'static str, String)> {
    let nesting = nesting_estimate(html);
    if nesting > MAX_NESTING {
        return Err((
            "too_deep",
            format!("markup nests about {nesting} elements deep (limit {MAX_NESTING})"),
        ));
    }
    std::panic::catch_unwind(|| extract_unguarded(html)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        (
            "extraction_failed",
            format!("HTML parser panicked: {message}"),
        )
    })
}

/// The deepest element nesting the markup asks for, counted from start and end tags without building a
/// tree (elements in [`FLAT_ELEMENTS`] are not counted; comments and raw-text content are skipped).
fn nesting_estimate(html: &str) -> usize {
    let b = html.as_bytes();
    let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
    while let Some(p) = b[at..].iter().position(|&c| c == b'<').map(|p| at + p) {
        let rest = &b[p + 1..];
        if rest.starts_with(b"!--") {
            at = find_from(b, p + 4, b"-->").map_or(b.len(), |e| e + 3);
            continue;
        }
        let closing = rest.first() == Some(&b'/');
        let name_at = p + 1 + usize::from(closing);
        let len = b[name_at..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        at = name_at + len;
        if len == 0 {
            continue;
        }
        let name = html[name_at..at].to_ascii_lowercase();
        if !closing && RAW_TEXT_ELEMENTS.contains(&name.as_str()) {
            let end_tag = format!("</{name}");
            at = find_from(b, at, end_tag.as_bytes()).unwrap_or(b.len());
            continue;
        }
        if FLAT_ELEMENTS.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest
}

/// The first position of `needle` at or after `from`, ASCII case-insensitively.
fn find_from(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

/// The depth of the parsed tree (iterative: the tree may be deep).
fn tree_depth(root: &dom_smoothie::Readability) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(root.doc.root(), 0usize)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        let mut child = node.first_child();
        while let Some(c) = child {
            if c.is_element() {
                stack.push((c, depth + 1));
            }
            child = c.next_sibling();
        }
    }
    deepest
}

fn extract_unguarded(html: &str) -> PageText {
    let config = Config {
        text_mode: TextMode::Formatted,
        max_elements_to_parse: MAX_SCORED_ELEMENTS,
        ..Config::default()
    };
    let mut readability = Readability::from(html);
    readability.config = config;
    let title = readability
        .doc
        .select("title")
        .first()
        .text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let title = (!title.is_empty()).then_some(title);
    // Readability edits the tree it scores, so the body pass reads a copy (cheaper than parsing twice).
    let page = readability.doc.clone();
    page.select(NOT_TEXT).remove();
    let body = tidy(&match page.body() {
        Some(body) => body.formatted_text(),
        None => page.formatted_text(),
    });
    let article = if tree_depth(&readability) <= MAX_SCORED_DEPTH {
        readability
            .parse()
            .map(|a| tidy(&a.text_content))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let (text, method) = if !article.is_empty()
        && article.chars().count() * MIN_ARTICLE_SHARE >= body.chars().count()
    {
        (article, "readability")
    } else {
        (body, "body")
    };
    PageText {
        text,
        title,
        method,
    }
}

/// Trims each line, and keeps at most one blank line between blocks.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_keeps_paragraphs_and_drops_code_and_chrome() {
        let html = r#"<html><head><title> A
            title </title><style>p { color: red }</style></head><body>
            <nav><a href="/">Home</a> <a href="/about">About</a></nav>
            <article><h1>Heading</h1>
            <p>The first paragraph of the article is long enough to count as content for the scorer, and it
            goes on with more words, commas, and clauses, so that it reads like real prose.</p>
            <script>var hidden = "script text";</script>
            <p>The second paragraph follows, also with plenty of words, commas, and sentences. It talks about
            nothing in particular, but it does so at length, which is what the scorer rewards.</p>
            </article><footer>Copyright footer</footer></body></html>"#;
        let page = extract(html).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(page.title.as_deref(), Some("A title"));
        assert!(
            page.text.contains("The first paragraph of the article"),
            "{}",
            page.text
        );
        assert!(
            page.text.contains("\n\nThe second paragraph follows"),
            "{}",
            page.text
        );
        for gone in [
            "script text",
            "color: red",
            "Copyright footer",
            "About",
            "<p>",
        ] {
            assert!(!page.text.contains(gone), "{gone:?} in {}", page.text);
        }
    }

    #[test]
    fn list_items_are_lines_without_script_or_footer() {
        let html =
            "<body><ul><li>one</li><li>two</li></ul><script>x()</script><footer>f</footer></body>";
        let page = extract(html).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(page.text, "one\ntwo");
        assert_eq!(page.title, None);
    }

    #[test]
    fn broken_markup_is_repaired_not_fatal() {
        for html in [
            "<p>unclosed <b>bold <i>both</p> after",
            "</div></div><<>>&&;<!--",
            "",
        ] {
            let page = extract(html).unwrap_or_else(|e| panic!("{e:?}"));
            assert!(
                !page.text.contains('<') || html.contains("<<"),
                "{}",
                page.text
            );
        }
    }
}
