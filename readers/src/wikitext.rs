//! Wikitext to plain text for the `wikipedia-xml` reader: the running prose a reader sees on the rendered
//! page, with templates, references, tables, files, categories, interlanguage links, magic words and
//! comments removed, links replaced by their label, headings and list items kept as their own lines.
//!
//! Tokenising wikitext is left to `parse-wiki-text-2` (docs/ARCHITECTURE.md §10), which follows MediaWiki's own rules
//! for what is a link, a file, a category, an extension tag or a table; it is called through
//! `parse_without_timeout` because its default parse stops after a wall-clock budget, which would make the
//! output depend on the machine's speed. This file walks the node tree into blocks (paragraphs, headings,
//! list items, separated by a blank line; list items one per line) and tidies what removal leaves behind:
//! doubled spaces, a space before a comma, empty parentheses where a pronunciation template was.
//!
//! Templates are not expanded: that takes every template and Lua module page of the wiki (anywhere in the
//! dump, or in another file of it) and a MediaWiki-compatible expander, not a streaming reader. They are
//! dropped, except a short list of inline
//! formatting templates whose rendering is their own arguments (`{{lang|fr|déjà}}`, `{{convert|5|km}}`,
//! `{{nowrap|...}}`), which would otherwise leave holes in sentences; `<math>` formulas are kept as their
//! TeX source. Known gaps: every other template is removed (a sentence may lose a number or a name),
//! and interlanguage links are told by the shape of their prefix, not by the wiki's interwiki table.
//! Two quirks of the parser are worked around here: piped links' trails are emitted twice, and numeric
//! character references (`&#91;`) are left as text.
//!
//! Tables are dropped, not rendered as rows: a table's cells are labels and figures, not prose, and the
//! tables the parser takes as tables were dropped already, so every table is treated alike. The parser does not take every
//! table as one (an indented `:{|`, a table that never closes, a table inside a template left open, and
//! whatever else it falls back to text on), and what it does not take would reach the text as raw
//! `{| class=wikitable ... |- ! ...` rows. So tables are removed from the wikitext before parsing, the way
//! MediaWiki's `doTableStuff` finds them ([`drop_tables`]), and every text the parser hands back goes through
//! [`strip_leftover_markup`], which removes the template, link, reference and table syntax it failed to
//! parse. The output holds no `{{`, `}}`, `[[`, `]]`, `{|`, `|}`, `|-` or `<ref`, except inside what the
//! page shows as written: `<math>` TeX and `<nowiki>` text.

use std::borrow::Cow;
use std::fmt::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

use parse_wiki_text_2::{Configuration, ConfigurationSource, Node, Parameter};

/// Extension tags whose content is shown on the page and kept; every other extension tag (`ref`,
/// `references`, `math`, `gallery`, `timeline`, `score`, `syntaxhighlight`, `includeonly`, ...) is
/// dropped with its content.
const KEPT_EXTENSION_TAGS: [&str; 2] = ["noinclude", "onlyinclude"];
/// Kept extension tags whose line breaks are shown as they are.
const VERBATIM_EXTENSION_TAGS: [&str; 1] = ["poem"];
/// HTML tags MediaWiki allows that the parser does not know, so they reach us as text.
const STRAY_TAGS: [&str; 2] = ["big", "font"];

/// HTML tags that start a new block (MediaWiki renders them as block elements).
const BLOCK_TAGS: [&str; 20] = [
    "blockquote",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "table",
    "td",
    "tr",
    "ul",
];

/// Extension tags of Wikimedia wikis: parsed as opaque tags so their content is not read as prose.
const EXTENSION_TAGS: [&str; 29] = [
    "categorytree",
    "ce",
    "charinsert",
    "chem",
    "gallery",
    "graph",
    "hiero",
    "imagemap",
    "includeonly",
    "indicator",
    "inputbox",
    "mapframe",
    "maplink",
    "math",
    "nowiki",
    "onlyinclude",
    "poem",
    "ref",
    "references",
    "score",
    "section",
    "source",
    "syntaxhighlight",
    "templatedata",
    "templatestyles",
    "timeline",
    "noinclude",
    "langconvert",
    "rss",
];

/// Behaviour switches (`__NOTOC__`) removed from the text.
const MAGIC_WORDS: [&str; 18] = [
    "DISAMBIG",
    "EXPECTUNUSEDCATEGORY",
    "FORCETOC",
    "HIDDENCAT",
    "INDEX",
    "NEWSECTIONLINK",
    "NOCC",
    "NOCONTENTCONVERT",
    "NOEDITSECTION",
    "NOGALLERY",
    "NOGLOBAL",
    "NOINDEX",
    "NONEWSECTIONLINK",
    "NOTC",
    "NOTITLECONVERT",
    "NOTOC",
    "STATICREDIRECT",
    "TOC",
];

/// URL schemes MediaWiki turns into external links (`$wgUrlProtocols`).
const PROTOCOLS: [&str; 27] = [
    "//",
    "bitcoin:",
    "ftp://",
    "ftps://",
    "geo:",
    "git://",
    "gopher://",
    "http://",
    "https://",
    "irc://",
    "ircs://",
    "magnet:",
    "mailto:",
    "matrix:",
    "mms://",
    "news:",
    "nntp://",
    "redis://",
    "sftp://",
    "sip:",
    "sips:",
    "sms:",
    "ssh://",
    "svn://",
    "tel:",
    "telnet://",
    "urn:",
];

