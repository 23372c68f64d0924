//! Every snippet in the docs is compiled or run. The fenced blocks of README.md, docs/*.md and
//! the READMEs of plugin-sdk/ and wit/ are taken out by language:
//! - `rust`, `python`, `js`: a block that is a whole plugin is built into a component of its own;
//!   the others are the body of a function of the attribute-changed record `event`, all of a
//!   language built into one component that runs the snippet its `snippet` setting names. Every
//!   component then runs on the demo tenant's example event (`--dry-run`), and must end `ok`;
//! - `python script`: run with python3 in a folder holding `demo-audit.jsonl`, the demo tenant's
//!   audit export;
//! - `toml`: a `provhost.toml`, checked by `provhost config check`; `toml plugin.toml`: a plugin
//!   manifest, parsed by provhost's own manifest type;
//! - `json`: parsed;
//! - `sh`: a block that calls `curl` runs against a real `provhost serve` on loopback
//!   serving the demo tenant as `examples/provhost.toml` configures it (`$PROVHOST_URL`, and the
//!   demo tenant's key in `$PROVHOST_KEY`), from the repository's root; the others are checked by
//!   `bash -n`, and each `provhost …` command in them is parsed by provhost's own command line;
//! - `powershell`: PowerShell is not available here, so the block must be followed by an `sh` block
//!   whose first `curl` sends the same request (method, path and the headers it sets, as
//!   `Invoke-RestMethod` is called); that `sh` block runs against the real server as above;
//! - `java`: an IdentityIQ workflow step's BeanShell script, in the Java BeanShell runs (no
//!   generics, lambdas, method references, `var` or try-with-resources): its imports go to the top
//!   of a class and the rest becomes the body of a method taking the step's arguments
//!   ([`STEP_ARGUMENTS`]); it is compiled by `javac` and run against the real server, and what it
//!   returns must be provhost's answer with a committed plan;
//! - `text` and unlabelled blocks (diagrams, output) are not code.
//!
//! Any other label fails, so that no snippet goes unchecked by accident.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::server::Server;
use support::{Demo, json, mail_changed, repo, stderr};

/// One fenced block.
#[derive(Debug, Clone)]
struct Block {
    /// `file:line` of its opening fence.
    at: String,
    /// The first word of the info string.
    lang: String,
    /// The rest of the info string.
    role: String,
    text: String,
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md"), repo().join("plugin-sdk/README.md"), repo().join("wit/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(repo()).unwrap().display().to_string();
        // A fence may be indented (a block in a list item); its lines lose that indentation.
        let mut open: Option<(Block, usize)> = None;
        for (i, line) in text.lines().enumerate() {
            let indent = line.len() - line.trim_start().len();
            match (&mut open, line.trim_start().strip_prefix("```")) {
                (None, Some(info)) => {
                    let (lang, role) = info.trim().split_once(' ').unwrap_or((info.trim(), ""));
                    let at = format!("{name}:{}", i + 1);
                    let block = Block { at, lang: lang.into(), role: role.trim().into(), text: String::new() };
                    open = Some((block, indent));
                }
                (Some(_), Some(_)) => blocks.push(open.take().unwrap().0),
                (Some((block, indent)), None) => {
                    block.text.push_str(line.get(*indent..).unwrap_or(line.trim_start()));
                    block.text.push('\n');
                }
                (None, None) => {}
            }
        }
        assert!(open.is_none(), "{name}: a code block is not closed");
    }
    blocks
}

fn of(lang: &str, role: &str) -> Vec<Block> {
    blocks().into_iter().filter(|b| b.lang == lang && b.role == role).collect()
}

#[test]
fn every_block_has_a_language_this_test_checks() {
    let known = [
        ("rust", ""),
        ("python", ""),
        ("python", "script"),
        ("js", ""),
        ("toml", ""),
        ("toml", "plugin.toml"),
        ("powershell", ""),
        ("java", ""),
    ];
    let plain = ["", "text", "json", "sh"];
    for block in blocks() {
        let checked = known.contains(&(block.lang.as_str(), block.role.as_str()))
            || (plain.contains(&block.lang.as_str()) && block.role.is_empty());
        assert!(checked, "{}: ```{} {} is not a kind of block tests/docs.rs checks", block.at, block.lang, block.role);
    }
    assert!(of("rust", "").len() >= 5 && of("python", "").len() >= 4 && of("js", "").len() >= 4);
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("{by}{l}") }).collect::<Vec<_>>().join("\n")
}

