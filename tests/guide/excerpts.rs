//! The documents teach with the code itself: every ```rust block of docs/adding-a-system.md and
//! docs/guide.md names, on its first line (`// actors/src/register/core.rs`), the file it is
//! taken from, and the rest of the block must appear in that file exactly as written (leading
//! and trailing blank space of the block aside). A block that drifts from the code fails.
//!
//! The guide goes further: the blocks that name a file, in order, are the whole of it after
//! its `//!` header, so a reader who pastes them has code that compiles (see [`not_whole`]).

use std::path::Path;

/// The step-by-step document, from the workspace's root.
pub const ADDING_A_SYSTEM: &str = "docs/adding-a-system.md";

/// The newcomer's guide, from the workspace's root.
pub const GUIDE: &str = "docs/guide.md";

/// One ```rust block of a Markdown text.
#[derive(Debug, Clone)]
pub struct Block {
    /// The line of its opening fence (1-based).
    pub line: usize,
    /// The file its first line names, if it names one.
    pub file: Option<String>,
    /// The code after that line.
    pub code: String,
}

/// The blocks of `markdown` fenced as ```lang, in order: the line of each opening fence
/// (1-based) and the lines inside.
pub fn fenced<'a>(markdown: &'a str, lang: &str) -> Vec<(usize, Vec<&'a str>)> {
    let opening = format!("```{lang}");
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match open.as_mut() {
            None if line.trim_end() == opening => open = Some((i + 1, Vec::new())),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(open.take()),
            Some((_, lines)) => lines.push(line),
        }
    }
    blocks
}

/// The ```rust blocks of `markdown`, in order.
pub fn rust_blocks(markdown: &str) -> Vec<Block> {
    fenced(markdown, "rust")
        .into_iter()
        .map(|(line, lines)| block(line, &lines))
        .collect()
}

/// The block opened on `line` with these `lines`: a first line `// <path>.rs` names its file.
fn block(line: usize, lines: &[&str]) -> Block {
    let named = lines.first().and_then(|first| {
        let path = first.trim().strip_prefix("// ")?;
        (path.ends_with(".rs") && !path.contains(' ')).then(|| path.to_string())
    });
    let code = match named {
        Some(_) => &lines[1..],
        None => lines,
    };
    Block {
        line,
        file: named,
        code: code.join("\n"),
    }
}

/// Why `block` of `doc` is not an excerpt of the file it names (under `root`), if it is not.
pub fn mismatch(root: &Path, doc: &str, block: &Block) -> Option<String> {
    let at = format!("{doc}:{}", block.line);
    let Some(file) = &block.file else {
        return Some(format!(
            "{at}: the block's first line must name its file, e.g. `// src/lib.rs`"
        ));
    };
    let source = match std::fs::read_to_string(root.join(file)) {
        Ok(source) => source,
        Err(e) => return Some(format!("{at}: cannot read {file}: {e}")),
    };
    let code = block.code.trim();
    if code.is_empty() {
        return Some(format!("{at}: the block shows no code"));
    }
    if source.contains(code) {
        return None;
    }
    // Name the first line of the block that is not in the file, to find the drift quickly.
    let first_missing = code
        .lines()
        .find(|l| !source.contains(l.trim()))
        .unwrap_or("(every line is there, but not in this order)");
    Some(format!(
        "{at}: the block is not an excerpt of {file}; first line not found there: {first_missing:?}"
    ))
}

/// Why the blocks of `doc` that name `file` (under `root`), taken in order, are not the whole
/// of that file after its `//!` header, if they are not. Blank lines between them aside, each
/// block must go on where the one before it stopped, and nothing may follow the last one.
pub fn not_whole(root: &Path, doc: &str, file: &str, blocks: &[&Block]) -> Option<String> {
    let source = match std::fs::read_to_string(root.join(file)) {
        Ok(source) => source,
        Err(e) => return Some(format!("{doc}: cannot read {file}: {e}")),
    };
    let body: Vec<&str> = source
        .lines()
        .skip_while(|l| l.starts_with("//!"))
        .collect();
    let body = body.join("\n");
    let mut rest = body.as_str();
    for block in blocks {
        match rest.trim_start().strip_prefix(block.code.trim()) {
            Some(after) => rest = after,
            None => {
                let expected = rest.trim_start().lines().next().unwrap_or("(the end)");
                return Some(format!(
                    "{doc}:{}: the block must go on where {file} goes on, at {expected:?}",
                    block.line
                ));
            }
        }
    }
    let left = rest.trim_start().lines().next()?;
    Some(format!(
        "{doc}: {file} goes on after its last block, at {left:?}; show it or move it"
    ))
}