/// Converts the wikitext of one wiki's pages to plain text. Build one per input file (it holds the parser
/// configuration, whose namespace names come from the dump's `<siteinfo>`) and reuse it for every page.
pub struct WikitextConverter {
    config: Configuration,
}

impl WikitextConverter {
    /// A converter that recognises files and categories under their English canonical names
    /// (`File:`, `Image:`, `Category:`) and under the localised names given, e.g. `Datei` and `Kategorie`
    /// from a German dump's `<namespace key="6">` and `<namespace key="14">`.
    pub fn new(file_namespaces: &[String], category_namespaces: &[String]) -> Self {
        let mut files: Vec<String> = vec!["file".into(), "image".into(), "media".into()];
        files.extend(file_namespaces.iter().map(|n| n.to_lowercase()));
        let mut categories: Vec<String> = vec!["category".into()];
        categories.extend(category_namespaces.iter().map(|n| n.to_lowercase()));
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let categories: Vec<&str> = categories.iter().map(String::as_str).collect();
        let config = Configuration::new(&ConfigurationSource {
            category_namespaces: &categories,
            extension_tags: &EXTENSION_TAGS,
            file_namespaces: &files,
            link_trail: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            magic_words: &MAGIC_WORDS,
            protocols: &PROTOCOLS,
            redirect_magic_words: &["REDIRECT"],
        });
        WikitextConverter { config }
    }

    /// The plain text of a page's wikitext; `Err` with a message when the parser failed on it. Blocks are
    /// separated by a blank line, except consecutive list items, which are one per line; headings whose
    /// section ends up empty (`References` holding only `{{reflist}}`) are dropped.
    pub fn to_text(&self, wikitext: &str) -> Result<String, String> {
        // The parser indexes into the text in many places; a bug there must cost one page, not the task.
        let unwrapped = unwrap_plain_text_tags(wikitext);
        let wikitext = drop_tables(&unwrapped);
        let wikitext = wikitext.as_ref();
        let converted = catch_unwind(AssertUnwindSafe(|| {
            let output = match self.config.parse_without_timeout(wikitext) {
                Ok(output) => output,
                Err(parse_wiki_text_2::ParseError::TimedOut { output, .. }) => output,
            };
            let mut renderer = Renderer::new(&self.config, wikitext);
            renderer.nodes(&output.nodes);
            renderer.finish()
        }));
        converted.map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            format!("wikitext parser failed: {message}")
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Paragraph,
    Heading(u8),
    ListItem,
}

struct Block {
    kind: BlockKind,
    text: String,
}

/// Walks the node tree, collecting inline text into the current block.
struct Renderer<'w> {
    config: &'w Configuration,
    wikitext: &'w str,
    blocks: Vec<Block>,
    inline: String,
    list_depth: usize,
    keep_newlines: usize,
}

impl<'w> Renderer<'w> {
    fn new(config: &'w Configuration, wikitext: &'w str) -> Self {
        Renderer {
            config,
            wikitext,
            blocks: Vec::new(),
            inline: String::new(),
            list_depth: 0,
            keep_newlines: 0,
        }
    }

    /// Each item of a bulleted, numbered or definition list becomes its own line.
    fn list_items<'n>(&mut self, items: impl Iterator<Item = &'n [Node<'n>]>) {
        self.end_block();
        self.list_depth += 1;
        for item in items {
            self.nodes(item);
            self.end_block();
        }
        self.list_depth -= 1;
    }