/// Where the snippets' components are built: a build cache kept between runs.
fn work(lang: &str) -> PathBuf {
    let dir = repo().join("plugins/target/docs").join(lang);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(command: &mut Command, what: &str) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what}:\n{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    out
}

/// Runs a component on the example event under the demo key; with `snippet`, that setting.
fn runs_ok(demo: &Demo, component: &Path, snippet: Option<usize>, at: &str) {
    let setting = snippet.map(|i| format!("snippet={i}"));
    let mut extra = vec!["--dry-run"];
    if let Some(setting) = &setting {
        extra.extend(["--set", setting.as_str()]);
    }
    let out = demo.run_as(&demo.key, component.to_str().unwrap(), &mail_changed(), &extra);
    assert!(
        out.status.success(),
        "{at}: the snippet did not run to ok:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    if let Some(i) = snippet {
        assert_eq!(json(&out)["outcome"]["summary"], format!("snippet {i} ran"), "{at}");
    }
}

#[test]
fn rust_snippets_build_and_run() {
    let dir = work("rust");
    let sdk = repo().join("plugin-sdk").display().to_string();
    let crate_toml = |name: &str| {
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nprovhost-sdk = {{ path = \"{sdk}\" }}\n"
        )
    };
    let (whole, fragments): (Vec<Block>, Vec<Block>) =
        of("rust", "").into_iter().partition(|b| b.text.contains("register_plugin!"));
    let mut members = Vec::new();
    for (i, block) in whole.iter().enumerate() {
        let name = format!("whole-{i}");
        std::fs::create_dir_all(dir.join(&name).join("src")).unwrap();
        std::fs::write(dir.join(&name).join("Cargo.toml"), crate_toml(&name)).unwrap();
        std::fs::write(dir.join(&name).join("src/lib.rs"), format!("// {}\n{}", block.at, block.text)).unwrap();
        members.push(name);
    }
    // The snippets live in a module of their own with no imports, so each must bring its own.
    let mut snippets = String::from("#![allow(unused)]\n");
    let mut arms = String::new();
    for (i, block) in fragments.iter().enumerate() {
        snippets.push_str(&format!(
            "// {}\npub fn snippet_{i}(event: &provhost_sdk::AttributeChanged) -> Result<(), String> {{\n{}\n    Ok(())\n}}\n\n",
            block.at,
            indent(&block.text, "    ")
        ));
        arms.push_str(&format!("            Some(\"{i}\") => snippets::snippet_{i}(event)?,\n"));
    }
    let lib = format!(
        "mod snippets;\n\nstruct Snippets;\n\nimpl provhost_sdk::Plugin for Snippets {{\n    \
         fn on_attribute_changed(event: &provhost_sdk::AttributeChanged) -> Result<provhost_sdk::Outcome, String> {{\n        \
         let n = provhost_sdk::settings::get(\"snippet\");\n        match n.as_deref() {{\n{arms}            \
         other => return Err(format!(\"no snippet {{other:?}}\")),\n        }}\n        \
         Ok(provhost_sdk::Outcome::new(format!(\"snippet {{}} ran\", n.unwrap_or_default())))\n    }}\n}}\n\n\
         provhost_sdk::register_plugin!(Snippets);\n"
    );
    std::fs::create_dir_all(dir.join("fragments/src")).unwrap();
    std::fs::write(dir.join("fragments/Cargo.toml"), crate_toml("fragments")).unwrap();
    std::fs::write(dir.join("fragments/src/lib.rs"), lib).unwrap();
    std::fs::write(dir.join("fragments/src/snippets.rs"), snippets).unwrap();
    members.push("fragments".into());
    let list: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    std::fs::write(dir.join("Cargo.toml"), format!("[workspace]\nresolver = \"3\"\nmembers = [{}]\n", list.join(", ")))
        .unwrap();
    run(
        Command::new(env!("CARGO"))
            .current_dir(&dir)
            // Offline: the plugin build put every dependency in the registry cache.
            .args(["build", "--offline", "--target", "wasm32-wasip2", "--target-dir", "target"])
            .env_remove("CARGO_TARGET_DIR"),
        "building the Rust snippets",
    );
    let demo = Demo::new();
    let built = |name: &str| dir.join("target/wasm32-wasip2/debug").join(format!("{}.wasm", name.replace('-', "_")));
    for (i, block) in whole.iter().enumerate() {
        runs_ok(&demo, &built(&format!("whole-{i}")), None, &block.at);
    }
    for (i, block) in fragments.iter().enumerate() {
        runs_ok(&demo, &built("fragments"), Some(i), &block.at);
    }
}

/// Fails naming each global a module's `run` reads that the module does not define or import.
const UNDEFINED_NAMES: &str = r#"
import builtins, symtable, sys
bad = []
for path in sys.argv[1:]:
    text = open(path).read()
    table = symtable.symtable(text, path, "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    for child in table.get_children():
        def walk(t):
            for s in t.get_symbols():
                name = s.get_name()
                if s.is_global() and s.is_referenced() and name not in defined and not hasattr(builtins, name):
                    bad.append(f"{text.splitlines()[0][2:]}: {name} is neither imported nor defined")
            for c in t.get_children():
                walk(c)
        walk(child)
if bad:
    sys.exit("\n".join(bad))
"#;

fn componentize_py(app: &Path, out: &Path) {
    run(
        Command::new("componentize-py")
            .args(["-d"])
            .arg(repo().join("wit/0.2.0"))
            .args(["-w", "plugin", "componentize", "-p"])
            .arg(app)
            .args(["app", "-o"])
            .arg(out),
        &format!("componentize-py {}", app.display()),
    );
}

#[test]
fn python_snippets_build_and_run() {
    support::plugin("python/propagate-mail"); // componentize-py is installed by the plugin build
    let dir = work("python");
    let (whole, fragments): (Vec<Block>, Vec<Block>) =
        of("python", "").into_iter().partition(|b| b.text.contains("class Handler"));
    let demo = Demo::new();
    for (i, block) in whole.iter().enumerate() {
        let app = dir.join(format!("whole-{i}"));
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("app.py"), format!("# {}\n{}", block.at, block.text)).unwrap();
        let out = dir.join(format!("whole_{i}.wasm"));
        componentize_py(&app, &out);
        runs_ok(&demo, &out, None, &block.at);
    }
    // Each snippet is a module of its own, so it must import what it uses. Its imports go to the
    // module's top: a component's Python modules are imported when it is built, not while it runs.
    let app = dir.join("fragments");
    let _ = std::fs::remove_dir_all(&app);
    std::fs::create_dir_all(&app).unwrap();
    let mut dispatch = String::new();
    for (i, block) in fragments.iter().enumerate() {
        let (imports, body): (Vec<&str>, Vec<&str>) =
            block.text.lines().partition(|l| l.starts_with("import ") || l.starts_with("from "));
        let module = format!(
            "# {}\n{}\n\n\ndef run(event):\n{}\n",
            block.at,
            imports.join("\n"),
            indent(&body.join("\n"), "    ")
        );
        std::fs::write(app.join(format!("snippet_{i}.py")), module).unwrap();
        dispatch.push_str(&format!("import snippet_{i}\n"));
    }
    std::fs::write(
        app.join("app.py"),
        format!(
            "{dispatch}import wit_world\nfrom wit_world.exports import handler\nfrom wit_world.imports import settings\n\n\n\
             class Handler(wit_world.exports.Handler):\n    def handle(self, event) -> handler.Outcome:\n        \
             n = settings.get(\"snippet\")\n        globals()[f\"snippet_{{n}}\"].run(event.value)\n        \
             return handler.Outcome(f\"snippet {{n}} ran\")\n"
        ),
    )
    .unwrap();
    // A name a snippet uses on a path the demo event does not take (an `except` branch) is
    // checked here: every global it reads must be imported or built in.
    let modules: Vec<String> = (0..fragments.len()).map(|i| format!("snippet_{i}.py")).collect();
    run(Command::new("python3").arg("-c").arg(UNDEFINED_NAMES).args(&modules).current_dir(&app), "undefined names");
    let out = dir.join("fragments.wasm");
    componentize_py(&app, &out);
    for (i, block) in fragments.iter().enumerate() {
        runs_ok(&demo, &out, Some(i), &block.at);
    }
}

/// The names a JavaScript snippet imports, by module: `import { a, b } from 'm';` lines.
fn js_imports(text: &str) -> (BTreeMap<String, BTreeSet<String>>, String) {
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut body = String::new();
    for line in text.lines() {
        match line.strip_prefix("import {").and_then(|l| l.split_once("} from '")) {
            Some((names, module)) => {
                let module = module.trim_end_matches(';').trim_end_matches('\'').to_owned();
                imports.entry(module).or_default().extend(names.split(',').map(|n| n.trim().to_owned()));
            }
            None => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    (imports, body)
}

fn componentize_js(source: &Path, out: &Path) {
    run(
        Command::new("node").arg(repo().join("plugins/js/build.mjs")).arg(source).arg(out),
        &format!("componentize-js {}", source.display()),
    );
}

#[test]
fn javascript_snippets_build_and_run() {
    support::plugin("js/propagate-mail"); // the npm packages are installed by the plugin build
    let dir = work("js");
    let (whole, fragments): (Vec<Block>, Vec<Block>) =
        of("js", "").into_iter().partition(|b| b.text.contains("export const handler"));
    let demo = Demo::new();
    for (i, block) in whole.iter().enumerate() {
        let source = dir.join(format!("whole_{i}.js"));
        std::fs::write(&source, format!("// {}\n{}", block.at, block.text)).unwrap();
        let out = dir.join(format!("whole_{i}.wasm"));
        componentize_js(&source, &out);
        runs_ok(&demo, &out, None, &block.at);
    }
    // An ES module's imports are at its top, shared by every snippet: check that each snippet
    // imports every host function it calls, then merge the imports.
    let mut all: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut functions = String::new();
    let parsed: Vec<_> = fragments.iter().map(|b| js_imports(&b.text)).collect();
    let host_names: BTreeSet<String> = parsed.iter().flat_map(|(i, _)| i.values().flatten().cloned()).collect();
    for (i, (block, (imports, body))) in fragments.iter().zip(&parsed).enumerate() {
        let own: BTreeSet<&String> = imports.values().flatten().collect();
        for name in &host_names {
            assert!(
                !body.contains(&format!("{name}(")) || own.contains(name),
                "{}: calls {name} without importing it",
                block.at
            );
        }
        for (module, names) in imports {
            all.entry(module.clone()).or_default().extend(names.iter().cloned());
        }
        functions.push_str(&format!("// {}\nfunction snippet_{i}(event) {{\n{}\n}}\n\n", block.at, indent(body, "  ")));
    }
    let mut source = String::from("import { get as snippetSetting } from 'provhost:plugin/settings@0.2.0';\n");
    for (module, names) in &all {
        source.push_str(&format!(
            "import {{ {} }} from '{module}';\n",
            names.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let dispatch: Vec<String> = (0..fragments.len()).map(|i| format!("  '{i}': snippet_{i},")).collect();
    source.push_str(&format!(
        "\n{functions}const SNIPPETS = {{\n{}\n}};\n\nexport const handler = {{\n  handle(event) {{\n    \
         const n = snippetSetting('snippet');\n    SNIPPETS[n](event.val);\n    return {{ summary: `snippet ${{n}} ran` }};\n  }},\n}};\n",
        dispatch.join("\n")
    ));
    let path = dir.join("fragments.js");
    std::fs::write(&path, source).unwrap();
    let out = dir.join("fragments.wasm");
    componentize_js(&path, &out);
    for (i, block) in fragments.iter().enumerate() {
        runs_ok(&demo, &out, Some(i), &block.at);
    }
}

#[test]
fn python_scripts_run_on_a_real_export() {
    let demo = Demo::new();
    let export = demo.provhost(&["audit", "export", "--tenant", "demo"]);
    assert!(export.status.success() && !export.stdout.is_empty(), "{}", stderr(&export));
    let scripts = of("python", "script");
    assert!(!scripts.is_empty());
    for block in scripts {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("demo-audit.jsonl"), &export.stdout).unwrap();
        run(Command::new("python3").arg("-c").arg(&block.text).current_dir(dir.path()), &block.at);
    }
}

/// The `env:NAME` credentials a configuration names.
fn env_names(text: &str) -> Vec<String> {
    text.match_indices("\"env:").map(|(i, _)| text[i + 5..].split('"').next().unwrap().to_owned()).collect()
}

#[test]
fn toml_blocks_are_valid_configurations_and_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let configs = of("toml", "");
    assert!(configs.len() >= 5);
    for block in configs {
        let file = dir.path().join("provhost.toml");
        std::fs::write(&file, &block.text).unwrap();
        let mut check = Command::new(env!("CARGO_BIN_EXE_provhost"));
        check.arg("--config").arg(&file).args(["config", "check"]).env_remove("PROVHOST_CONFIG");
        for name in env_names(&block.text) {
            check.env(name, "set-for-the-docs-test");
        }
        let out = check.output().unwrap();
        assert!(out.status.success(), "{}: not a valid provhost.toml:\n{}{}", block.at, stderr(&out), block.text);
    }
    for block in of("toml", "plugin.toml") {
        if let Err(e) = provhost::manifest::Manifest::parse(Path::new("plugin.toml"), &block.text) {
            panic!("{}: not a valid manifest: {e}\n{}", block.at, block.text);
        }
    }
}

#[test]
fn json_blocks_parse() {
    for block in of("json", "") {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&block.text) {
            panic!("{}: not JSON: {e}", block.at);
        }
    }
}

/// The `provhost …` commands of a shell block, without the program name.
fn provhost_commands(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split(" #").next().unwrap())
        .flat_map(|l| l.split("&&").map(str::trim).map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|c| c.strip_prefix("provhost ").map(|rest| rest.split_whitespace().map(str::to_owned).collect()))
        .collect()
}

#[test]
fn shell_blocks_are_valid_and_their_provhost_commands_parse() {
    let blocks = of("sh", "");
    for block in blocks.iter().filter(|b| !b.text.contains("curl ")) {
        run(Command::new("bash").args(["-n", "-c", &block.text]), &format!("{}: bash -n", block.at));
        for args in provhost_commands(&block.text) {
            // `--help` after the arguments: provhost parses them and answers with help, running nothing.
            let out = Command::new(env!("CARGO_BIN_EXE_provhost")).args(&args).arg("--help").output().unwrap();
            assert!(
                out.status.success(),
                "{}: `provhost {}` does not parse:\n{}",
                block.at,
                args.join(" "),
                stderr(&out)
            );
        }
    }
}

/// The demo tenant as `examples/provhost.toml` configures it, the example plugins installed, served
/// on loopback.
fn example_server() -> (Demo, Server) {
    support::plugin("propagate-mail");
    let mut demo = Demo::new();
    let example = std::fs::read_to_string(repo().join("examples/provhost.toml")).unwrap();
    demo.configure(&example.replace("../plugins/target", &repo().join("plugins/target").display().to_string()));
    let server = Server::start(&demo, &[]);
    (demo, server)
}

#[test]
fn curl_examples_run_against_a_real_server() {
    let (demo, server) = example_server();
    let examples: Vec<Block> = of("sh", "").into_iter().filter(|b| b.text.contains("curl ")).collect();
    assert!(examples.len() >= 2);
    for block in examples {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &block.text])
            .current_dir(repo())
            .env("PROVHOST_URL", &server.base)
            .env("PROVHOST_KEY", &demo.key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: failed against {}:\n{}{}",
            block.at,
            server.base,
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }
}

/// What a block sends: the method, the path after the service's address, and the names of the
/// headers it sets (lowercase).
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    path: String,
    headers: BTreeSet<String>,
}

