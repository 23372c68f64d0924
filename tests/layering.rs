//! The layering docs/architecture.md draws is the one the host's code has. The crates of
//! `crates/` depend only on crates listed below them in the document's crate table, which names
//! each crate's dependencies as its Cargo.toml does, and only the crates the table allows use
//! wasmtime, SQLite or the HTTP server. Inside a crate the module table places, each top-level
//! module uses only modules listed below it; inside every other crate and every module, no two
//! submodules use each other, directly or round a cycle. Test code (the items marked
//! `#[cfg(test)]`) may reach up for fixtures and is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path below the crate root (`["store", "actions", "reads"]`).
type ModPath = Vec<String>;

/// For each module, the submodules of it that each submodule uses.
type Uses = BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>>;

/// The external crates only one crate may depend on: the sandbox's engine, the store's SQL and the
/// application's HTTP server.
const EXCLUSIVE: [(&str, &str); 5] = [
    ("wasmtime", "provhost-sandbox"),
    ("wasmtime-wasi", "provhost-sandbox"),
    ("rusqlite", "provhost-store"),
    ("axum", "provhost"),
    ("hyper", "provhost"),
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The rows of the table in the section of `doc` headed `heading`, each row's cells in
/// backticks, comma separated: `| `a` | `b`, `c` | text |` is `[["a"], ["b", "c"], []]`.
fn table(doc: &str, heading: &str) -> Vec<Vec<Vec<String>>> {
    let section = doc.split(heading).nth(1).unwrap_or_else(|| panic!("docs/architecture.md has `{heading}`"));
    let section = section.split("\n#").next().unwrap_or_default();
    let cell = |text: &str| -> Vec<String> {
        text.split(',').filter_map(|c| c.trim().strip_prefix('`')?.strip_suffix('`').map(str::to_owned)).collect()
    };
    section
        .lines()
        .filter_map(|line| line.trim().strip_prefix('|')?.strip_suffix('|'))
        .map(|row| row.split('|').map(cell).collect::<Vec<_>>())
        .filter(|row| row.first().is_some_and(|first| !first.is_empty()))
        .collect()
}

/// The crate table of docs/architecture.md, top first: each crate with the crates it depends on.
fn crate_table(doc: &str) -> Vec<(String, BTreeSet<String>)> {
    table(doc, "\n### Crates")
        .into_iter()
        .map(|row| (row[0][0].clone(), row.get(1).into_iter().flatten().cloned().collect()))
        .collect()
}

/// The module table of docs/architecture.md, top first: each module with its crate.
fn layers(doc: &str) -> Vec<(String, String)> {
    table(doc, "\n### Modules")
        .into_iter()
        .filter_map(|row| Some((row[0][0].clone(), row.get(1)?.first()?.clone())))
        .collect()
}

/// Each crate of `crates/`: its package name, its directory and the crates it depends on (its
/// `[dependencies]`, not its dev-dependencies).
fn crates(root: &Path) -> Vec<(String, PathBuf, BTreeSet<String>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest: toml::Table = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().parse().unwrap();
        let name = manifest["package"]["name"].as_str().unwrap().to_owned();
        let deps = manifest.get("dependencies").and_then(|d| d.as_table()).map(|d| d.keys().cloned().collect());
        out.push((name, dir, deps.unwrap_or_default()));
    }
    out.sort();
    out
}

/// What breaks the crate graph: a crate the table does not list or lists without it existing, a
/// dependency on a crate listed above (or on itself), dependencies other than the table names,
/// and a dependency on an external crate another crate alone may use.
fn crate_breaks(table: &[(String, BTreeSet<String>)], actual: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let rank = |c: &str| table.iter().position(|(name, _)| name == c);
    let mut out = Vec::new();
    for (name, _) in table.iter().filter(|(name, _)| !actual.contains_key(name)) {
        out.push(format!("docs/architecture.md lists the crate `{name}`, which crates/ does not have"));
    }
    for (name, deps) in actual {
        let Some(at) = rank(name) else {
            out.push(format!("`{name}` is not in the crate table of docs/architecture.md"));
            continue;
        };
        let ours: BTreeSet<String> = deps.iter().filter(|d| d.starts_with("provhost")).cloned().collect();
        for dep in &ours {
            if rank(dep).is_some_and(|b| b <= at) {
                out.push(format!("`{name}` depends on `{dep}`, which the crate table does not put below it"));
            }
        }
        if ours != table[at].1 {
            out.push(format!("`{name}` depends on {ours:?}; docs/architecture.md says {:?}", table[at].1));
        }
        for (dep, owner) in EXCLUSIVE.iter().filter(|(dep, owner)| deps.contains(*dep) && owner != name) {
            out.push(format!("`{name}` depends on `{dep}`, which only `{owner}` may"));
        }
    }
    out
}

