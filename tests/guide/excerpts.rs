//! docs/adding-a-system.md teaches with the code itself: every ```rust block in it names, on
//! its first line (`// actors/src/register/core.rs`), the file it is taken from, and the rest
//! of the block must appear in that file exactly as written (leading and trailing blank space
//! of the block aside). A block that drifts from the code fails this test.

use std::path::Path;

/// The document whose blocks are checked, from the workspace's root.
const DOC: &str = "docs/adding-a-system.md";

/// The fewest blocks the document can have: one or more for each of its eight steps.
const AT_LEAST: usize = 8;

/// One ```rust block of a Markdown text.
#[derive(Debug, Clone)]
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    /// The file its first line names, if it names one.
    file: Option<String>,
    /// The code after that line.
    code: String,
}

/// The ```rust blocks of `markdown`, in order.
fn rust_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match open.as_mut() {
            None if line.trim_end() == "```rust" => open = Some((i + 1, Vec::new())),
            None => {}
            Some(_) if line.trim_end() == "```" => {
                if let Some((line, lines)) = open.take() {
                    blocks.push(block(line, &lines));
                }
            }
            Some((_, lines)) => lines.push(line),
        }
    }
    blocks
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

/// Why `block` is not an excerpt of the file it names (under `root`), if it is not.
fn mismatch(root: &Path, block: &Block) -> Option<String> {
    let at = format!("{DOC}:{}", block.line);
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

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn doc_blocks() -> Vec<Block> {
    let text = std::fs::read_to_string(root().join(DOC)).expect("the document exists");
    rust_blocks(&text)
}

#[test]
fn every_rust_block_of_adding_a_system_is_an_excerpt_of_the_code() {
    let blocks = doc_blocks();
    assert!(
        blocks.len() >= AT_LEAST,
        "{DOC} has {} rust blocks, expected at least {AT_LEAST}",
        blocks.len()
    );
    let problems: Vec<String> = blocks.iter().filter_map(|b| mismatch(root(), b)).collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn a_block_that_drifts_from_its_file_is_caught() {
    let blocks = doc_blocks();
    let original = blocks.first().expect("the document has blocks").clone();
    assert_eq!(mismatch(root(), &original), None);

    let mut drifted = original.clone();
    drifted.code = drifted.code.replacen(' ', "  ", 1);
    assert!(mismatch(root(), &drifted).is_some(), "a changed space");

    let mut elsewhere = original.clone();
    assert_ne!(original.file.as_deref(), Some("src/error.rs"));
    elsewhere.file = Some("src/error.rs".into());
    assert!(mismatch(root(), &elsewhere).is_some(), "another file");

    let mut unnamed = original.clone();
    unnamed.file = None;
    assert!(mismatch(root(), &unnamed).is_some(), "no file named");

    let markdown = "text\n```rust\n// src/lib.rs\npub mod systems;\n```\n```sh\nls\n```\n";
    let parsed = rust_blocks(markdown);
    assert_eq!(parsed.len(), 1, "only rust blocks: {parsed:?}");
    assert_eq!(parsed[0].file.as_deref(), Some("src/lib.rs"));
    assert_eq!(parsed[0].code, "pub mod systems;");
    assert_eq!(mismatch(root(), &parsed[0]), None);
}
