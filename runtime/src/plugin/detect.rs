//! Which world and which contract version a component targets, read from
//! the names of its imports and exports before anything is compiled.

use super::LoadError;
use omnify_registry::PluginKind;
use semver::Version;
use wasmparser::{Parser, Payload};

/// The newest contract version this host implements.
pub const CONTRACT_VERSION: Version = Version::new(1, 1, 0);

/// The contract's package.
const PACKAGE: &str = "omnify:plugin";

/// What every world imports from the contract.
const SHARED_IMPORTS: [&str; 6] = ["types", "log", "kv", "config", "secrets", "http"];

/// WASI packages the host links (with nothing granted).
const WASI_PACKAGES: [&str; 6] = [
    "wasi:cli",
    "wasi:clocks",
    "wasi:filesystem",
    "wasi:io",
    "wasi:random",
    "wasi:sockets",
];

/// The world and contract version a component targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Connector or agent.
    pub kind: PluginKind,
    /// The contract version of its export.
    pub contract: Version,
}

/// The top-level import and export names of a component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Import names, for example `omnify:plugin/kv@1.0.0`.
    pub imports: Vec<String>,
    /// Export names.
    pub exports: Vec<String>,
}

/// Read the top-level import and export names, refusing anything that is
/// not a component.
pub fn read_shape(bytes: &[u8]) -> Result<Shape, LoadError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    if !Parser::is_component(bytes) {
        return Err(LoadError::CoreModule);
    }
    let mut shape = Shape::default();
    // Nested modules and components have their own imports and exports;
    // only the outermost component's count.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| LoadError::Invalid(e.to_string()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| LoadError::Invalid(e.to_string()))?;
                    shape.imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| LoadError::Invalid(e.to_string()))?;
                    shape.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// An interface name split into package, interface and version.
struct InterfaceName<'a> {
    package: &'a str,
    interface: &'a str,
    version: Option<Version>,
}

fn split_name(name: &str) -> Option<InterfaceName<'_>> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(Version::parse(version).ok()?)),
        None => (name, None),
    };
    let (package, interface) = path.split_once('/')?;
    Some(InterfaceName {
        package,
        interface,
        version,
    })
}

/// Check that this host supports `version` of the contract.
fn check_version(version: Option<&Version>, name: &str) -> Result<Version, LoadError> {
    let Some(version) = version else {
        return Err(LoadError::UnsupportedContract {
            interface: name.to_string(),
            reason: "it has no version".into(),
        });
    };
    if version.major != CONTRACT_VERSION.major || !version.pre.is_empty() {
        return Err(LoadError::UnsupportedContract {
            interface: name.to_string(),
            reason: format!(
                "contract version {version} is not supported; this host runs {}.x plugins, up to {CONTRACT_VERSION}",
                CONTRACT_VERSION.major
            ),
        });
    }
    if version.minor > CONTRACT_VERSION.minor {
        return Err(LoadError::UnsupportedContract {
            interface: name.to_string(),
            reason: format!(
                "contract version {version} is newer than this host's {CONTRACT_VERSION}; upgrade the host"
            ),
        });
    }
    Ok(version.clone())
}

/// Decide the world and version from the exports, then check every import
/// against what that world offers.
pub fn target(shape: &Shape) -> Result<Target, LoadError> {
    let mut found: Option<Target> = None;
    for name in &shape.exports {
        let Some(parts) = split_name(name).filter(|p| p.package == PACKAGE) else {
            continue;
        };
        let kind = match parts.interface {
            "connector-api" => PluginKind::Connector,
            "agent-api" => PluginKind::Agent,
            _ => {
                return Err(LoadError::UnknownExport(name.clone()));
            }
        };
        let contract = check_version(parts.version.as_ref(), name)?;
        if found.as_ref().is_some_and(|t| t.kind != kind) {
            return Err(LoadError::TwoWorlds);
        }
        found = Some(Target { kind, contract });
    }
    let target = found.ok_or_else(|| LoadError::NoWorld {
        exports: shape.exports.clone(),
    })?;
    for name in &shape.imports {
        check_import(name, target.kind)?;
    }
    Ok(target)
}

fn check_import(name: &str, kind: PluginKind) -> Result<(), LoadError> {
    let unsupported = |reason: String| LoadError::UnsupportedImport {
        import: name.to_string(),
        reason,
    };
    let Some(parts) = split_name(name) else {
        return Err(unsupported(
            "the host provides only interfaces of omnify:plugin and WASI".into(),
        ));
    };
    if parts.package == PACKAGE {
        check_version(parts.version.as_ref(), name)?;
        let offered = SHARED_IMPORTS.contains(&parts.interface)
            || (kind == PluginKind::Agent && parts.interface == "data");
        return match (offered, parts.interface) {
            (true, _) => Ok(()),
            (false, "data") => Err(unsupported(
                "only agents may read synced data; this is a connector".into(),
            )),
            (false, _) => Err(unsupported(format!("the {kind} world has no such interface"))),
        };
    }
    if WASI_PACKAGES.contains(&parts.package) {
        return match parts.version {
            Some(v) if v.major == 0 && v.minor == 2 => Ok(()),
            _ => Err(unsupported("the host provides WASI 0.2 only".into())),
        };
    }
    if parts.package == "wasi:http" {
        return Err(unsupported("use omnify:plugin/http for outbound requests".into()));
    }
    Err(unsupported("the host does not provide it".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(imports: &[&str], exports: &[&str]) -> Shape {
        Shape {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn detects_world_and_version() {
        let target = target(&shape(
            &["omnify:plugin/kv@1.0.0", "wasi:io/streams@0.2.6"],
            &["omnify:plugin/connector-api@1.0.0"],
        ))
        .expect("supported");
        assert_eq!(target.kind, PluginKind::Connector);
        assert_eq!(target.contract, Version::new(1, 0, 0));
        let newest = super::target(&shape(
            &["omnify:plugin/data@1.1.0"],
            &["omnify:plugin/agent-api@1.1.0"],
        ))
        .expect("supported");
        assert_eq!(newest.contract, CONTRACT_VERSION);
    }

    #[test]
    fn refuses_what_the_host_does_not_support() {
        let cases: [(Shape, &str); 7] = [
            (shape(&[], &["run"]), "exports neither"),
            (
                shape(&[], &["omnify:plugin/connector-api@2.0.0"]),
                "2.0.0 is not supported",
            ),
            (
                shape(&[], &["omnify:plugin/agent-api@1.9.0"]),
                "newer than this host",
            ),
            (shape(&[], &["omnify:plugin/robot-api@1.0.0"]), "robot-api"),
            (
                shape(
                    &["omnify:plugin/data@1.0.0"],
                    &["omnify:plugin/connector-api@1.0.0"],
                ),
                "only agents",
            ),
            (
                shape(
                    &["acme:secret/backdoor@1.0.0"],
                    &["omnify:plugin/connector-api@1.0.0"],
                ),
                "acme:secret/backdoor",
            ),
            (
                shape(
                    &["wasi:http/outgoing-handler@0.2.0"],
                    &["omnify:plugin/agent-api@1.0.0"],
                ),
                "omnify:plugin/http",
            ),
        ];
        for (shape, expected) in cases {
            let error = target(&shape).expect_err(expected).to_string();
            assert!(error.contains(expected), "`{error}` should mention `{expected}`");
        }
    }

    #[test]
    fn refuses_bytes_that_are_not_a_component() {
        assert!(matches!(read_shape(b"hello"), Err(LoadError::NotWasm)));
        assert!(matches!(
            read_shape(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule)
        ));
    }
}