    fn nodes(&mut self, nodes: &[Node]) {
        let mut link_end = 0;
        for node in nodes {
            match node {
                // parse-wiki-text-2 0.2 gives a piped link's trail (`[[a|b]]s`) to the link and again to
                // the text after it; the copy is the part of that text before the link's end.
                Node::Text { value, start, .. } if *start < link_end => {
                    self.text(value.get(link_end - start..).unwrap_or(value));
                }
                _ => self.node(node),
            }
            link_end = match node {
                Node::Link { end, .. } => *end,
                _ => 0,
            };
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Text { value, .. } => self.text(value),
            Node::CharacterEntity { character, .. } => self.inline.push(*character),
            Node::Link {
                target,
                text,
                start,
                end,
            } => self.link(target, text, *start, *end),
            Node::ExternalLink { nodes, .. } => self.external_link(nodes),
            Node::Heading { level, nodes, .. } => {
                self.end_block();
                self.nodes(nodes);
                self.push_block(BlockKind::Heading(*level));
            }
            Node::UnorderedList { items, .. } | Node::OrderedList { items, .. } => {
                self.list_items(items.iter().map(|item| item.nodes.as_slice()));
            }
            Node::DefinitionList { items, .. } => {
                self.list_items(items.iter().map(|item| item.nodes.as_slice()));
            }
            Node::Preformatted { nodes, .. } => {
                self.end_block();
                self.keep_newlines += 1;
                self.nodes(nodes);
                self.keep_newlines -= 1;
                self.end_block();
            }
            Node::Tag { name, nodes, .. } => {
                if KEPT_EXTENSION_TAGS.contains(&name.as_ref()) {
                    self.nodes(nodes);
                } else if VERBATIM_EXTENSION_TAGS.contains(&name.as_ref()) {
                    self.keep_newlines += 1;
                    self.nodes(nodes);
                    self.keep_newlines -= 1;
                }
            }
            Node::StartTag { name, .. } | Node::EndTag { name, .. } => {
                if name == "br" {
                    self.inline.push('\n');
                } else if BLOCK_TAGS.contains(&name.as_ref()) {
                    self.end_block();
                }
            }
            Node::ParagraphBreak { .. } | Node::HorizontalDivider { .. } | Node::Table { .. } => {
                self.end_block()
            }
            Node::Template {
                name,
                parameters,
                start,
                end,
            } => self.template(name, parameters, *start, *end),
            // A file alone on its line is a block (a thumbnail): the text before and after it belongs to
            // different paragraphs.
            Node::Image { start, end, .. } => {
                if self.alone_on_line(*start, *end) {
                    self.end_block();
                }
            }
            Node::Bold { .. }
            | Node::Italic { .. }
            | Node::BoldItalic { .. }
            | Node::Category { .. }
            | Node::Comment { .. }
            | Node::MagicWord { .. }
            | Node::Parameter { .. }
            | Node::Redirect { .. } => {}
        }
    }

    fn text(&mut self, value: &str) {
        // The parser resolves named entities (`&nbsp;`) but leaves numeric ones (`&#91;`), the tags it
        // does not know (`<big>`) and the markup it could not parse in the text. That markup is removed
        // before the references are decoded: `<math>` and `<nowiki>` content is still written as
        // references then, so its braces and brackets are kept.
        let stripped = strip_stray_tags(value);
        let swept = strip_leftover_markup(&stripped);
        let value = decode_numeric_references(&swept);
        if self.keep_newlines > 0 {
            self.inline.push_str(&value);
        } else {
            // MediaWiki joins the lines of a paragraph with a space.
            self.inline
                .extend(value.chars().map(|c| if c == '\n' { ' ' } else { c }));
        }
    }

    fn link(&mut self, target: &str, text: &[Node], start: usize, end: usize) {
        // The parser appends a link trail (`[[dog]]s`) to the label as a last text node that ends
        // where the link does; a label typed inside the brackets always ends before `]]`.
        let (label, trail) = match text.split_last() {
            Some((Node::Text { end: e, value, .. }, rest)) if *e == end => (rest, *value),
            _ => (text, ""),
        };
        // Without a `|`, the label is the target as typed, starting right after `[[`.
        let unpiped = match label {
            [Node::Text { start: s, .. }] => self
                .wikitext
                .get(start..*s)
                .is_some_and(|open| open.trim_end() == "[["),
            _ => false,
        };
        if label.is_empty() || unpiped {
            if trail.is_empty() && is_interlanguage(target) {
                return;
            }
            let shown = target.strip_prefix(':').unwrap_or(target).trim();
            if shown.contains('&') {
                // A target is not parsed for entities (`[[35&nbsp;mm film]]`): parse it as text.
                let output = match self.config.parse_without_timeout(shown) {
                    Ok(output) => output,
                    Err(parse_wiki_text_2::ParseError::TimedOut { output, .. }) => output,
                };
                self.text(&plain(&output.nodes));
            } else {
                self.text(shown);
            }
        } else {
            self.nodes(label);
        }
        self.inline.push_str(trail);
    }

    /// `[https://example.org label]` shows the label; a bare `[https://example.org]` shows as a footnote
    /// number on the page, which is dropped.
    fn external_link(&mut self, nodes: &[Node]) {
        let mut in_label = false;
        for node in nodes {
            if in_label {
                self.node(node);
            } else if let Node::Text { value, .. } = node
                && let Some(space) = value.find(char::is_whitespace)
            {
                in_label = true;
                self.text(&value[space..]);
            }
        }
    }