/// The path of a URL that starts with a variable holding the service's address (`$PROVHOST_URL`,
/// `$ProvhostUrl`): what follows the variable.
fn path_after_variable(url: &str) -> String {
    let url = url.trim_matches(|c| c == '"' || c == '\'');
    let rest = url.strip_prefix('$').unwrap_or_else(|| panic!("{url} does not start with the service's address"));
    rest[rest.find('/').unwrap_or(rest.len())..].to_owned()
}

/// Shell words, with single and double quotes taken off (no escapes or expansions: enough for the
/// words of a curl command).
fn words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => (quote, started) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            (_, c) => (word, started) = (word + &c.to_string(), true),
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The request the first `curl` of a shell block sends.
fn curl_request(text: &str) -> Request {
    let joined = text.replace("\\\n", " ");
    let line = joined.lines().find(|l| l.contains("curl ")).expect("a curl command");
    let command = line[line.find("curl ").unwrap()..].split(" | ").next().unwrap();
    let words = words(command);
    let (mut method, mut path, mut headers, mut data) = (None, None, BTreeSet::new(), false);
    for (i, word) in words.iter().enumerate() {
        let next = || words.get(i + 1).cloned().unwrap_or_default();
        match word.as_str() {
            "-X" | "--request" => method = Some(next()),
            "-H" | "--header" => {
                headers.insert(next().split(':').next().unwrap().trim().to_lowercase());
            }
            "-u" | "--user" => {
                headers.insert("authorization".to_owned());
            }
            "-d" | "--data" | "--data-binary" | "--data-raw" => data = true,
            w if w.starts_with("$PROVHOST_URL") => path = Some(path_after_variable(w)),
            _ => {}
        }
    }
    let method = method.unwrap_or_else(|| if data { "POST" } else { "GET" }.to_owned()).to_uppercase();
    Request { method, path: path.expect("a URL on $PROVHOST_URL"), headers }
}

