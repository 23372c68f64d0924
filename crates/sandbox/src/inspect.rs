//! Reading a component before compiling it: is it a provhost plugin, and for which API version.

use wasmparser::{Encoding, Parser, Payload};

/// The WIT package versions this provhost loads, oldest first; one host serves all of them side
/// by side.
pub const SUPPORTED_API_VERSIONS: &[&str] = crate::bindings::API_VERSIONS;

/// The custom section the Rust SDK writes the API version into.
pub const API_VERSION_SECTION: &str = "provhost:api-version";

const HANDLER_EXPORT: &str = "provhost:plugin/handler@";

/// What was learned from a component's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The provhost API version it was built against.
    pub api_version: String,
}

/// Why a file is not a plugin this provhost can load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// Not WebAssembly at all.
    #[error("is not a WebAssembly file: {0}")]
    NotWasm(String),
    /// A core module, not a component.
    #[error(
        "is a core WebAssembly module, not a component; build it for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// A component that does not export the handler.
    #[error(
        "is a component but not a provhost plugin: it does not export `provhost:plugin/handler` (world `provhost:plugin/plugin`)"
    )]
    NoHandler,
    /// Built against an API version this provhost does not load.
    #[error("was built for provhost plugin API {found}, but this provhost supports {}; rebuild it against a supported version", SUPPORTED_API_VERSIONS.join(", "))]
    Unsupported {
        /// The version the plugin declares.
        found: String,
    },
}

/// Reads the component's header, custom sections and exports without compiling anything. The
/// SDK's custom section is preferred; components from other languages are recognised by the
/// versioned name of their handler export.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let mut section_version = None;
    let mut export_version = None;
    let mut first = true;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::NotWasm(e.message().to_string()))?;
        match payload {
            Payload::Version { encoding, .. } if first => {
                first = false;
                if encoding != Encoding::Component {
                    return Err(InspectError::CoreModule);
                }
            }
            Payload::CustomSection(section) if section.name() == API_VERSION_SECTION => {
                section_version = Some(String::from_utf8_lossy(section.data()).trim().to_string());
            }
            Payload::ComponentExportSection(exports) => {
                for export in exports {
                    let export = export.map_err(|e| InspectError::NotWasm(e.message().to_string()))?;
                    if let Some(version) = export.name.name.strip_prefix(HANDLER_EXPORT) {
                        export_version = Some(version.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let Some(export_version) = export_version else {
        return Err(InspectError::NoHandler);
    };
    let api_version = section_version.unwrap_or(export_version);
    if !SUPPORTED_API_VERSIONS.contains(&api_version.as_str()) {
        return Err(InspectError::Unsupported { found: api_version });
    }
    Ok(Inspection { api_version })
}

/// The names a component imports and exports at its top level.
pub fn interface(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), InspectError> {
    let (mut imports, mut exports, mut depth) = (Vec::new(), Vec::new(), 0usize);
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::NotWasm(e.message().to_string()))?;
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    imports
                        .push(import.map_err(|e| InspectError::NotWasm(e.message().to_string()))?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    exports
                        .push(export.map_err(|e| InspectError::NotWasm(e.message().to_string()))?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// What provhost does with an import: `provided`, `denied` (linked, but nothing is granted) or
/// `missing` (instantiation fails); and why.
pub fn import_status(name: &str) -> (&'static str, &'static str) {
    let interface = name.split('@').next().unwrap_or(name);
    match interface.split('/').next().unwrap_or("") {
        "provhost:plugin" if SUPPORTED_API_VERSIONS.iter().any(|v| name.ends_with(&format!("@{v}"))) => {
            ("provided", "provhost's contract")
        }
        "provhost:plugin" => ("missing", "another version of provhost's contract"),
        "wasi:cli" | "wasi:io" | "wasi:clocks" | "wasi:random" => {
            ("provided", "WASI; no environment, arguments or stdin, output captured")
        }
        "wasi:filesystem" => ("denied", "linked, but no directory is granted: file access fails"),
        "wasi:sockets" => ("denied", "linked, but no network is granted: connections fail"),
        "wasi:http" => ("missing", "provhost plugins have no HTTP: the plugin will not load"),
        _ => ("missing", "provhost does not provide it: the plugin will not load"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_core_modules_are_refused_with_what_they_are() {
        assert!(matches!(inspect(b"hello"), Err(InspectError::NotWasm(_))));
        let core_module = b"\0asm\x01\0\0\0";
        assert_eq!(inspect(core_module), Err(InspectError::CoreModule));
    }

    #[test]
    fn an_empty_component_is_not_a_plugin() {
        let empty_component = b"\0asm\x0d\0\x01\0";
        assert_eq!(inspect(empty_component), Err(InspectError::NoHandler));
    }

    #[test]
    fn imports_are_classified() {
        assert_eq!(import_status("provhost:plugin/actions@0.1.0").0, "provided");
        assert_eq!(import_status("provhost:plugin/settings@0.2.0").0, "provided");
        assert_eq!(import_status("provhost:plugin/actions@0.3.0").0, "missing");
        assert_eq!(import_status("wasi:cli/stdout@0.2.6").0, "provided");
        assert_eq!(import_status("wasi:filesystem/preopens@0.2.0").0, "denied");
        assert_eq!(import_status("wasi:http/outgoing-handler@0.2.0").0, "missing");
        assert_eq!(import_status("acme:thing/api").0, "missing");
    }

    #[test]
    fn unsupported_versions_name_both_versions() {
        let err = InspectError::Unsupported { found: "9.0.0".into() }.to_string();
        assert!(err.contains("9.0.0") && err.contains("0.1.0"), "{err}");
    }
}