    /// Templates are dropped, except the few inline ones whose rendering is their own arguments
    /// (`{{lang|fr|text}}`, `{{convert|5|km}}`), which would otherwise leave holes in sentences.
    fn template(&mut self, name: &[Node], parameters: &[Parameter], start: usize, end: usize) {
        let name = template_name(name);
        let positional: Vec<&[Node]> = parameters
            .iter()
            .filter(|p| p.name.is_none())
            .map(|p| p.value.as_slice())
            .collect();
        let named = |key: &str| {
            parameters
                .iter()
                .find(|p| p.name.as_deref().is_some_and(|n| plain(n).trim() == key))
                .map(|p| p.value.as_slice())
        };
        match name.as_str() {
            "abbr" | "big" | "em" | "flag" | "ipa" | "math" | "mvar" | "nobr" | "nobreak"
            | "not a typo" | "nowrap" | "small" | "smaller" | "strong" | "vanchor"
            | "visible anchor" => {
                if let Some(first) = positional.first() {
                    self.nodes(first);
                }
            }
            "lang" | "transl" | "transliteration" => {
                if positional.len() >= 2
                    && let Some(last) = positional.last()
                {
                    self.nodes(last);
                }
            }
            n if n.starts_with("lang-") => {
                if let Some(first) = positional.first() {
                    self.nodes(first);
                }
            }
            "nihongo" => {
                let mut parts = positional.iter().filter(|p| !plain(p).trim().is_empty());
                if let Some(english) = parts.next() {
                    self.nodes(english);
                    let rest: Vec<_> = parts.take(2).collect();
                    if !rest.is_empty() {
                        self.inline.push_str(" (");
                        for (i, part) in rest.iter().enumerate() {
                            if i > 0 {
                                self.inline.push_str(", ");
                            }
                            self.nodes(part);
                        }
                        self.inline.push(')');
                    }
                }
            }
            "convert" | "cvt" => {
                let values: Vec<String> = positional
                    .iter()
                    .map(|p| plain(p).trim().to_string())
                    .collect();
                self.inline.push_str(&convert(&values));
            }
            "frac" => {
                let values: Vec<String> = positional
                    .iter()
                    .map(|p| plain(p).trim().to_string())
                    .collect();
                match values.as_slice() {
                    [whole, num, den, ..] => self.inline.push_str(&format!("{whole} {num}/{den}")),
                    [num, den] => self.inline.push_str(&format!("{num}/{den}")),
                    _ => {}
                }
            }
            "as of" => {
                let values: Vec<String> = positional
                    .iter()
                    .map(|p| plain(p).trim().to_string())
                    .collect();
                if let Some(year) = values.first() {
                    let month = values
                        .get(1)
                        .and_then(|m| m.parse::<usize>().ok())
                        .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
                    match month {
                        Some(month) => self.inline.push_str(&format!("As of {month} {year}")),
                        None => self.inline.push_str(&format!("As of {year}")),
                    }
                }
            }
            "quote" | "blockquote" | "cquote" | "quotation" => {
                let text = named("text")
                    .or_else(|| named("quote"))
                    .or_else(|| positional.first().copied());
                if let Some(text) = text {
                    self.end_block();
                    self.nodes(text);
                    self.end_block();
                }
            }
            n if n.starts_with("formatnum:") => self
                .inline
                .push_str(&format_number(n["formatnum:".len()..].trim())),
            "ndash" | "en dash" => self.inline.push('–'),
            "mdash" | "em dash" => self.inline.push('—'),
            "snd" | "spaced ndash" | "spnd" => self.inline.push_str(" – "),
            "'" => self.inline.push('\''),
            "nbsp" => self.inline.push(' '),
            "pipe" | "!" => self.inline.push('|'),
            "=" => self.inline.push('='),
            "middot" | "dot" => self.inline.push('·'),
            // A template alone on its line is a block (an infobox, a navigation box): the text before and
            // after it belongs to different paragraphs.
            _ => {
                if self.alone_on_line(start, end) {
                    self.end_block();
                }
            }
        }
    }

    fn alone_on_line(&self, start: usize, end: usize) -> bool {
        let before = self.wikitext.get(..start).unwrap_or("x");
        let after = self.wikitext.get(end..).unwrap_or("x");
        (before.is_empty() || before.ends_with('\n'))
            && (after.is_empty() || after.starts_with('\n'))
    }

    fn end_block(&mut self) {
        let kind = if self.list_depth > 0 {
            BlockKind::ListItem
        } else {
            BlockKind::Paragraph
        };
        self.push_block(kind);
    }

    fn push_block(&mut self, kind: BlockKind) {
        let text = tidy(&self.inline);
        self.inline.clear();
        if !text.is_empty() {
            self.blocks.push(Block { kind, text });
        }
    }

