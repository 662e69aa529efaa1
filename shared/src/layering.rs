//! The layering of this crate, checked: each module may import only the layers below it, so the
//! module graph has no cycle and reads in one direction (README, "Layout"). Test modules
//! (`#[cfg(test)] mod tests`) may reach up, to drive a layer with the real ones above it.

/// The layers, lowest first; a module may import any module of a lower layer and its own
/// submodules. `fixtures` (test material) and the AWS adapters sit above everything.
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
    &["webhook"],
    &["config"],
    &["fixtures"],
    &["aws", "proptests", "shapes", "layering"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules a source file names through `crate::`, outside its test module.
fn imports(source: &str) -> Vec<String> {
    let production = source
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default()
        .split("#[cfg(test)]\npub(crate) mod tests")
        .next()
        .unwrap_or_default();
    let mut found = Vec::new();
    for (i, _) in production.match_indices("crate::") {
        let rest = &production[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

#[test]
fn imports_only_go_down() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.clone()];
    let mut sources = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("src dir").flatten() {
                files.push(entry.path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            sources.push(path);
        }
    }
    let mut wrong = Vec::new();
    for path in &sources {
        let relative = path.strip_prefix(&root).expect("under src");
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|m| m.trim_end_matches(".rs").to_owned())
            .unwrap_or_default();
        // A test module in a file of its own (`mod tests;`) may reach up, as an inline one may.
        let test_file = relative.file_name().is_some_and(|f| f == "tests.rs");
        if module == "lib" || module == "bin" || test_file {
            continue;
        }
        let own = layer(&module)
            .unwrap_or_else(|| panic!("module {module} is in no layer: add it to LAYERS"));
        let source = std::fs::read_to_string(path).expect("source");
        for import in imports(&source) {
            if import == module {
                continue;
            }
            let theirs = layer(&import).unwrap_or_else(|| {
                panic!(
                    "{} imports {import}, which is in no layer",
                    relative.display()
                )
            });
            if theirs >= own {
                wrong.push(format!("{} imports {import}", relative.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering: {wrong:#?}");
}
