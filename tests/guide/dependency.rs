//! The Cargo.toml that docs/guide.md gives a new crate, checked against this workspace: every
//! troupe crate it names by path is the package at that path (with the features it asks
//! for), every other dependency is one of troupe's with the same version requirement (two
//! versions of actix in one program would not share its traits), and every crate the guide's
//! code uses is there.

use crate::excerpts::{doc_blocks, fenced, root, text, GUIDE};
use std::collections::BTreeSet;
use toml::{Table, Value};

/// Where the guide's Cargo.toml expects troupe: a sibling directory of the new crate.
const TROUPE: &str = "../troupe/";

/// The guide's first ```toml block, parsed.
fn guide_manifest() -> Table {
    let text = text(GUIDE);
    let (line, lines) = fenced(&text, "toml")
        .into_iter()
        .next()
        .expect("the guide shows a Cargo.toml");
    lines
        .join("\n")
        .parse()
        .unwrap_or_else(|e| panic!("{GUIDE}:{line}: the Cargo.toml does not parse: {e}"))
}

/// The Cargo.toml at `dir` under the workspace's root.
fn manifest(dir: &str) -> Option<Table> {
    let text = std::fs::read_to_string(root().join(dir).join("Cargo.toml")).ok()?;
    text.parse().ok()
}

/// The crates (`troupe_runtime`, `actix`, ...) that `code` names at the start of a path: a
/// lowercase word before `::` that follows neither `::` nor `.` (a method's turbofish).
fn crates_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("::") {
        let before = &code[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        let follows = before[..start].ends_with("::") || before[..start].ends_with('.');
        let lowercase = word.starts_with(|c: char| c.is_ascii_lowercase());
        if lowercase && !follows && !["crate", "self", "super", "std"].contains(&word) {
            used.insert(word.to_string());
        }
    }
    used
}

/// What is wrong with `cargo` as the manifest of a crate that depends on troupe and holds
/// code using the crates `used`.
fn problems(cargo: &Table, used: &BTreeSet<String>) -> Vec<String> {
    let workspace = manifest(".").expect("the workspace's Cargo.toml");
    let pinned = &workspace["workspace"]["dependencies"];
    let mut problems = Vec::new();
    let mut named = BTreeSet::new();
    for section in ["dependencies", "dev-dependencies"] {
        let Some(deps) = cargo.get(section).and_then(Value::as_table) else {
            continue;
        };
        for (name, spec) in deps {
            named.insert(name.replace('-', "_"));
            let path = spec.get("path").and_then(Value::as_str);
            if let Some(path) = path {
                problems.extend(troupe_crate(name, path, spec));
            } else if version(Some(spec)) != version(pinned.get(name))
                || version(Some(spec)).is_none()
            {
                problems.push(format!(
                    "[{section}] {name}: troupe has {:?}; use the same version requirement",
                    version(pinned.get(name))
                ));
            }
        }
    }
    for krate in used.difference(&named) {
        problems.push(format!(
            "the guide's code uses `{krate}`, which is not a dependency"
        ));
    }
    problems
}

/// The version requirement of a dependency, written either way.
fn version(spec: Option<&Value>) -> Option<&str> {
    match spec? {
        Value::String(v) => Some(v),
        spec => spec.get("version")?.as_str(),
    }
}

/// What is wrong with `name = { path = "<path>", .. }` as a dependency on troupe's crate.
fn troupe_crate(name: &str, path: &str, spec: &Value) -> Vec<String> {
    let Some(dir) = path.strip_prefix(TROUPE) else {
        return vec![format!("{name}: the path {path:?} is not under {TROUPE:?}")];
    };
    let Some(package) = manifest(dir) else {
        return vec![format!("{name}: there is no Cargo.toml at {dir:?}")];
    };
    let actual = package["package"]["name"].as_str().unwrap_or_default();
    if actual != name {
        return vec![format!("{name}: the package at {dir:?} is {actual:?}")];
    }
    let wanted = spec.get("features").and_then(Value::as_array);
    let features = package.get("features").and_then(Value::as_table);
    wanted
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|f| !features.is_some_and(|all| all.contains_key(*f)))
        .map(|f| format!("{name}: has no feature {f:?}"))
        .collect()
}

/// The crates the guide's Rust blocks use.
fn guide_uses() -> BTreeSet<String> {
    doc_blocks(GUIDE)
        .iter()
        .flat_map(|b| crates_used(&b.code))
        .collect()
}

#[test]
fn the_guide_s_cargo_toml_names_troupe_s_crates_and_versions() {
    let used = guide_uses();
    for krate in ["troupe_runtime", "troupe_supervisors", "actix", "serde"] {
        assert!(
            used.contains(krate),
            "the guide's code uses {krate}: {used:?}"
        );
    }
    let problems = problems(&guide_manifest(), &used);
    assert!(problems.is_empty(), "{GUIDE}:\n{}", problems.join("\n"));
}

/// A change to a manifest.
type Edit = fn(&mut Table);

/// The `[dependencies]` of `cargo`.
fn deps(cargo: &mut Table) -> &mut Table {
    cargo["dependencies"].as_table_mut().expect("dependencies")
}

#[test]
fn a_wrong_cargo_toml_is_caught() {
    let used = guide_uses();
    let good = guide_manifest();
    assert!(problems(&good, &used).is_empty());
    let broken = |edit: Edit| {
        let mut cargo = good.clone();
        edit(&mut cargo);
        problems(&cargo, &used)
    };
    let cases: [(&str, Edit); 5] = [
        ("a crate at the wrong path", |c| {
            deps(c)["troupe-runtime"]["path"] = "../troupe/messages".into();
        }),
        ("a path outside troupe", |c| {
            deps(c)["troupe-runtime"]["path"] = "../runtime".into();
        }),
        ("another actix", |c| {
            deps(c).insert("actix".into(), "0.12".into());
        }),
        ("a dependency left out", |c| {
            deps(c).remove("serde");
        }),
        ("a feature troupe does not have", |c| {
            let dev = c["dev-dependencies"].as_table_mut().expect("dev");
            dev["troupe-runtime"]["features"] = Value::Array(vec!["simulated".into()]);
        }),
    ];
    for (what, edit) in cases {
        assert!(!broken(edit).is_empty(), "{what} is not caught");
    }
    assert_eq!(
        crates_used("use troupe_runtime::testkit::{simulate, Cluster};\nactix::fut::ready(1);"),
        BTreeSet::from(["troupe_runtime".to_string(), "actix".to_string()])
    );
}