    fn finish(mut self) -> String {
        self.end_block();
        let blocks = &self.blocks;
        let mut out = String::new();
        let mut previous = None;
        for (i, block) in blocks.iter().enumerate() {
            if let BlockKind::Heading(level) = block.kind
                && !section_has_content(blocks, i, level)
            {
                continue;
            }
            if let Some(previous) = previous {
                let same_list =
                    previous == BlockKind::ListItem && block.kind == BlockKind::ListItem;
                out.push_str(if same_list { "\n" } else { "\n\n" });
            }
            out.push_str(&block.text);
            previous = Some(block.kind);
        }
        out
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Unit symbols for `{{convert}}` codes (the common ones; others are shown as written).
const UNITS: [(&str, &str); 24] = [
    ("acre", "acres"),
    ("C", "°C"),
    ("cm", "cm"),
    ("e6acre", "million acres"),
    ("F", "°F"),
    ("ft", "ft"),
    ("ha", "ha"),
    ("in", "in"),
    ("kg", "kg"),
    ("km", "km"),
    ("km/h", "km/h"),
    ("km2", "km²"),
    ("L", "L"),
    ("lb", "lb"),
    ("m", "m"),
    ("m2", "m²"),
    ("mi", "mi"),
    ("mm", "mm"),
    ("mph", "mph"),
    ("sqft", "sq ft"),
    ("sqkm", "km²"),
    ("sqmi", "sq mi"),
    ("t", "t"),
    ("yd", "yd"),
];

/// Words that make `{{convert|5|to|10|km}}` a range (also written `and(-)`, `to(-)`).
const RANGE_WORDS: [&str; 9] = ["to", "-", "–", "and", "or", "by", "x", "×", "+/-"];

/// `{{convert|1300|mi|km}}` as its first half reads: `1,300 mi`; ranges (`5 to 10 km`) and
/// feet-and-inches (`6 ft 4 in`) included.
fn convert(values: &[String]) -> String {
    let unit = |code: &str| {
        UNITS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(code.to_string(), |(_, symbol)| symbol.to_string())
    };
    match values {
        [a, word, b, code, ..] if RANGE_WORDS.contains(&word.trim_end_matches("(-)")) => {
            let word = word.trim_end_matches("(-)");
            format!(
                "{} {word} {} {}",
                format_number(a),
                format_number(b),
                unit(code)
            )
        }
        [feet, ft, inches, inch, ..] if ft == "ft" && inch == "in" => {
            format!("{feet} ft {inches} in")
        }
        [a, code, ..] => format!("{} {}", format_number(a), unit(code)),
        _ => String::new(),
    }
}

/// `52419` → `52,419`, as MediaWiki's `formatnum` and `{{convert}}` show it; anything else unchanged.
fn format_number(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (integer, fraction) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    if integer.len() <= 3 || !integer.bytes().all(|b| b.is_ascii_digit()) {
        return number.to_string();
    }
    let mut out = String::from(sign);
    for (i, c) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A template's name as typed, trimmed and lowercased, `_` read as a space.
fn template_name(name: &[Node]) -> String {
    plain(name).trim().replace('_', " ").to_lowercase()
}

/// The literal text of nodes (text and character entities only).
fn plain(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text { value, .. } => out.push_str(value),
            Node::CharacterEntity { character, .. } => out.push(*character),
            _ => {}
        }
    }
    out
}

/// True when a heading has a non-heading block before the next heading of the same or a higher level.
fn section_has_content(blocks: &[Block], heading: usize, level: u8) -> bool {
    for block in &blocks[heading + 1..] {
        match block.kind {
            BlockKind::Heading(l) if l <= level => return false,
            BlockKind::Heading(_) => {}
            _ => return true,
        }
    }
    false
}

/// Interlanguage links (`[[de:Anarchismus]]`) are shown in the sidebar, not in the text. They are told
/// from other prefixed links by the shape of a Wikipedia language code: two or three lowercase letters,
/// or lowercase words joined by hyphens (`zh-yue`, `be-x-old`), or `simple`. A prefixed link written with
/// a leading colon (`[[:de:Anarchismus]]`) is an inline link and never reaches here as one.
fn is_interlanguage(target: &str) -> bool {
    let Some((prefix, rest)) = target.split_once(':') else {
        return false;
    };
    if rest.is_empty() || prefix.starts_with('-') || prefix.ends_with('-') {
        return false;
    }
    let lower = prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    lower && ((2..=3).contains(&prefix.len()) || prefix.contains('-') || prefix == "simple")
}

/// Replaces `<math>` and `<nowiki>` elements by their content, its punctuation written as character
/// references so that it is not read as markup. parse-wiki-text-2 0.2 reads these two tags' content raw
/// but loses the text before them (`the equation <math>x</math> holds` parses as `holds`); after this pass
/// it never meets them, and [`decode_numeric_references`] turns the content back into the literal text.
/// Formulas so stay in the text as their TeX source (`where A is the albedo`), the closest plain-text form
/// of what the page shows.
fn unwrap_plain_text_tags(wikitext: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'<', &wikitext.as_bytes()[from..]) {
        let at = from + i;
        from = at + 1;
        let rest = &wikitext[at + 1..];
        let Some(name) = ["math", "nowiki"].into_iter().find(|name| {
            rest.get(..name.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                && rest[name.len()..].starts_with([' ', '\t', '\n', '>', '/'])
        }) else {
            continue;
        };
        let Some(gt) = rest.find('>') else {
            break;
        };
        let open_end = at + 1 + gt + 1;
        let (content, end) = if rest[..gt].trim_end().ends_with('/') {
            ("", open_end)
        } else {
            let close = format!("</{name}");
            let Some(close_at) = find_ignore_case(&wikitext[open_end..], &close) else {
                continue;
            };
            let close_at = open_end + close_at;
            let Some(close_gt) = wikitext[close_at..].find('>') else {
                continue;
            };
            (&wikitext[open_end..close_at], close_at + close_gt + 1)
        };
        out.push_str(&wikitext[copied..at]);
        for c in content.chars() {
            if c.is_ascii_punctuation() {
                let _ = write!(out, "&#{};", u32::from(c));
            } else {
                out.push(c);
            }
        }
        copied = end;
        from = end;
    }
    if copied == 0 {
        return wikitext.into();
    }
    out.push_str(&wikitext[copied..]);
    out.into()
}

/// Elements whose lines are not wikitext: code blocks and comments, where a `{|` line is no table.
const VERBATIM_SPANS: [(&str, &str); 4] = [
    ("<!--", "-->"),
    ("<pre", "</pre"),
    ("<source", "</source"),
    ("<syntaxhighlight", "</syntaxhighlight"),
];

/// Removes every table from the wikitext, each replaced by the blank line (a paragraph break) the rendered
/// table stands for. Tables are found as MediaWiki's `doTableStuff` finds them: one opens on a line that,
/// after leading whitespace and indentation colons, starts with `{|`; it closes on a line starting with
/// `|}`, whose rest is outside the table and kept (`|}}}` closing a template); tables nest. A table that
/// never closes runs to the end of the page in MediaWiki; here it ends at the next section heading, so that
/// a lost `|}` costs the rest of its section, not of the page. Lines inside comments and code blocks
/// ([`VERBATIM_SPANS`]) are not table lines.
fn drop_tables(wikitext: &str) -> Cow<'_, str> {
    if !wikitext.contains("{|") {
        return wikitext.into();
    }
    let lines: Vec<&str> = wikitext.split('\n').collect();
    let verbatim = verbatim_lines(&lines);
    let opens = |i: usize| {
        let text = lines[i].trim_start().trim_start_matches(':').trim_start();
        !verbatim[i] && text.starts_with("{|")
    };
    let closes = |i: usize| !verbatim[i] && lines[i].trim_start().starts_with("|}");
    // Each table's closing line: a `|}` closes the innermost open table.
    let mut closing = vec![None; lines.len()];
    let mut open = Vec::new();
    for i in 0..lines.len() {
        if opens(i) {
            open.push(i);
        } else if closes(i)
            && let Some(start) = open.pop()
        {
            closing[start] = Some(i);
        }
    }
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if !opens(i) {
            out.push(lines[i]);
            i += 1;
            continue;
        }
        out.push("");
        match closing[i] {
            Some(end) => {
                let rest = &lines[end].trim_start()["|}".len()..];
                if !rest.trim().is_empty() {
                    out.push(rest);
                }
                i = end + 1;
            }
            None => {
                i = (i + 1..lines.len())
                    .find(|&k| is_heading(lines[k]))
                    .unwrap_or(lines.len());
            }
        }
    }
    out.join("\n").into()
}