/// The request a PowerShell block's `Invoke-RestMethod` sends: its `-Method`, `-Uri`, the keys of
/// the hashtable it passes as `-Headers`, and `-ContentType` as `content-type`.
fn powershell_request(text: &str) -> Request {
    let joined = text.replace("`\n", " ");
    let line = joined.lines().find(|l| l.contains("Invoke-RestMethod ")).expect("an Invoke-RestMethod call");
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |name: &str| {
        let i =
            words.iter().position(|w| w.eq_ignore_ascii_case(name)).unwrap_or_else(|| panic!("no {name} in {line}"));
        words[i + 1]
    };
    let mut headers = BTreeSet::new();
    if words.iter().any(|w| w.eq_ignore_ascii_case("-ContentType")) {
        headers.insert("content-type".to_owned());
    }
    let table = format!("{} = @{{", after("-Headers"));
    let start = text.find(&table).unwrap_or_else(|| panic!("no `{table}` with the headers"));
    for entry in text[start + table.len()..].lines().skip(1).take_while(|l| l.trim() != "}") {
        let name = entry.split('=').next().unwrap().trim().trim_matches('\'');
        headers.insert(name.to_lowercase());
    }
    Request { method: after("-Method").to_uppercase(), path: path_after_variable(after("-Uri")), headers }
}

