//! The layering of this crate, checked on its syntax tree: each module may name only the layers
//! below it, so the module graph has no cycle and reads in one direction (docs/architecture.md, "Code map"), and
//! only the AWS adapters name the crates that the `aws` and `cli` features bring.
//!
//! The source is parsed (`syn`), from `lib.rs` down its `mod` declarations. Every `use` tree
//! (groups, nested groups, `self`, renames, globs) and every path (expressions, types, patterns,
//! bounds, and the tokens of macro calls) is resolved from the module it is written in: `crate::`,
//! `self::` and each `super::` to the top-level module it reaches. Test code (`#[cfg(test)]` items,
//! `#[test]` functions, a `mod tests;` file declared under `#[cfg(test)]`) may reach up, to drive a
//! layer with the real ones above it.

use proc_macro2::{Spacing, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Attribute, ImplItem, Item, Meta, TraitItem, UseTree};

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
    &["heartbeat"],
    &["webhook"],
    &["config"],
    &["fixtures"],
    &["aws", "proptests", "shapes", "layering"],
];

/// The module that may name the crates of the `aws` and `cli` features.
const ADAPTERS: &str = "aws";

/// The optional dependencies of shared/Cargo.toml, as Rust names them: the core builds without
/// them (the functions' `default-features = false`, the fuzz target), so only [`ADAPTERS`] may
/// name them. Every `aws_*` and `lambda_*` crate counts, listed or not.
const ADAPTER_CRATES: &[&str] = &[
    "tokio",
    "tracing_subscriber",
    "serde_dynamo",
    "hyper",
    "hyper_util",
    "hyper_rustls",
    "rustls",
    "http_body_util",
    "bytes",
    "clap",
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn adapter_crate(name: &str) -> bool {
    name.starts_with("aws_") || name.starts_with("lambda_") || ADAPTER_CRATES.contains(&name)
}

/// Whether an item exists only in test builds: `#[test]`, or a `cfg` that needs `test`.
fn test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        // `#[test]`, and the runtimes' own (`#[tokio::test]`).
        a.path().segments.last().is_some_and(|s| s.ident == "test")
            || (a.path().is_ident("cfg") && a.parse_args::<Meta>().is_ok_and(|m| needs_test(&m)))
    })
}