/// A section heading line: `== Title ==`.
fn is_heading(line: &str) -> bool {
    let line = line.trim_end();
    line.len() >= 3 && line.starts_with('=') && line.ends_with('=')
}

/// For each line, whether it starts inside a comment or code block ([`VERBATIM_SPANS`]).
fn verbatim_lines(lines: &[&str]) -> Vec<bool> {
    let mut inside: Option<&str> = None;
    lines
        .iter()
        .map(|line| {
            let starts_inside = inside.is_some();
            let lower = line.to_ascii_lowercase();
            let mut rest = lower.as_str();
            loop {
                match inside {
                    Some(close) => match rest.find(close) {
                        Some(at) => {
                            rest = &rest[at + close.len()..];
                            inside = None;
                        }
                        None => break,
                    },
                    None => {
                        let next = VERBATIM_SPANS
                            .iter()
                            .filter_map(|(open, close)| {
                                rest.find(open).map(|at| (at, *open, *close))
                            })
                            .min_by_key(|(at, ..)| *at);
                        let Some((at, open, close)) = next else {
                            break;
                        };
                        rest = &rest[at + open.len()..];
                        let self_closing = open != "<!--"
                            && rest.split('>').next().is_some_and(|tag| tag.ends_with('/'));
                        if !self_closing {
                            inside = Some(close);
                        }
                    }
                }
            }
            starts_inside
        })
        .collect()
}

/// Removes the markup the parser left as text (it falls back to text on what it cannot parse): a
/// reference (`<ref>` to `</ref>`, or to the end of its line when unclosed) and the `<references />` tag,
/// a template (`{{` to its matching `}}`, or to the end of its line when unclosed, so that an unclosed
/// `{{` costs one line, not the rest of the page), a link written out (`[[target|label]]` becomes its
/// label), and stray `}}`, `[[`, `]]`, `{|`, `|}` and `|-`.
fn strip_leftover_markup(text: &str) -> Cow<'_, str> {
    const STRAY: [&str; 6] = ["}}", "[[", "]]", "{|", "|}", "|-"];
    if !text
        .bytes()
        .any(|b| matches!(b, b'<' | b'{' | b'}' | b'[' | b']' | b'|'))
    {
        return text.into();
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let rest = &text[at..];
        let lower_rest = &lower[at..];
        if lower_rest.starts_with("<ref") || lower_rest.starts_with("</ref") {
            let tag_end = rest.find('>').map_or(text.len(), |gt| at + gt + 1);
            let opens_element = lower_rest.starts_with("<ref")
                && lower_rest[4..].starts_with([' ', '\t', '\n', '>'])
                && !text[..tag_end].ends_with("/>");
            at = if opens_element {
                lower[tag_end..]
                    .find("</ref")
                    .and_then(|close| {
                        let close = tag_end + close;
                        lower[close..].find('>').map(|gt| close + gt + 1)
                    })
                    .unwrap_or_else(|| line_end(text, at))
            } else {
                tag_end
            };
        } else if rest.starts_with("{{") {
            at = template_end(text, at).unwrap_or_else(|| line_end(text, at));
        } else if rest.starts_with("[[")
            && let Some(close) = rest[2..].find("]]")
        {
            let inner = &rest[2..2 + close];
            let label = inner.rsplit('|').next().unwrap_or(inner);
            out.push_str(&strip_leftover_markup(label));
            at += 2 + close + 2;
        } else if STRAY.iter().any(|t| rest.starts_with(t)) {
            at += 2;
        } else {
            out.push(c);
            at += c.len_utf8();
        }
    }
    out.into()
}