/// Every source file of a crate under its `src`, by module path, without comments and test code.
fn sources(src: &Path) -> BTreeMap<ModPath, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: ModPath = relative.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if path.extension().is_none_or(|e| e != "rs") || module == ["main"] {
                continue;
            }
            if module.last().is_some_and(|last| last == "mod" || last == "lib") {
                module.pop();
            }
            out.insert(module, code_of(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

/// The text without comments, with every string literal emptied, and without the items marked
/// `#[cfg(test)]` (a test module, or a `use` or function only tests compile), wherever in the
/// file they stand: what follows such an item is production code and is checked.
fn code_of(text: &str) -> String {
    const TEST_ONLY: &str = "#[cfg(test)]";
    let mut out = String::new();
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        if let Some(end) = literal_end(text, at) {
            if text[at..].starts_with('/') {
                // A comment: dropped, but a line comment leaves its line's end.
            } else if c == '\'' {
                out.push_str(&text[at..end]);
            } else {
                out.push_str("\"\"");
            }
            at = end;
        } else if text[at..].starts_with(TEST_ONLY) {
            at = item_end(text, at + TEST_ONLY.len());
        } else {
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

/// Where the item starting at `at` ends: just after the `;` that ends it (`mod tests;`,
/// `use a::b;`) or after the brace that closes its body, outside literals and comments.
fn item_end(text: &str, mut at: usize) -> usize {
    let mut depth = 0usize;
    while let Some(c) = text[at..].chars().next() {
        if let Some(end) = literal_end(text, at) {
            at = end;
            continue;
        }
        at += c.len_utf8();
        match c {
            '{' => depth += 1,
            '}' if depth <= 1 => return at,
            '}' => depth -= 1,
            ';' if depth == 0 => return at,
            _ => {}
        }
    }
    text.len()
}

/// Where the comment, string or character literal starting at `at` ends, if one starts there
/// (a lifetime such as `'a` is not a literal).
fn literal_end(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    let end_of = |from: usize, close: &str| text[from..].find(close).map_or(text.len(), |n| from + n + close.len());
    if rest.starts_with("//") {
        return Some(text[at..].find('\n').map_or(text.len(), |n| at + n));
    }
    if rest.starts_with("/*") {
        return Some(end_of(at + 2, "*/"));
    }
    let raw = rest.strip_prefix("br").or_else(|| rest.strip_prefix('r'));
    if let Some(after) = raw.filter(|_| !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')) {
        let hashes = after.len() - after.trim_start_matches('#').len();
        if after[hashes..].starts_with('"') {
            let body = at + (rest.len() - after.len()) + hashes + 1;
            return Some(end_of(body, &format!("\"{}", "#".repeat(hashes))));
        }
    }
    let mut chars = rest.char_indices().skip(1);
    match rest.chars().next()? {
        '"' => {
            let mut escaped = false;
            for (n, c) in chars {
                match c {
                    '"' if !escaped => return Some(at + n + 1),
                    '\\' => escaped = !escaped,
                    _ => escaped = false,
                }
            }
            Some(text.len())
        }
        '\'' => {
            let (_, first) = chars.next()?;
            if first == '\\' {
                chars.next();
                let (n, _) = chars.find(|(_, c)| *c == '\'')?;
                return Some(at + n + 1);
            }
            let (n, second) = chars.next()?;
            (second == '\'').then_some(at + n + 1)
        }
        _ => None,
    }
}

/// The paths a use tree starting at `text` names: `a::b`, `a::{b, c::{d, e}}`, ...
fn use_tree(text: &str) -> Vec<Vec<String>> {
    fn tree(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Vec<Vec<String>> {
        let mut segment = String::new();
        while chars.peek().is_some_and(|c| c.is_alphanumeric() || *c == '_') {
            segment.push(chars.next().unwrap());
        }
        let rest: String = chars.clone().take(2).collect();
        if segment.is_empty() && chars.peek() == Some(&'{') {
            chars.next();
            let mut all = Vec::new();
            loop {
                while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                    chars.next();
                }
                match chars.peek() {
                    Some('}') | None => {
                        chars.next();
                        return all;
                    }
                    _ => all.extend(tree(chars)),
                }
            }
        }
        if segment.is_empty() {
            return Vec::new();
        }
        if rest == "::" {
            chars.next();
            chars.next();
            let below = tree(chars);
            if below.is_empty() {
                return vec![vec![segment]];
            }
            return below.into_iter().map(|p| std::iter::once(segment.clone()).chain(p).collect()).collect();
        }
        // Skip `as name` and anything else up to the end of this branch.
        vec![vec![segment]]
    }
    tree(&mut text.chars().peekable())
}

/// The absolute module paths `module`'s code names through `crate::` and `super::`.
fn named(module: &ModPath, code: &str) -> Vec<ModPath> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        out.extend(use_tree(&code[at + "crate::".len()..]));
    }
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") || code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        let mut rest = &code[at..];
        let mut base = module.clone();
        while let Some(after) = rest.strip_prefix("super::") {
            base.pop();
            rest = after;
        }
        out.extend(use_tree(rest).into_iter().map(|p| base.iter().cloned().chain(p).collect()));
    }
    out
}

/// Which sibling modules each module uses, grouped by their parent.
fn uses(sources: &BTreeMap<ModPath, String>) -> Uses {
    let modules: BTreeSet<&ModPath> = sources.keys().collect();
    let mut out = Uses::new();
    for (module, code) in sources {
        for path in named(module, code) {
            let common = module.iter().zip(&path).take_while(|(a, b)| a == b).count();
            if common >= module.len() || common >= path.len() {
                continue;
            }
            let parent = module[..common].to_vec();
            let target: ModPath = path[..=common].to_vec();
            if modules.contains(&target) {
                out.entry(parent).or_default().entry(module[common].clone()).or_default().insert(path[common].clone());
            }
        }
    }
    out
}

/// A cycle among the modules of one parent, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut found = stack[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, done, stack) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// What breaks the layering of one crate: where the module table places its modules (`layers`,
/// top first), each use of a module not listed below the user and each top-level module missing
/// from the table; each cycle inside a module, and among the top-level modules of a crate the
/// table does not place (`layers` empty).
fn breaks(layers: &[String], uses: &Uses, top_level: &BTreeSet<String>) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let mut out = Vec::new();
    for module in top_level.iter().filter(|_| !layers.is_empty()) {
        if rank(module).is_none() {
            out.push(format!("`{module}` is not in the layer table of docs/architecture.md"));
        }
    }
    for (user, used) in uses.get(&Vec::new()).into_iter().flatten() {
        for module in used {
            if let (Some(a), Some(b)) = (rank(user), rank(module))
                && a >= b
            {
                out.push(format!("`{user}` uses `{module}`, which the layer table puts above it"));
            }
        }
    }
    for (parent, graph) in uses.iter().filter(|(parent, _)| !parent.is_empty() || layers.is_empty()) {
        if let Some(found) = cycle(graph) {
            let inside =
                if parent.is_empty() { "the crate root".to_owned() } else { format!("`{}`", parent.join("::")) };
            out.push(format!("inside {inside}, submodules use each other round {}", found.join(" → ")));
        }
    }
    out
}