fn needs_test(meta: &Meta) -> bool {
    match meta {
        Meta::Path(p) => p.is_ident("test"),
        Meta::List(list) => {
            let Ok(inner) =
                list.parse_args_with(Punctuated::<Meta, syn::Token![,]>::parse_terminated)
            else {
                return false;
            };
            if list.path.is_ident("all") {
                inner.iter().any(needs_test)
            } else if list.path.is_ident("any") {
                !inner.is_empty() && inner.iter().all(needs_test)
            } else {
                false
            }
        }
        Meta::NameValue(_) => false,
    }
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// What the crate root declares: its modules, and the names it re-exports from them
/// (`pub use kind::Kind` makes `crate::Kind` a path into `kind`).
#[derive(Debug, Default)]
struct Root {
    modules: BTreeSet<String>,
    reexports: BTreeMap<String, String>,
}

impl Root {
    fn read(file: &syn::File) -> Root {
        let mut root = Root::default();
        for item in &file.items {
            match item {
                Item::Mod(m) => {
                    root.modules.insert(m.ident.to_string());
                }
                Item::Use(u) => {
                    let mut leaves = Vec::new();
                    use_paths(&u.tree, &mut Vec::new(), &mut leaves);
                    for (path, name) in leaves {
                        if let (Some(first), Some(name)) = (path.first(), name) {
                            root.reexports.insert(name, first.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        root
    }

    /// The top-level module a name at the crate root stands for.
    fn module_of(&self, name: &str) -> Option<String> {
        if self.modules.contains(name) {
            Some(name.to_owned())
        } else {
            self.reexports.get(name).cloned()
        }
    }
}

/// The paths a `use` tree names, each with the name it binds (none for a glob, whose path ends
/// in `*`).
fn use_paths(
    tree: &UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) if n.ident == "self" => {
            out.push((prefix.clone(), prefix.last().cloned()));
        }
        UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            out.push((path, Some(n.ident.to_string())));
        }
        UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push((path, Some(r.rename.to_string())));
        }
        UseTree::Glob(_) => {
            let mut path = prefix.clone();
            path.push("*".to_owned());
            out.push((path, None));
        }
        UseTree::Group(g) => {
            for tree in &g.items {
                use_paths(tree, prefix, out);
            }
        }
    }
}

/// What a path reaches outside the module it is written in.
#[derive(Debug, PartialEq, Eq)]
enum Reach {
    /// A top-level module of this crate.
    Module(String),
    /// Every module at once: a glob of the crate root.
    Root,
    /// A crate of the `aws` and `cli` features.
    AdapterCrate(String),
    /// A name at the crate root that is neither a module nor a re-export of one.
    Unknown(String),
    /// More `super`s than the module is deep.
    AboveTheCrate,
}

/// Checks one module's source: its own items, and its inline modules.
struct Checker<'a> {
    root: &'a Root,
    /// The module being read, from the crate root (`["notify", "render"]`).
    module: Vec<String>,
    /// Inside test code: not checked.
    test: usize,
    /// Where the files of the modules declared here (`mod x;`) are.
    dir: PathBuf,
    /// Those modules: their path, file directory and whether they are test code.
    declared: Vec<(Vec<String>, PathBuf, bool)>,
    wrong: Vec<String>,
}

impl<'a> Checker<'a> {
    fn new(root: &'a Root, module: &[&str], dir: PathBuf) -> Self {
        Checker {
            root,
            module: module.iter().map(|m| (*m).to_owned()).collect(),
            test: 0,
            dir,
            declared: Vec::new(),
            wrong: Vec::new(),
        }
    }

    /// Resolves a path written in the current module; `absolute` where its first segment is a
    /// crate's name or `crate`/`self`/`super` (a `use` tree, a leading `::`), not maybe a local
    /// name. `None`: nothing outside the module's own top-level module, a local name, or a crate
    /// that is not the adapters'.
    fn reach(&self, path: &[String], absolute: bool) -> Option<Reach> {
        let first = path.first()?;
        let from_root = |rest: &[String]| match rest.first().map(String::as_str) {
            None => None,
            Some("*") => Some(Reach::Root),
            Some(name) => Some(
                self.root
                    .module_of(name)
                    .map_or_else(|| Reach::Unknown(name.to_owned()), Reach::Module),
            ),
        };
        match first.as_str() {
            "crate" => from_root(&path[1..]),
            "self" | "super" => {
                let ups = path.iter().take_while(|s| *s == "super").count();
                let rest = &path[ups.max(1)..];
                let depth = if first == "self" {
                    self.module.len()
                } else {
                    self.module.len().checked_sub(ups)?
                };
                match (depth, self.module.first()) {
                    (0, _) => from_root(rest),
                    (_, Some(top)) => Some(Reach::Module(top.clone())),
                    (_, None) => None,
                }
            }
            name if (absolute || path.len() > 1) && adapter_crate(name) => {
                Some(Reach::AdapterCrate(name.to_owned()))
            }
            _ => None,
        }
    }

    fn check(&mut self, path: &[String], absolute: bool) {
        if self.test > 0 {
            return;
        }
        let Some(own) = self.module.first().cloned() else {
            // The crate root only declares and re-exports.
            return;
        };
        let supers = path.iter().take_while(|s| *s == "super").count();
        let reach = if supers > self.module.len() {
            Some(Reach::AboveTheCrate)
        } else {
            self.reach(path, absolute)
        };
        let written = path.join("::");
        let wrong = match reach {
            None => return,
            Some(Reach::Module(m)) if m == own => return,
            Some(Reach::AdapterCrate(_)) if own == ADAPTERS => return,
            Some(Reach::Module(m)) => match (layer(&m), layer(&own)) {
                (Some(theirs), Some(ours)) if theirs < ours => return,
                (Some(_), Some(_)) => format!("{written} reaches {m}, which is not below {own}"),
                (None, _) => format!("{written} reaches {m}, which is in no layer"),
                (_, None) => format!("{own} is in no layer: add it to LAYERS"),
            },
            Some(Reach::Root) => format!("{written} takes every module of the crate"),
            Some(Reach::AdapterCrate(c)) => {
                format!("{written} names {c}, a crate only {ADAPTERS} may use")
            }
            Some(Reach::Unknown(name)) => format!("{written}: {name} is no module of the crate"),
            Some(Reach::AboveTheCrate) => format!("{written} climbs above the crate"),
        };
        self.wrong
            .push(format!("{}: {wrong}", self.module.join("::")));
    }

    /// Paths in the tokens of a macro call, which `syn` leaves unparsed: `a::b::c` sequences.
    fn scan(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let separator = |i: usize| {
            matches!((tokens.get(i), tokens.get(i + 1)),
                (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                    if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':')
        };
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => {
                    self.scan(g.stream());
                    i += 1;
                }
                TokenTree::Ident(first) => {
                    let mut path = vec![first.to_string()];
                    let mut next = i + 1;
                    while separator(next) {
                        match tokens.get(next + 2) {
                            Some(TokenTree::Ident(segment)) => {
                                path.push(segment.to_string());
                                next += 3;
                            }
                            _ => break,
                        }
                    }
                    if path.len() > 1 {
                        self.check(&path, false);
                    }
                    i = next;
                }
                TokenTree::Punct(_) | TokenTree::Literal(_) => i += 1,
            }
        }
    }

    fn enter_test<F: FnOnce(&mut Self)>(&mut self, attrs: &[Attribute], f: F) {
        let test = test_only(attrs);
        self.test += usize::from(test);
        f(self);
        self.test -= usize::from(test);
    }
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        self.enter_test(item_attrs(item), |c| visit::visit_item(c, item));
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        let attrs: &[Attribute] = match item {
            ImplItem::Const(i) => &i.attrs,
            ImplItem::Fn(i) => &i.attrs,
            ImplItem::Type(i) => &i.attrs,
            ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        self.enter_test(attrs, |c| visit::visit_impl_item(c, item));
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        let attrs: &[Attribute] = match item {
            TraitItem::Const(i) => &i.attrs,
            TraitItem::Fn(i) => &i.attrs,
            TraitItem::Type(i) => &i.attrs,
            TraitItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        self.enter_test(attrs, |c| visit::visit_trait_item(c, item));
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let name = item.ident.to_string();
        let dir = self.dir.join(&name);
        match &item.content {
            None => {
                let mut module = self.module.clone();
                module.push(name);
                self.declared.push((module, dir, self.test > 0));
            }
            Some(_) => {
                let outer = std::mem::replace(&mut self.dir, dir);
                self.module.push(name);
                visit::visit_item_mod(self, item);
                self.module.pop();
                self.dir = outer;
            }
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        use_paths(&item.tree, &mut Vec::new(), &mut paths);
        for (path, _) in paths {
            self.check(&path, true);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.check(&segments, path.leading_colon.is_some());
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        self.scan(mac.tokens.clone());
    }
}

fn parse(path: &Path) -> syn::File {
    let source =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    syn::parse_file(&source).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The file of module `x` declared in a module whose submodules live in `dir`.
fn module_file(dir: &Path) -> PathBuf {
    let flat = dir.with_extension("rs");
    if flat.is_file() {
        flat
    } else {
        dir.join("mod.rs")
    }
}

/// The crate read from `lib.rs` down: what is wrong, and every file read.
fn check_crate(src: &Path) -> (Vec<String>, BTreeSet<PathBuf>) {
    let lib = src.join("lib.rs");
    let file = parse(&lib);
    let root = Root::read(&file);
    let mut wrong: Vec<String> = root
        .modules
        .iter()
        .filter(|m| layer(m).is_none())
        .map(|m| format!("module {m} is in no layer: add it to LAYERS"))
        .collect();
    let mut read = BTreeSet::from([lib]);
    let mut checker = Checker::new(&root, &[], src.to_owned());
    checker.visit_file(&file);
    let mut pending = checker.declared;
    while let Some((module, dir, test)) = pending.pop() {
        let path = module_file(&dir);
        assert!(
            path.is_file(),
            "mod {}: no file {}",
            module.join("::"),
            path.display()
        );
        let file = parse(&path);
        read.insert(path);
        let names: Vec<&str> = module.iter().map(String::as_str).collect();
        let mut checker = Checker::new(&root, &names, dir);
        checker.test = usize::from(test);
        checker.visit_file(&file);
        wrong.extend(checker.wrong);
        pending.extend(checker.declared);
    }
    (wrong, read)
}

#[test]
fn imports_only_go_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (wrong, read) = check_crate(&src);
    assert!(wrong.is_empty(), "against the layering: {wrong:#?}");
    // Every source file of the library was read: none escaped the walk (`src/bin` is the CLI's
    // own crate).
    let mut dirs = vec![src.clone()];
    let mut unread = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir").flatten() {
            let path = entry.path();
            if path.is_dir() && path != src.join("bin") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !read.contains(&path) {
                unread.push(path);
            }
        }
    }
    assert!(unread.is_empty(), "files no `mod` declares: {unread:#?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the checker finds in `source` as module `module` of this crate.
    fn wrong(module: &[&str], source: &str) -> Vec<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let root = Root::read(&parse(&src.join("lib.rs")));
        let mut checker = Checker::new(&root, module, src);
        checker.visit_file(&syn::parse_file(source).expect("rust"));
        checker.wrong
    }

    #[test]
    fn a_group_at_the_crate_root_is_read_name_by_name() {
        let found = wrong(&["table"], "use crate::{status, aws};");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("crate::aws reaches aws"), "{found:?}");
        assert!(wrong(&["table"], "use crate::{status, dates};").is_empty());
    }

    #[test]
    fn nested_groups_self_and_renames_are_resolved() {
        let found = wrong(
            &["table"],
            "use crate::{status::{Severity, lookup}, notify::{self as n, render::{Notifier}}};",
        );
        assert_eq!(
            found.len(),
            2,
            "notify and notify::render::Notifier: {found:?}"
        );
        assert!(
            found.iter().all(|w| w.contains("reaches notify")),
            "{found:?}"
        );
        assert!(wrong(
            &["notify"],
            "use crate::{status::{self, Severity}, table::{self, PK}};"
        )
        .is_empty());
    }

    #[test]
    fn super_is_resolved_from_the_module_it_is_written_in() {
        let climb = wrong(&["notify", "render"], "use super::super::recover::Mode;");
        assert_eq!(climb.len(), 1, "{climb:?}");
        assert!(climb[0].contains("reaches recover"), "{climb:?}");
        // Within notify: its own.
        assert!(wrong(&["notify", "render"], "use super::{attr, batch::Deadline};").is_empty());
        // From a top-level module, super is the crate root.
        assert_eq!(wrong(&["read"], "use super::webhook::Webhook;").len(), 1);
        assert_eq!(
            wrong(&["read"], "use super::*;").len(),
            1,
            "every module at once"
        );
        assert_eq!(wrong(&["read"], "fn f() { super::super::x(); }").len(), 1);
        // An inline module is one level deeper.
        let inline = "mod inner { use super::super::aws::lambda; }";
        assert_eq!(wrong(&["read"], inline).len(), 1);
    }

    #[test]
    fn full_paths_are_checked_wherever_they_are_written() {
        for source in [
            "fn f() { crate::aws::lambda::init_logging(); }",
            "fn f(_: &crate::recover::Mode) {}",
            "fn f() -> Vec<crate::webhook::Answer> { Vec::new() }",
            "impl crate::webhook::Thing for X {}",
            "fn f() { let crate::config::X { a } = y; }",
            "fn f() { tracing::info!(x = ?crate::webhook::LOG_LINE, \"{}\", 1); }",
            "fn f() { assert!(vec![crate::stuck::DONE].is_empty()); }",
        ] {
            let found = wrong(&["read"], source);
            assert_eq!(found.len(), 1, "{source}: {found:?}");
        }
        // Below read, written the same ways: fine.
        assert!(wrong(
            &["read"],
            "fn f() { crate::table::x(); tracing::info!(a = %crate::notify::X); }"
        )
        .is_empty());
    }

    #[test]
    fn only_the_adapters_name_the_crates_of_the_aws_feature() {
        for source in [
            "use tokio::time::sleep;",
            "use tokio;",
            "use aws_sdk_dynamodb::{types::AttributeValue, self as dynamo};",
            "fn f() { let _ = ::lambda_runtime::Error::from(\"x\"); }",
            "fn f() -> hyper::Uri { loop {} }",
            "async fn f() { tokio::time::sleep(d).await; }",
        ] {
            assert!(!wrong(&["store"], source).is_empty(), "{source}");
            assert!(wrong(&["aws", "dynamo"], source).is_empty(), "{source}");
        }
        // A local name that happens to be spelled like one, alone, is no path into it.
        assert!(wrong(&["store"], "fn f(bytes: &[u8]) -> usize { bytes.len() }").is_empty());
    }

    #[test]
    fn test_code_may_reach_up() {
        for source in [
            "#[cfg(test)] mod tests { use crate::aws::lambda; fn f() { crate::webhook::x(); } }",
            "#[cfg(all(test, feature = \"aws\"))] use crate::aws::lambda;",
            "#[test] fn t() { crate::aws::lambda::init_logging(); }",
            "impl X { #[cfg(test)] fn t() { tokio::spawn(f()); } }",
        ] {
            assert!(wrong(&["read"], source).is_empty(), "{source}");
        }
        // Not test code: a feature gate, or any(test, ...).
        assert_eq!(
            wrong(
                &["read"],
                "#[cfg(feature = \"aws\")] use crate::aws::lambda;"
            )
            .len(),
            1
        );
        assert_eq!(
            wrong(
                &["read"],
                "#[cfg(any(test, feature = \"x\"))] use crate::aws::lambda;"
            )
            .len(),
            1
        );
    }

    #[test]
    fn root_reexports_and_unknown_names() {
        // `crate::Kind` is kind's: a leaf, below table, and not below status (the same layer).
        assert!(wrong(&["table"], "use crate::Kind;").is_empty());
        assert_eq!(wrong(&["status"], "use crate::Kind;").len(), 1);
        assert_eq!(wrong(&["table"], "use crate::nothing::X;").len(), 1);
    }
}