/// Where the line that `at` is on ends (at its `\n`, or the end of the text).
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i)
}

/// The end of the template that starts at `start` (just after its matching `}}`), nested ones counted.
fn template_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match &bytes[i..i + 2] {
            b"{{" => {
                depth += 1;
                i += 2;
            }
            b"}}" => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `&#91;` and `&#x5D;` resolved; invalid references are left as they are.
fn decode_numeric_references(text: &str) -> Cow<'_, str> {
    if !text.contains("&#") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let decoded = after.split_once(';').and_then(|(number, tail)| {
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            Some((char::from_u32(code).filter(|c| *c != '\0')?, tail))
        });
        match decoded {
            Some((c, tail)) => {
                out.push(c);
                rest = tail;
            }
            None => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.into()
}

/// Removes `<big>`, `</font>`, `<font color="red">` and the like (see [`STRAY_TAGS`]).
fn strip_stray_tags(text: &str) -> Cow<'_, str> {
    if !text.contains('<') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let tag = &rest[at + 1..];
        let name_start = tag.strip_prefix('/').unwrap_or(tag);
        let name_len = name_start
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let name = name_start[..name_len].to_ascii_lowercase();
        let close = name_start[name_len..].find('>');
        let stray = STRAY_TAGS.contains(&name.as_str())
            && name_start[name_len..].starts_with([' ', '>', '/'])
            && close.is_some();
        match close {
            Some(close) if stray => {
                let tag_len = (tag.len() - name_start.len()) + name_len + close + 1;
                rest = &tag[tag_len..];
            }
            _ => {
                out.push('<');
                rest = tag;
            }
        }
    }
    out.push_str(rest);
    out.into()
}

/// Tidies one block's inline text: whitespace runs collapsed, lines trimmed, and the marks removal leaves
/// behind repaired (`word , next` → `word, next`, `Albedo () is` → `Albedo is`, `( ; born` → `(born`).
fn tidy(inline: &str) -> String {
    let mut out = String::with_capacity(inline.len());
    for line in inline.split('\n') {
        let line = tidy_line(line);
        if !line.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&line);
        }
    }
    out
}

fn tidy_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line
        .split_whitespace()
        .flat_map(|w| std::iter::once(' ').chain(w.chars()));
    // Skip the leading space the word joiner adds.
    chars.next();
    let mut pending_space = false;
    let mut iter = chars.peekable();
    while let Some(c) = iter.next() {
        if c == ' ' {
            pending_space = true;
            continue;
        }
        let next = iter.peek().copied();
        let closes = matches!(c, ',' | '.' | ';' | ':' | '!' | '?' | ')')
            && next
                .is_none_or(|n| n == ' ' || matches!(n, '"' | '\'' | ')' | ']' | ',' | '.' | ';'));
        if pending_space && !closes && !out.is_empty() && !out.ends_with('(') {
            out.push(' ');
        }
        pending_space = false;
        if c == ')'
            && let Some(open) = empty_parenthesis_start(&out)
        {
            out.truncate(open);
            while out.ends_with(' ') {
                out.pop();
            }
            continue;
        }
        // A clause whose subject was a removed template: `(, born` and a line starting `, also`.
        if matches!(c, ',' | ';') && (out.is_empty() || out.ends_with('(')) {
            pending_space = false;
            continue;
        }
        out.push(c);
    }
    out
}

