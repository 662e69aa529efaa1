//! The order of the core's own modules (docs/architecture.md, "Code map"): a module names only
//! the layers below it, so the module graph has no cycle. Cargo holds the arrows between crates;
//! this holds the ones inside the core, by plain reading: each `crate::<module>` a module's
//! source mentions outside comments and its test code (its `mod tests`, at the end of a file,
//! and `tests.rs` files: tests may drive a layer with the real ones above it).

use std::path::Path;

/// The layers, lowest first; the leaf facts do not name each other either.
const LAYERS: &[&[&str]] = &[
    &["kind", "status", "dates", "identity", "auth"],
    &["model"],
    &["payload"],
    &["limits"],
    &["table"],
    &["store"],
    &["archive"],
    &["record"],
    &["notify"],
    &["read"],
    &["recover"],
    &["stuck"],
    &["heartbeat"],
    &["webhook"],
    &["config"],
];

fn layer(module: &str) -> Option<usize> {
    // `crate::Kind` is `kind`'s, re-exported at the root.
    let module = if module == "Kind" { "kind" } else { module };
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The source files of a module: `<name>.rs` and everything under `<name>/`.
fn files(src: &Path, name: &str, out: &mut Vec<std::path::PathBuf>) {
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                out.push(path);
            }
        }
    }
}

#[test]
fn each_module_names_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    for (rank, modules) in LAYERS.iter().enumerate() {
        for module in *modules {
            let mut sources = Vec::new();
            files(&src, module, &mut sources);
            assert!(!sources.is_empty(), "no source for {module}");
            for path in sources {
                let text = std::fs::read_to_string(&path).expect("a module's source");
                let code = text.split("mod tests {").next().unwrap_or_default();
                let lines = code.lines().filter(|l| !l.trim_start().starts_with("//"));
                for line in lines {
                    for (at, _) in line.match_indices("crate::") {
                        let rest = &line[at + "crate::".len()..];
                        let end = rest
                            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .unwrap_or(rest.len());
                        let named = &rest[..end];
                        if layer(named).is_some_and(|l| l >= rank && named != *module) {
                            upward.push(format!("{}: crate::{named}", path.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "names a layer not below it:\n{}",
        upward.join("\n")
    );
}