#[test]
fn every_crate_depends_only_on_the_crates_below_it_as_the_table_says() {
    let root = repository();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let table = crate_table(&doc);
    assert!(table.len() >= 5, "the crate table lists the workspace's crates: {table:?}");
    let actual: BTreeMap<String, BTreeSet<String>> = crates(&root).into_iter().map(|(n, _, d)| (n, d)).collect();
    let found = crate_breaks(&table, &actual);
    assert!(found.is_empty(), "the crate graph does not hold:\n{}", found.join("\n"));
}

#[test]
fn every_module_uses_only_the_layers_below_it_and_no_submodules_form_a_cycle() {
    let root = repository();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let layers = layers(&doc);
    assert!(layers.len() > 10, "the module table lists the modules of the layered crates: {layers:?}");
    let mut found = Vec::new();
    let mut placed = BTreeSet::new();
    for (name, dir, _) in crates(&root) {
        let sources = sources(&dir.join("src"));
        let top_level: BTreeSet<String> = sources.keys().filter(|m| m.len() == 1).map(|m| m[0].clone()).collect();
        let ours: Vec<String> = layers.iter().filter(|(_, c)| *c == name).map(|(m, _)| m.clone()).collect();
        for listed in &ours {
            placed.insert(listed.clone());
            assert!(
                top_level.contains(listed),
                "docs/architecture.md places `{listed}` in `{name}`, which has no such module"
            );
        }
        found.extend(breaks(&ours, &uses(&sources), &top_level).into_iter().map(|b| format!("{name}: {b}")));
    }
    let unknown: Vec<&(String, String)> = layers.iter().filter(|(m, _)| !placed.contains(m)).collect();
    assert!(unknown.is_empty(), "docs/architecture.md places modules in crates that do not exist: {unknown:?}");
    assert!(found.is_empty(), "the layering does not hold:\n{}", found.join("\n"));
}