/// Where the `(` of an open parenthesis holding only punctuation and spaces starts, when `out` ends in one.
fn empty_parenthesis_start(out: &str) -> Option<usize> {
    let open = out.rfind('(')?;
    out[open + 1..]
        .chars()
        .all(|c| matches!(c, ' ' | ',' | ';' | ':' | '.'))
        .then_some(open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(wikitext: &str) -> String {
        WikitextConverter::new(&["Datei".to_string()], &["Kategorie".to_string()])
            .to_text(wikitext)
            .unwrap_or_else(|e| e)
    }

    #[test]
    fn markup_is_removed_and_structure_kept() {
        let wikitext = "{{Infobox person|name=Ada|birth_date={{birth date|1815|12|10}}}}\n\
            '''Ada''' ''Lovelace'' ({{IPAc-en|ˈ|l|ʌ|v|l|eɪ|s}}; 1815–1852) was an [[England|English]] \
            [[mathematician]]s and [[poet|poet]]s.<ref name=\"a\">{{cite web|url=http://x.org|title=T}}</ref> She wrote \
            [http://example.org the ''notes''] and [http://example.org/bare].<!-- hidden --> __NOTOC__\n\
            It was {{convert|5200|km|mi}} long, {{convert|2|and(-)|3|mi}} wide.{{citation needed|date=May 2020}}<ref>Note.</ref>\n\
            \n\
            == Life ==\n\
            [[File:Ada.jpg|thumb|Ada in 1840]]\n\
            Text &amp; more&nbsp;text &#91;1&#93; {{lang|fr|déjà}} <math>x^2</math>. So <math display=\"block\">y</math> \
            is <nowiki>[[not a link]]</nowiki> and<nowiki/> <MATH>z</math>\n\
            {| class=\"wikitable\"\n|-\n| cell || cell2\n|}\n\
            * First [[item]]\n\
            ** Nested [[:de:Ding|item]]\n\
            # Numbered\n\
            ; Term\n\
            : Definition\n\
            \n\
            == References ==\n\
            {{reflist}}\n\
            \n\
            [[Category:Mathematicians]]\n\
            [[Kategorie:Mathematiker]]\n\
            [[Datei:Ada.jpg]]\n\
            [[de:Ada Lovelace]]\n\
            [[zh-yue:Ada]]";
        assert_eq!(
            text(wikitext),
            "Ada Lovelace (1815–1852) was an English mathematicians and poets. She wrote the notes and. \
             It was 5,200 km long, 2 and 3 mi wide.\n\
             \n\
             Life\n\
             \n\
             Text & more text [1] déjà x^2. So y is [[not a link]] and z\n\
             \n\
             First item\n\
             Nested item\n\
             Numbered\n\
             Term\n\
             Definition"
        );
    }

    #[test]
    fn tidying_repairs_what_removal_leaves() {
        assert_eq!(tidy_line("  a  ,  b ( ; c )  () d ."), "a, b (c) d.");
        assert_eq!(tidy_line(", also published"), "also published");
        assert_eq!(tidy_line("the .NET framework"), "the .NET framework");
        assert_eq!(format_number("52419"), "52,419");
        assert_eq!(format_number("-1234567.5"), "-1,234,567.5");
        assert_eq!(format_number("12a45"), "12a45");
        assert_eq!(
            decode_numeric_references("&#91;a&#x5D; &#zz; &#0;"),
            "[a] &#zz; &#0;"
        );
        assert_eq!(
            strip_stray_tags("<big>ª</big> <bigger> a<b"),
            "ª <bigger> a<b"
        );
        assert!(is_interlanguage("de:Ada") && is_interlanguage("be-x-old:Ada"));
        assert!(!is_interlanguage("Wikipedia:Ada") && !is_interlanguage("wikt:ada"));
    }

    #[test]
    fn tables_the_parser_misses_are_dropped() {
        // Indented with `:` (the parser leaves it as text), a `!`-separated header row with spans, nested.
        assert_eq!(
            text(
                "Cast.\n:{| class=\"wikitable\"\n|-\n! colspan=\"2\" ! colspan=\"1\" rowspan=\"2\"|Actor !! Role\n\
                 |-\n| [[Tom]] ||\n{| class=\"x\"\n| inner\n|}\n|}\nAfter."
            ),
            "Cast.\n\nAfter."
        );
        // Never closed: it ends at the next heading, the rest of its section with it.
        assert_eq!(
            text(
                "Intro.\n{| class=\"wikitable\"\n! A !! B\n|-\n| 1 || 2\nlost\n== Later ==\nKept."
            ),
            "Intro.\n\nLater\n\nKept."
        );
        assert_eq!(text("Intro.\n  {|\n| a || b"), "Intro.");
        // What follows `|}` on its line closes the template around the table.
        assert_eq!(
            text("A.\n{{Infobox\n| cast =\n{| class=\"wikitable\"\n| x || y\n|}}}\nB."),
            "A.\n\nB."
        );
        // A `{|` line in a comment or a code block is no table.
        assert_eq!(
            text(
                "A.\n<!--\n{| old table\n-->\nB.\n<syntaxhighlight lang=\"text\">\n{|\n</syntaxhighlight>\nC."
            ),
            "A. B. C."
        );
        // Markup left as text: an unclosed reference, template and link, stray closers.
        assert_eq!(
            text("Sold.<ref>{{cite|x}} Note\n\nSee [[a|b]] more ]] and }} and |} here."),
            "Sold. Note\n\nSee b more and and here."
        );
        assert_eq!(
            strip_leftover_markup(
                "a [[x|[[y|z]]]] {{t|{{u}}}} b <REF name=c/> <ref>d</ref>e {{f|g\nh <ref>i\nj"
            ),
            "a z  b  e \nh \nj"
        );
        // `<math>` and `<nowiki>` content is shown as written.
        assert_eq!(
            text("<math>{{a} \\over b}</math> and <nowiki>{{b}}</nowiki>"),
            "{{a} \\over b} and {{b}}"
        );
    }

    #[test]
    fn headings_of_empty_sections_go() {
        assert_eq!(
            text("Intro.\n== A ==\n=== A1 ===\nBody.\n== B ==\n{{reflist}}\n== C ==\n=== C1 ===\n"),
            "Intro.\n\nA\n\nA1\n\nBody."
        );
    }
}