/// The workspace's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The text of `doc`.
pub fn text(doc: &str) -> String {
    std::fs::read_to_string(root().join(doc)).expect("the document exists")
}

/// The ```rust blocks of `doc`.
pub fn doc_blocks(doc: &str) -> Vec<Block> {
    rust_blocks(&text(doc))
}

/// Every block of `doc` that is not an excerpt of its file, and why; there must be at least
/// `at_least` blocks.
fn excerpt_problems(doc: &str, at_least: usize) -> Vec<String> {
    let blocks = doc_blocks(doc);
    assert!(
        blocks.len() >= at_least,
        "{doc} has {} rust blocks, expected at least {at_least}",
        blocks.len()
    );
    blocks
        .iter()
        .filter_map(|b| mismatch(root(), doc, b))
        .collect()
}

#[test]
fn every_rust_block_of_adding_a_system_is_an_excerpt_of_the_code() {
    // One block or more for each of its eight steps.
    let problems = excerpt_problems(ADDING_A_SYSTEM, 8);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_rust_block_of_the_guide_is_an_excerpt_of_the_code() {
    // One block or more for each of its sections with code.
    let problems = excerpt_problems(GUIDE, 6);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_guide_shows_each_file_it_names_whole() {
    let blocks = doc_blocks(GUIDE);
    let mut files: Vec<&str> = blocks.iter().filter_map(|b| b.file.as_deref()).collect();
    files.sort_unstable();
    files.dedup();
    let problems: Vec<String> = files
        .iter()
        .filter_map(|&file| {
            let of_file: Vec<&Block> = blocks
                .iter()
                .filter(|b| b.file.as_deref() == Some(file))
                .collect();
            not_whole(root(), GUIDE, file, &of_file)
        })
        .collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn a_block_that_drifts_from_its_file_is_caught() {
    let blocks = doc_blocks(ADDING_A_SYSTEM);
    let original = blocks.first().expect("the document has blocks").clone();
    let check = |b: &Block| mismatch(root(), ADDING_A_SYSTEM, b);
    assert_eq!(check(&original), None);

    let mut drifted = original.clone();
    drifted.code = drifted.code.replacen(' ', "  ", 1);
    assert!(check(&drifted).is_some(), "a changed space");

    let mut elsewhere = original.clone();
    assert_ne!(original.file.as_deref(), Some("src/error.rs"));
    elsewhere.file = Some("src/error.rs".into());
    assert!(check(&elsewhere).is_some(), "another file");

    let mut unnamed = original.clone();
    unnamed.file = None;
    assert!(check(&unnamed).is_some(), "no file named");

    let markdown = "text\n```rust\n// src/lib.rs\npub mod systems;\n```\n```sh\nls\n```\n";
    let parsed = rust_blocks(markdown);
    assert_eq!(parsed.len(), 1, "only rust blocks: {parsed:?}");
    assert_eq!(parsed[0].file.as_deref(), Some("src/lib.rs"));
    assert_eq!(parsed[0].code, "pub mod systems;");
    assert_eq!(check(&parsed[0]), None);
}

#[test]
fn a_file_the_guide_shows_only_in_part_is_caught() {
    let blocks = doc_blocks(GUIDE);
    let file = blocks[0]
        .file
        .clone()
        .expect("the first block names its file");
    let of_file: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.file.as_deref() == Some(file.as_str()))
        .collect();
    assert!(of_file.len() >= 2, "{file} is shown in two blocks or more");
    assert_eq!(not_whole(root(), GUIDE, &file, &of_file), None);

    let first_left_out = &of_file[1..];
    assert!(not_whole(root(), GUIDE, &file, first_left_out).is_some());
    let last_left_out = &of_file[..of_file.len() - 1];
    assert!(not_whole(root(), GUIDE, &file, last_left_out).is_some());
    let swapped: Vec<&Block> = of_file.iter().rev().copied().collect();
    assert!(not_whole(root(), GUIDE, &file, &swapped).is_some());
}