#[test]
fn powershell_blocks_send_what_the_curl_block_after_them_sends() {
    let all = blocks();
    let mut checked = 0;
    for (i, block) in all.iter().enumerate().filter(|(_, b)| b.lang == "powershell") {
        let file = block.at.split(':').next().unwrap();
        let next = all.get(i + 1).filter(|n| n.at.starts_with(&format!("{file}:")) && n.lang == "sh");
        let curl = next.filter(|n| n.text.contains("curl ")).unwrap_or_else(|| {
            panic!("{}: a powershell block must be followed by an sh block with its curl", block.at)
        });
        let (sent, equivalent) = (powershell_request(&block.text), curl_request(&curl.text));
        assert!(sent.headers.contains("authorization"), "{}: {sent:?} sends no key", block.at);
        assert_eq!(
            sent, equivalent,
            "{}: the PowerShell (left) and {} (right) send different requests",
            block.at, curl.at
        );
        checked += 1;
    }
    assert!(checked >= 1);
}

/// The arguments an IdentityIQ step's script may read, with the values it runs with here.
const STEP_ARGUMENTS: [&str; 6] = ["provhostUrl", "provhostKey", "identityId", "oldMail", "newMail", "caseId"];

#[test]
fn java_steps_compile_and_run_against_a_real_server() {
    let (demo, server) = example_server();
    let william = "2c91808568c529c60168cca6f90c1313";
    let steps = of("java", "");
    assert!(!steps.is_empty());
    for (i, block) in steps.iter().enumerate() {
        for java_only in ["->", "::", "try (", "var "] {
            assert!(!block.text.contains(java_only), "{}: BeanShell does not run `{java_only}`", block.at);
        }
        let generic = block.text.as_bytes().windows(2).any(|w| w[0].is_ascii_alphanumeric() && w[1] == b'<');
        assert!(!generic, "{}: BeanShell does not run generics", block.at);
        let (imports, body): (Vec<&str>, Vec<&str>) = block.text.lines().partition(|l| l.starts_with("import "));
        let class = format!("Step{i}");
        let parameters: Vec<String> = STEP_ARGUMENTS.iter().map(|a| format!("String {a}")).collect();
        let arguments: Vec<String> = (0..STEP_ARGUMENTS.len()).map(|n| format!("args[{n}]")).collect();
        let source = format!(
            "// {at}\n{imports}\n\npublic class {class} {{\n    static Object step({parameters}) throws Exception {{\n{body}\n    }}\n\n    \
             public static void main(String[] args) throws Exception {{\n        System.out.println(step({arguments}));\n    }}\n}}\n",
            at = block.at,
            imports = imports.join("\n"),
            parameters = parameters.join(", "),
            body = indent(&body.join("\n"), "        "),
            arguments = arguments.join(", "),
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{class}.java")), source).unwrap();
        run(
            Command::new("javac").arg(format!("{class}.java")).current_dir(dir.path()),
            &format!("{}: javac", block.at),
        );
        let case = format!("case-{}", std::process::id());
        let values =
            [&server.base, &demo.key, william, "william.wilson@contoso.example", "w.wilson@contoso.example", &case];
        let out = run(Command::new("java").args(["-cp", ".", &class]).args(values).current_dir(dir.path()), &block.at);
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{}: the step returned no answer ({e}): {}", block.at, String::from_utf8_lossy(&out.stdout))
        });
        let runs = answer["invocations"].as_array().unwrap();
        assert!(
            runs.iter().any(|r| r["committed"] == true && !r["actions"].as_array().unwrap().is_empty()),
            "{}: {answer}",
            block.at
        );
    }
}

