//! Every dependency is built with one feature set, whichever cargo invocation of the project
//! runs first: the functions under `cargo lambda watch` (one package each), the local stack
//! (`cargo run -p integration-tests`), the notices printer, the tests (`cargo test --workspace`)
//! and the benchmarks. A feature set that differs in one of them compiles the crate and all that
//! depends on it once more (the AWS SDK over a tokio with other features, for one). The
//! workspace-hack crate (kept by `cargo hakari generate`) holds the union; this test fails when a
//! change of dependencies needs it regenerated. A second test holds the layers' dependency trees:
//! no AWS, Lambda or tokio crate in the core's, nothing of the CLI in a function's. A third keeps
//! `cargo test` from building harnesses that would run nothing, without losing a test.

use crate::moto::project_root;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// What may differ, and why: the CLI's credential chain (SSO, `credential_process`) stays out of
/// the functions, so aws-config (a leaf: only the crate and the tests build on it) is built twice.
const APART: [(&str, &[&str]); 1] = [("aws-config ", &["credentials-process", "sso"])];

/// The functions' packages (functions/*), each built alone by `cargo lambda`.
const FUNCTIONS: [&str; 7] = [
    "shipments",
    "returns",
    "orders",
    "notifier",
    "reconciler",
    "stuck",
    "drain",
];

/// What `cargo <args>` prints on stdout, run in the project's root by the cargo running the tests.
fn cargo(args: &[&str]) -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(project_root())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Each third-party package (name and version) with its features, as `cargo tree` resolves them
/// for `args`.
fn features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut tree = vec!["tree", "--locked", "-f", "{p}|{f}", "--prefix", "none"];
    tree.extend(args);
    let mut packages = BTreeMap::new();
    for line in String::from_utf8_lossy(&cargo(&tree)).lines() {
        let Some((package, list)) = line.split_once('|') else {
            continue;
        };
        // Workspace members carry their path ("qapla v0.1.0 (/…/shared)"); their own features
        // are the functions' choice and stay apart.
        if package.contains(" (/") || package.contains(" (.") {
            continue;
        }
        let name = package
            .trim_end_matches(" (*)")
            .trim_end_matches(" (proc-macro)")
            .to_owned();
        let list = list.trim_end_matches(" (*)");
        packages
            .entry(name)
            .or_insert_with(BTreeSet::new)
            .extend(list.split(',').filter(|f| !f.is_empty()).map(str::to_owned));
    }
    packages
}

#[test]
fn every_invocation_builds_each_dependency_with_the_same_features() {
    let workspace = features(&["--workspace"]);
    assert!(
        workspace.keys().any(|p| p.starts_with("aws-sdk-dynamodb ")),
        "{workspace:?}"
    );
    let mut invocations: Vec<(String, Vec<&str>)> = FUNCTIONS
        .iter()
        .map(|f| {
            (
                format!("cargo lambda watch: {f}"),
                vec!["-e", "no-dev", "-p", f],
            )
        })
        .collect();
    invocations.extend([
        (
            "make local: cargo run -p integration-tests".into(),
            vec!["-e", "no-dev", "-p", "integration-tests"],
        ),
        (
            "the notices printer: cargo run -p qapla-aws --example notices".into(),
            vec!["-p", "qapla-aws"],
        ),
        (
            "make bench-smoke: cargo build -p shipments -p floor".into(),
            vec!["-e", "no-dev", "-p", "shipments", "-p", "floor"],
        ),
        (
            "the CLI: cargo run -p qapla-cli --bin qapla".into(),
            vec!["-e", "no-dev", "-p", "qapla-cli"],
        ),
        (
            "the system bench: cargo test -p integration-tests --bench system".into(),
            vec!["-p", "integration-tests"],
        ),
        // The core bench runs as `cargo bench --workspace --bench core`: the workspace's
        // features, since the core takes no workspace-hack (its tree holds no SDK and no tokio).
    ]);
    let mut differ = Vec::new();
    for (name, args) in &invocations {
        for (package, set) in features(args) {
            match workspace.get(&package) {
                Some(all) if *all == set => {}
                Some(all)
                    if APART.iter().any(|(name, features)| {
                        package.starts_with(name)
                            && all
                                .difference(&set)
                                .map(String::as_str)
                                .eq(features.iter().copied())
                    }) => {}
                Some(all) => differ.push(format!(
                    "{name}: {package} without {:?}",
                    all.difference(&set).collect::<Vec<_>>()
                )),
                None => differ.push(format!("{name}: {package}, not in the workspace's build")),
            }
        }
    }
    assert!(
        differ.is_empty(),
        "dependencies built with other features than `cargo test --workspace` gives them \
         (regenerate the workspace-hack: cargo hakari generate && cargo hakari manage-deps):\n{}",
        differ.join("\n")
    );
}

