//! Components that take more of the instance pool than a plugin needs: the hostile test plugin
//! with extra core module instances appended, each of a module that defines one empty memory (or
//! none), so that one instance of it holds hundreds of the engine's pool slots.

use std::path::{Path, PathBuf};

use wasmparser::{Parser, Payload};

/// `n` as unsigned LEB128.
fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A component section: its id, its size, its body.
fn section(id: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    leb(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// How many core modules the component's own (outermost) module index space holds.
fn modules_of(component: &[u8]) -> usize {
    let (mut depth, mut modules) = (0usize, 0);
    for payload in Parser::new(0).parse_all(component) {
        match payload.expect("the test plugin is valid") {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ModuleSection { .. } if depth == 1 => modules += 1,
            _ => {}
        }
    }
    modules
}

/// The hostile plugin with `extra` more core instances, each defining an empty memory when
/// `memories`, written with its manifest as `<dir>/<name>.wasm`; its path.
pub fn hoarding_plugin(dir: &Path, name: &str, extra: usize, memories: bool) -> PathBuf {
    let hostile = super::plugin("hostile");
    let mut bytes = std::fs::read(&hostile).unwrap();
    let module_index = modules_of(&bytes);
    let module = wat::parse_str(if memories { "(module (memory 0 0))" } else { "(module)" }).unwrap();
    bytes.extend(section(1, &module));
    let mut instances = Vec::new();
    leb(extra, &mut instances);
    for _ in 0..extra {
        instances.push(0x00);
        leb(module_index, &mut instances);
        leb(0, &mut instances);
    }
    bytes.extend(section(2, &instances));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    std::fs::copy(hostile.with_extension("toml"), path.with_extension("toml")).unwrap();
    path
}