/// One table of the configuration reference: which file, its path (`<…>` segments as `x`),
/// whether it is an array of tables, the backend `kind` it is under, and the keys it lists.
#[derive(Debug)]
struct Table {
    heading: String,
    manifest: bool,
    path: String,
    array: bool,
    kind: Option<String>,
    keys: Vec<String>,
}

fn reference() -> Vec<Table> {
    let text = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let mut tables: Vec<Table> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            let kind = heading.split_once("kind = \"").map(|(_, k)| k.split('"').next().unwrap().to_owned());
            current.clear();
            for part in heading.split(", ") {
                let manifest = part.contains("plugin.toml");
                let Some(start) = part.find('`') else { continue };
                let token = part[start + 1..].split('`').next().unwrap();
                let (path, array) = match token.strip_prefix("[[") {
                    Some(p) => (p.trim_end_matches("]]"), true),
                    None => (token.trim_start_matches('[').trim_end_matches(']'), false),
                };
                let path = if path.ends_with(".toml") { "" } else { path };
                let path =
                    path.split('.').map(|s| if s.starts_with('<') { "x" } else { s }).collect::<Vec<_>>().join(".");
                current.push(tables.len());
                tables.push(Table {
                    heading: heading.into(),
                    manifest,
                    path,
                    array,
                    kind: kind.clone(),
                    keys: Vec::new(),
                });
            }
        } else if let Some(row) = line.strip_prefix("| `") {
            let key = row.split('`').next().unwrap().to_owned();
            for &i in &current {
                tables[i].keys.push(key.clone());
            }
        }
    }
    tables
}

