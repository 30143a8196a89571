//! The shape of the house, read from the code: data flows one way between the stages
//! (README, "Architecture"). Each top-level module's `use crate::…` paths are collected and
//! checked against the pipeline order; a wrong import fails here, naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The stages in pipeline order; a stage may use only stages of a lower rank. Stages of one
/// rank (decode and mqtt read bytes independently) may not use each other.
const ORDER: &[(&str, u32)] = &[
    ("time", 0),
    ("evidence", 1),
    ("source", 2),
    ("decode", 3),
    ("mqtt", 3),
    ("tcp", 4),
    ("transport", 5),
    ("session", 6),
    ("verdict", 7),
    ("correlate", 8),
    ("engine", 9),
    ("report", 10),
    ("join", 10),
    ("publish", 11),
    ("live", 12),
    ("fleet", 13),
];

/// Most lines of non-test code in one file.
const MAX_LINES: usize = 600;

fn rank(module: &str) -> Option<u32> {
    ORDER.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a library file belongs to (`src/tcp/flow.rs` → `tcp`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file before its `#[cfg(test)]` module; a file that is itself a test
/// module (`tests.rs`) has none.
fn non_test_code(file: &Path, text: &str) -> String {
    if file.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// Every top-level module named by a `crate::` path in `code`, including grouped imports
/// (`use crate::{a, b::C}`).
fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found
}

fn library_graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for f in files {
        let module = module_of(&src, &f);
        if ["main", "cli", "cmd", "lib"].contains(&module.as_str()) {
            continue;
        }
        let code = non_test_code(&f, &fs::read_to_string(&f).unwrap());
        let uses = graph.entry(module.clone()).or_default();
        for used in crate_uses(&code) {
            if used != module {
                uses.entry(used).or_insert_with(|| f.clone());
            }
        }
    }
    graph
}

#[test]
fn no_stage_uses_a_later_stage() {
    let mut wrong = Vec::new();
    for (module, uses) in library_graph() {
        let Some(mine) = rank(&module) else {
            wrong.push(format!("{module}: not a stage of the pipeline"));
            continue;
        };
        for (used, file) in uses {
            match rank(&used) {
                Some(r) if r < mine => {}
                _ => wrong.push(format!("{module} uses {used} ({})", file.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn tcp_reads_no_mqtt_and_session_no_verdict() {
    let graph = library_graph();
    assert!(!graph["tcp"].contains_key("mqtt"), "tcp uses mqtt");
    assert!(
        !graph["session"].contains_key("verdict"),
        "session uses verdict"
    );
}

#[test]
fn lib_rs_only_declares_and_reexports() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        let l = line.trim();
        let allowed = l.is_empty()
            || l.starts_with("//")
            || l.starts_with("pub mod ")
            || l.starts_with("pub use ");
        assert!(allowed, "src/lib.rs holds more than declarations: {l}");
    }
}

#[test]
fn no_file_is_longer_than_the_limit() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = non_test_code(f, &fs::read_to_string(f).unwrap())
                .lines()
                .count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines of non-test code: {long:?}"
    );
}

#[test]
fn the_library_has_no_command_line_parser() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for f in files {
        let module = module_of(&src, &f);
        if ["main", "cli", "cmd"].contains(&module.as_str()) {
            continue;
        }
        let code = fs::read_to_string(&f).unwrap();
        assert!(!code.contains("clap::"), "{} uses clap", f.display());
    }
}

#[test]
fn the_graph_reader_sees_grouped_imports() {
    let uses = crate_uses("use crate::{tcp::Side, mqtt};\nlet x = crate::time::Span(1);");
    let want: BTreeSet<String> = ["tcp", "mqtt", "time"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(uses, want);
}