#[test]
fn the_crate_check_finds_an_upward_dependency_an_unlisted_crate_and_a_heavy_dependency() {
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<String>>();
    let table = vec![
        ("provhost".to_string(), set(&["provhost-store", "provhost-core"])),
        ("provhost-store".to_string(), set(&["provhost-core"])),
        ("provhost-core".to_string(), set(&[])),
        ("provhost-gone".to_string(), set(&[])),
    ];
    let actual = BTreeMap::from([
        ("provhost".to_string(), set(&["provhost-store", "provhost-core", "axum"])),
        ("provhost-store".to_string(), set(&["provhost-core", "rusqlite"])),
        ("provhost-core".to_string(), set(&["provhost-store", "wasmtime", "serde"])),
        ("provhost-new".to_string(), set(&[])),
    ]);
    assert_eq!(
        crate_breaks(&table, &actual),
        [
            "docs/architecture.md lists the crate `provhost-gone`, which crates/ does not have",
            "`provhost-core` depends on `provhost-store`, which the crate table does not put below it",
            "`provhost-core` depends on {\"provhost-store\"}; docs/architecture.md says {}",
            "`provhost-core` depends on `wasmtime`, which only `provhost-sandbox` may",
            "`provhost-new` is not in the crate table of docs/architecture.md",
        ]
    );
    let doc = "## Layers\n### Crates\n| crate | depends on |\n| --- | --- |\n| `a` | `b`, `c` |\n| `b` | |\n### Modules\n\
               | module | crate |\n| --- | --- |\n| `m` | `a` | holds m |\n## Next\n| `x` | `y` |";
    assert_eq!(crate_table(doc), [("a".to_string(), set(&["b", "c"])), ("b".to_string(), set(&[]))]);
    assert_eq!(layers(doc), [("m".to_string(), "a".to_string())], "only the module table's rows are read");
}

#[test]
fn the_check_finds_an_upward_use_an_unplaced_module_and_a_cycle() {
    let file = |path: &str, code: &str| (path.split('/').map(str::to_owned).collect::<ModPath>(), code_of(code));
    let sources = BTreeMap::from([
        file("model", "pub struct Person;"),
        file("store", "mod a; mod b;\nuse crate::model::Person;"),
        file("store/a", "use super::b::Thing; // crate::gate is only mentioned"),
        file(
            "store/b",
            "use crate::model::Person;\n#[cfg(test)]\nuse crate::gate::X;\n#[cfg(test)]\nmod tests {\n    \
             use crate::cli::Y;\n    const OPEN: &str = r#\"{\"#;\n    const CLOSE: char = '}';\n    \
             fn f<'a>(s: &'a str) -> char { let _ = \"}\\\"}\"; '\\'' }\n}\nuse crate::store::a::Other;",
        ),
        file("gate", "use crate::{store::{self}, model};\nfn f() { crate::cli::main() }"),
        file("cli", "use crate::gate::Gate;"),
    ]);
    let top_level: BTreeSet<String> = ["model", "store", "gate", "cli"].map(String::from).into();
    let cycle = "inside `store`, submodules use each other round a → b → a";
    let layers: Vec<String> = ["gate", "store", "model"].map(String::from).into();
    assert_eq!(
        breaks(&layers, &uses(&sources), &top_level),
        ["`cli` is not in the layer table of docs/architecture.md", cycle],
        "a comment and test code are not uses, the code after a test module is; a module the table does not place \
         cannot be ranked"
    );
    let layers: Vec<String> = ["cli", "store", "gate", "model"].map(String::from).into();
    assert_eq!(
        breaks(&layers, &uses(&sources), &top_level),
        [
            "`gate` uses `cli`, which the layer table puts above it",
            "`gate` uses `store`, which the layer table puts above it",
            cycle
        ]
    );
    assert_eq!(
        breaks(&[], &uses(&sources), &top_level),
        ["inside the crate root, submodules use each other round cli → gate → cli", cycle],
        "in a crate the table does not place, only cycles break the layering, its root's modules' too"
    );
}