/// The error provhost gives for `key = value` in the table, or `None` if it is taken.
fn probe(table: &Table, key: &str, value: &str) -> Option<String> {
    let mut text = String::new();
    let backend = "tenants.x.backend";
    if let Some(kind) = &table.kind {
        text.push_str(&format!("[{backend}]\nkind = \"{kind}\"\n"));
    }
    let in_backend_table = table.kind.is_some() && table.path == backend;
    if !table.path.is_empty() && !in_backend_table {
        text.push_str(&if table.array { format!("[[{}]]\n", table.path) } else { format!("[{}]\n", table.path) });
    }
    text.push_str(&format!("{key} = {value}\n"));
    let error = if table.manifest {
        provhost::manifest::Manifest::parse(Path::new("plugin.toml"), &text).err().map(|e| e.to_string())
    } else {
        provhost::config::Config::parse(Path::new("provhost.toml"), &text).err().map(|e| e.to_string())
    };
    error.map(|e| format!("{e}\n(from {text})"))
}

/// The keys a table takes, from provhost's own refusal of an unknown one.
fn keys_taken(table: &Table) -> BTreeSet<String> {
    let error = probe(table, "zz-probe", "1").unwrap_or_else(|| panic!("{}: an unknown key was taken", table.heading));
    let mut keys: BTreeSet<String> = match error.split_once("expected") {
        Some((_, expected)) => {
            expected.split("\n(from").next().unwrap().split('`').skip(1).step_by(2).map(str::to_owned).collect()
        }
        None if error.contains("there are no fields") => BTreeSet::new(),
        None => panic!("{}: {error}", table.heading),
    };
    if table.kind.is_some() && table.path == "tenants.x.backend" {
        keys.insert("kind".into());
    }
    keys
}