/// The names of the packages in `package`'s normal dependency tree (what its build links).
fn normal_tree(package: &str) -> BTreeSet<String> {
    let tree = cargo(&[
        "tree", "--locked", "-e", "normal", "-f", "{p}", "--prefix", "none", "-p", package,
    ]);
    String::from_utf8_lossy(&tree)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The layers are crates, and Cargo keeps their arrows: the core (`qapla`) links no AWS SDK, no
/// Lambda runtime and no tokio; a function links nothing of the operator CLI (its arguments, the
/// stack's outputs), directly or through the workspace-hack.
#[test]
fn each_layer_links_only_what_it_may() {
    let core: Vec<String> = normal_tree("qapla")
        .into_iter()
        .filter(|p| p.starts_with("aws-sdk-") || p.starts_with("lambda_") || p.starts_with("tokio"))
        .collect();
    assert!(core.is_empty(), "the core links {core:?}");
    for function in FUNCTIONS {
        let tree = normal_tree(function);
        assert!(tree.contains("qapla-aws"), "{function}: {tree:?}");
        let cli: Vec<&String> = tree
            .iter()
            .filter(|p| {
                p.starts_with("clap") || *p == "aws-sdk-cloudformation" || *p == "qapla-cli"
            })
            .collect();
        assert!(cli.is_empty(), "{function} links the CLI's {cli:?}");
    }
}

/// Targets whose Cargo.toml says `doctest = false` or `test = false` build no doctest or test
/// harness under `cargo test` (each one a compile and a link of its own). This holds them to it:
/// a doc example or a test written there later would never run, so it fails here instead.
#[test]
fn no_test_is_left_in_a_target_cargo_does_not_test() {
    let metadata = cargo(&["metadata", "--locked", "--no-deps", "--format-version", "1"]);
    let metadata: serde_json::Value =
        serde_json::from_slice(&metadata).expect("cargo metadata's JSON");
    let targets = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .flat_map(|package| package["targets"].as_array().expect("targets"));
    let mut untested = Vec::new();
    let mut opted_out = 0;
    for target in targets {
        let kinds = target["kind"].to_string();
        let (lib, bin) = (kinds.contains("\"lib\""), kinds.contains("\"bin\""));
        let no_doctest = lib && target["doctest"] == false;
        let no_test = (lib || bin) && target["test"] == false;
        if !no_doctest && !no_test {
            continue;
        }
        opted_out += 1;
        let src = std::path::PathBuf::from(target["src_path"].as_str().expect("src_path"));
        // A library is its directory; a bin's main, its one file (an out-of-line module could
        // hold tests of its own: such a bin keeps its harness).
        let files = if lib {
            rust_files(src.parent().expect("a lib's directory"))
        } else {
            vec![src]
        };
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for line in text.lines().map(str::trim_start) {
                let doc = line.starts_with("///") || line.starts_with("//!");
                if no_doctest && doc && line.contains("```") {
                    untested.push(format!(
                        "{}: a doc example (doctest = false)",
                        file.display()
                    ));
                }
                let test = line.starts_with("#[test]")
                    || line.starts_with("#[cfg(test)]")
                    || line.starts_with("#[tokio::test")
                    || (bin
                        && (line.starts_with("mod ") || line.starts_with("pub mod "))
                        && line.ends_with(';'));
                if no_test && test {
                    untested.push(format!(
                        "{}: a test or a module (test = false)",
                        file.display()
                    ));
                }
            }
        }
    }
    // The libraries of the core, the adapters, the CLI, the tests and the workspace-hack, the
    // seven functions, the floor, the CLI's and two of the tests' binaries.
    assert!(
        opted_out >= 15,
        "only {opted_out} targets opt out: Cargo.toml files moved?"
    );
    assert!(
        untested.is_empty(),
        "never run by cargo test:\n{}",
        untested.join("\n")
    );
}

/// The `.rs` files under `dir`, at any depth.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}