/// What the section of docs/architecture.md headed `heading` names in backticks that should exist
/// in `crates/`: files (`gate/src/lib.rs`, relative to `crates/` or the repository) and items (`Gate::decide`, `run_event`). Anything else in
/// backticks (a scope, a route, a command) is not checked.
fn named_in(doc: &str, heading: &str) -> (Vec<String>, Vec<String>) {
    let section = doc.split(heading).nth(1).unwrap_or_else(|| panic!("docs/architecture.md has `{heading}`"));
    let section = section.split("\n## ").next().unwrap_or_default();
    let ident = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let (mut files, mut items) = (Vec::new(), Vec::new());
    for token in section.split('`').skip(1).step_by(2) {
        if token.ends_with(".rs") {
            files.push(token.to_owned());
        } else if token.split("::").all(ident) && (token.contains("::") || token.contains('_')) {
            items.push(token.to_owned());
        }
    }
    (files, items)
}

/// Whether `code` defines `item`: its last segment a function, type or enum variant, and its first
/// (when it has two) a type or trait.
fn defines(code: &str, item: &str) -> bool {
    let segments: Vec<&str> = item.split("::").collect();
    let has = |pattern: String| code.contains(&pattern);
    let type_named = |name: &str| {
        ["struct", "enum", "trait", "type"]
            .iter()
            .any(|kind| has(format!("{kind} {name} ")) || has(format!("{kind} {name}<")))
            || has(format!("struct {name}("))
            || has(format!("struct {name};"))
    };
    let last = segments[segments.len() - 1];
    let defined_last = has(format!("fn {last}(")) || has(format!("fn {last}<")) || type_named(last) || {
        [",", " {", "(", " =>"].iter().any(|end| {
            code.lines().any(|l| l.trim_start().starts_with(&format!("{last}{end}")) && l.starts_with("    "))
        })
    };
    defined_last && (segments.len() == 1 || type_named(segments[0]))
}

#[test]
fn every_file_and_item_the_re_enforce_path_names_exists() {
    let root = repository();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let (files, items) = named_in(&doc, "## Where is a re-enforce checked, planned, committed, audited and executed?");
    assert!(files.len() >= 10 && items.len() >= 10, "the path names its files and items: {files:?} {items:?}");
    let exists = |f: &String| root.join("crates").join(f).is_file() || root.join(f).is_file();
    let missing: Vec<&String> = files.iter().filter(|f| !exists(f)).collect();
    assert!(missing.is_empty(), "docs/architecture.md names files the repository does not have: {missing:?}");
    let code: String = crates(&root)
        .iter()
        .flat_map(|(_, dir, _)| sources(&dir.join("src")).into_values())
        .collect::<Vec<_>>()
        .join("\n");
    let undefined: Vec<&String> = items.iter().filter(|i| !defines(&code, i)).collect();
    assert!(undefined.is_empty(), "docs/architecture.md names items no crate defines: {undefined:?}");
}

#[test]
fn the_path_check_finds_a_missing_file_and_an_undefined_item() {
    let doc = "## Path\n1. `gate/mod.rs`: `Gate::decide` and `run_event`, scope `persons:read`, `provhost run`\n## Next\n`x.rs`";
    let (files, items) = named_in(doc, "## Path");
    assert_eq!(
        (files, items.clone()),
        (vec!["gate/mod.rs".to_string()], vec!["Gate::decide".into(), "run_event".into()])
    );
    let code = "pub struct Gate {\n}\nimpl Gate {\n    pub fn decide(&self) {}\n}\n";
    assert!(defines(code, "Gate::decide"));
    assert!(!defines(code, "run_event"), "a function no file defines");
    assert!(!defines(code, "Plan::decide"), "a method of a type no file defines");
    assert!(defines("pub enum Import {\n    ReEnforce,\n}", "Import::ReEnforce"), "an enum variant");
}