#[test]
fn the_configuration_reference_lists_every_key_and_only_keys_that_exist() {
    let tables = reference();
    assert!(tables.len() >= 20, "{tables:?}");
    let paths: BTreeSet<(bool, &str)> = tables.iter().map(|t| (t.manifest, t.path.as_str())).collect();
    for table in &tables {
        let listed: BTreeSet<String> = table.keys.iter().cloned().collect();
        assert_eq!(listed.len(), table.keys.len(), "{}: a key is listed twice", table.heading);
        assert_eq!(
            listed,
            keys_taken(table),
            "{}: the keys listed (left) are not the keys provhost takes (right)",
            table.heading
        );
        // A key whose value is a table, or a table of tables, has a section of its own.
        for key in table.keys.iter().filter(|k| *k != "kind") {
            let nested = |p: &str| if table.path.is_empty() { p.to_owned() } else { format!("{}.{p}", table.path) };
            let errors = [probe(table, key, "{ zz-probe = 1 }"), probe(table, key, "[{ zz-probe = 1 }]")];
            let errors: Vec<String> = errors.into_iter().flatten().collect();
            if errors.iter().any(|e| e.contains("unknown field `zz-probe`") || e.contains("missing field `kind`")) {
                assert!(
                    paths.contains(&(table.manifest, nested(key).as_str())),
                    "{}: `{key}` is a table with no section",
                    table.heading
                );
            } else if errors.iter().any(|e| e.contains("expected struct")) {
                let each = nested(&format!("{key}.x"));
                assert!(
                    paths.contains(&(table.manifest, each.as_str())),
                    "{}: `{key}` holds tables with no section",
                    table.heading
                );
            }
        }
    }
}

#[test]
fn the_limits_reference_states_provhosts_defaults_and_maxima() {
    let text = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let defaults = serde_json::to_value(provhost::limits::Limits::default()).unwrap();
    let maxima = serde_json::to_value(provhost::limits::Limits::MAXIMUM).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("### `[limits]`"))
        .skip(1)
        .take_while(|l| !l.starts_with("### "))
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), defaults.as_object().unwrap().len());
    for row in rows {
        let key = row[1].trim_matches('`');
        assert_eq!(row[3], defaults[key].to_string(), "default of {key}");
        assert_eq!(row[4], format!("up to {}", maxima[key]), "maximum of {key}");
    }
}
