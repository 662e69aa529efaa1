//! The documentation as a test: every relative link of README.md, CHANGELOG.md and docs/*.md names
//! a file that exists, and a `#anchor` a heading of its page; the notification schema refuses
//! what is no v1 document, and every JSON example of the notifications page is one; every path
//! the code map of docs/architecture.md names exists.

use integration_tests::notification_schema::{check, violations};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

/// The pages whose links are checked.
fn pages() -> Vec<PathBuf> {
    let root = repo();
    let mut pages = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("an entry of docs/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "docs/ has no page");
    pages.extend(docs);
    pages
}

/// The lines of a Markdown page outside fenced code blocks, with their numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((n + 1, line));
        }
    }
    out
}

/// A line without its inline code spans (a `[x](y)` inside backticks is no link).
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The targets of the inline links and images of a line, `[text](target)` and
/// `![alt](target)`, and of a reference definition `[name]: target`.
fn targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut out = Vec::new();
    if let Some(rest) = line.trim_start().strip_prefix('[') {
        if let Some((_, target)) = rest.split_once("]: ") {
            out.push(target.trim().to_owned());
        }
    }
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        out.push(target.to_owned());
        rest = &after[end..];
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation left out, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings, a repeated one numbered as GitHub numbers it (`x`, `x-1`).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// Every dead relative link of one page, as `page:line: target (why)`.
fn dead_links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let dir = page.parent().expect("a page's folder");
    let name = page
        .strip_prefix(repo())
        .unwrap_or(page)
        .display()
        .to_string();
    let mut dead = Vec::new();
    for (n, line) in prose(&text) {
        for target in targets(line) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let file = if file.is_empty() {
                page.to_path_buf()
            } else {
                dir.join(file)
            };
            if !file.exists() {
                dead.push(format!("{name}:{n}: {target} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let heads = std::fs::read_to_string(&file).map(|t| anchors(&t));
                if !heads.is_ok_and(|h| h.contains(anchor)) {
                    dead.push(format!("{name}:{n}: {target} (no such heading)"));
                }
            }
        }
    }
    dead
}

#[test]
fn every_relative_link_of_the_docs_names_a_file_and_a_heading_that_exist() {
    let pages = pages();
    let dead: Vec<String> = pages.iter().flat_map(|p| dead_links(p)).collect();
    assert!(dead.is_empty(), "dead links:\n  {}", dead.join("\n  "));
    // Each page of docs/ is reachable from the README.
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let linked: BTreeSet<String> = prose(&readme)
        .into_iter()
        .flat_map(|(_, l)| targets(l))
        .collect();
    for page in &pages[1..] {
        let rel = page.strip_prefix(repo()).expect("in the repository");
        let rel = rel.to_string_lossy();
        assert!(
            linked.iter().any(|t| t.split('#').next() == Some(&*rel)),
            "README.md does not link {rel}"
        );
    }
}

#[test]
fn the_link_checker_finds_a_dead_file_and_a_dead_anchor() {
    let dir = std::env::temp_dir().join(format!("qapla-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let page = dir.join("page.md");
    std::fs::write(
        &page,
        "# A page\n## Second: `part` (two)\n[ok](#second-part-two) [self](page.md#a-page)\n\
         [gone](missing.md) [nowhere](#no-such-heading) `[code](missing.md)`\n\
         ```\n[fenced](missing.md)\n```\n",
    )
    .expect("the page");
    let mut dead = dead_links(&page);
    dead.sort();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead[0].ends_with("#no-such-heading (no such heading)"),
        "{dead:?}"
    );
    assert!(dead[1].ends_with("missing.md (no such file)"), "{dead:?}");
}

/// The repository paths a text names in backquotes: a span with a `/` or a file's extension,
/// without spaces, placeholders (`<webhook>`), globs or `::` (a Rust path is no file). A bare
/// file name (`rule.rs`) is under the last folder named before it in its paragraph or list item
/// (`shared/src/stuck/`).
fn named_paths(text: &str) -> Vec<String> {
    let mut folder = String::new();
    let mut out = Vec::new();
    for span in text.split('`').skip(1).step_by(2) {
        if span.contains([' ', '<', '*']) || span.contains("::") {
            continue;
        }
        let file = [".rs", ".toml", ".yaml", ".md", ".json", ".sh", ".py"]
            .iter()
            .any(|e| span.ends_with(e));
        if span.ends_with('/') {
            folder = span.to_owned();
            out.push(span.to_owned());
        } else if span.contains('/') {
            out.push(span.to_owned());
        } else if file {
            out.push(format!("{folder}{span}"));
        }
    }
    out
}

#[test]
fn every_path_the_code_map_names_exists() {
    let page = std::fs::read_to_string(repo().join("docs/architecture.md")).expect("the page");
    let start = page.find("\n## Code map\n").expect("a Code map section");
    let section = &page[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)];
    // Paragraphs, headings and list items, each read on its own.
    let mut blocks: Vec<String> = Vec::new();
    for line in section.lines() {
        let head = line.trim_start();
        let starts = head.is_empty()
            || head.starts_with(['-', '#'])
            || head
                .split_once(". ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
        match blocks.last_mut() {
            Some(block) if !starts => block.push_str(line),
            _ => blocks.push(line.to_owned()),
        }
        if let Some(block) = blocks.last_mut() {
            block.push('\n');
        }
    }
    let named: Vec<String> = blocks.iter().flat_map(|b| named_paths(b)).collect();
    // The map names each crate's sources, the entry points and the layers' tests.
    for expected in [
        "shared/src/lib.rs",
        "shared/aws/src/dynamo.rs",
        "shared/cli/src/main.rs",
        "tests/bin/local/main.rs",
    ] {
        assert!(
            named.iter().any(|p| p == expected),
            "the map does not name {expected}"
        );
    }
    let missing: Vec<&String> = named
        .iter()
        .filter(|p| !repo().join(p.as_str()).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "the code map names paths that do not exist: {missing:?}"
    );
    assert_eq!(
        named_paths("`a/b.rs` `qapla::store` `x.toml` `<c>/d` `e f/g` `plain` `h/` `i.rs`"),
        ["a/b.rs", "x.toml", "h/", "h/i.rs"]
    );
}

/// A valid document of each event type, as the notifier renders them.
fn status_change() -> Value {
    json!({
        "schema": "qapla-webhooks/notification/v1",
        "id": "dd47c7f2595f0c1373958ff4c686a43b",
        "event": "shipment.status_changed",
        "channel": "shop-it",
        "severity": "exception",
        "receivedAt": "2026-03-02T08:41:10Z",
        "shipment": {
            "courier": "DHL", "trackingNumber": "JD0146000031", "reference": "ORD-10452",
            "isReturn": false,
            "status": {"id": 6, "detail": 1, "name": "EXCEPTION / STOCK", "detailText": "ON HOLD",
                       "final": false},
            "previousStatus": null,
            "date": "2026-03-02 09:41:07", "dateUtc": "2026-03-02T08:41:07Z",
            "place": null, "courierStatus": "WC"
        }
    })
}

fn order(event: &str, trigger: &str) -> Value {
    json!({
        "schema": "qapla-webhooks/notification/v1",
        "id": "0123456789abcdef0123456789abcdef",
        "event": event,
        "channel": "shop-it",
        "severity": "info",
        "receivedAt": "2026-03-02T08:41:10Z",
        "order": {
            "reference": "ORD-10452", "trigger": trigger, "courier": "DHL",
            "trackingNumber": null, "orderDateUtc": "2026-03-01T09:12:00Z", "shipDateUtc": null,
            "payload": {"reference": "ORD-10452"}
        }
    })
}

#[test]
fn the_schema_refuses_what_is_no_v1_document() {
    check(&status_change());
    check(&order("order.created", "created"));
    let mut omitted = order("order.transmitted", "transmitted");
    omitted["order"]
        .as_object_mut()
        .expect("order")
        .remove("payload");
    omitted["order"]["payloadOmitted"] = json!(true);
    omitted["order"]["item"] = json!({"pk": "ORDER#shop-it#ORD-10452", "sk": "STATE"});
    check(&omitted);

    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 14] = [
        ("no id", |d| drop(d.as_object_mut().map(|m| m.remove("id")))),
        ("an id that is no content id", |d| d["id"] = json!("e1")),
        ("another schema", |d| {
            d["schema"] = json!("qapla-webhooks/notification/v2")
        }),
        ("an event type that does not exist", |d| {
            d["event"] = json!("shipment.lost")
        }),
        ("a severity that does not exist", |d| {
            d["severity"] = json!("fatal")
        }),
        ("a field the format does not have", |d| {
            d["apiKey"] = json!("k")
        }),
        ("a status id as text", |d| {
            d["shipment"]["status"]["id"] = json!("6")
        }),
        ("a status without its name", |d| {
            drop(
                d["shipment"]["status"]
                    .as_object_mut()
                    .map(|m| m.remove("name")),
            )
        }),
        ("a customer's field in the shipment", |d| {
            d["shipment"]["consignee"] = json!({"name": "Mario Rossi"})
        }),
        ("a time that is not UTC", |d| {
            d["receivedAt"] = json!("2026-03-02 09:41:10")
        }),
        ("a status change without its previous status", |d| {
            drop(
                d["shipment"]
                    .as_object_mut()
                    .map(|m| m.remove("previousStatus")),
            )
        }),
        ("a status change with a stuck section", |d| {
            d["stuck"] = json!({"reason": "stock", "since": "2026-03-01T09:00:00Z", "days": 9,
                                "thresholdDays": 2, "checkedAt": "2026-03-10T12:00:00Z"})
        }),
        ("a stuck alert without its section", |d| {
            d["event"] = json!("shipment.stuck")
        }),
        ("a return without its section", |d| {
            d["event"] = json!("return.requested");
            d["severity"] = json!("info")
        }),
    ];
    for (what, edit) in cases {
        let mut document = status_change();
        edit(&mut document);
        assert!(
            !violations(&document).is_empty(),
            "the schema took {what}: {document:#}"
        );
    }

    let wrong_trigger = order("order.created", "transmitted");
    assert!(
        !violations(&wrong_trigger).is_empty(),
        "order.created sent as transmitted"
    );
    let mut both = order("order.created", "created");
    both["order"]["payloadOmitted"] = json!(true);
    assert!(
        !violations(&both).is_empty(),
        "a payload both kept and omitted"
    );
    assert!(
        !violations(&json!([status_change()])).is_empty(),
        "an array"
    );
}

#[test]
fn every_json_example_of_the_notifications_page_is_a_v1_document() {
    let page = repo().join("docs/notifications.md");
    let text = std::fs::read_to_string(&page).expect("docs/notifications.md");
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_start()) {
            (None, "```json") => block = Some(String::new()),
            (Some(b), "```") => {
                examples.push(serde_json::from_str::<Value>(b).expect("an example is JSON"));
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    let documents: Vec<&Value> = examples
        .iter()
        .filter(|e| e.get("schema").is_some())
        .collect();
    assert!(
        documents.len() >= 2,
        "the page shows {} documents",
        documents.len()
    );
    for document in documents {
        check(document);
    }
}

/// The fields a payload definition of the schema names: each property, with the properties of
/// its object form where it has one.
fn named_fields(schema: &Value, definition: &str) -> BTreeMap<String, BTreeSet<String>> {
    let properties = schema["$defs"][definition]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("$defs.{definition}.properties"));
    properties
        .iter()
        .map(|(name, field)| {
            let inner = field["anyOf"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|form| form["properties"].as_object())
                .flat_map(|p| p.keys().cloned())
                .collect();
            (name.clone(), inner)
        })
        .collect()
}

/// With personal data off a notification carries exactly the payload fields the schema names:
/// the allowlist in the code and the published names cannot drift apart.
#[test]
fn the_payload_allowlists_are_the_fields_the_schema_names() {
    use qapla::notify::render::{Field, ORDER_PAYLOAD_FIELDS, RETURN_PAYLOAD_FIELDS};
    let text = std::fs::read_to_string(integration_tests::notification_schema::path())
        .expect("the schema");
    let schema: Value = serde_json::from_str(&text).expect("JSON");
    let code = |fields: &[Field]| -> BTreeMap<String, BTreeSet<String>> {
        fields
            .iter()
            .map(|(name, inner)| {
                (
                    (*name).to_owned(),
                    inner.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        code(RETURN_PAYLOAD_FIELDS),
        named_fields(&schema, "returnPayload")
    );
    assert_eq!(
        code(ORDER_PAYLOAD_FIELDS),
        named_fields(&schema, "orderPayload")
    );
    for personal in ["sender", "consignee", "rows"] {
        assert!(RETURN_PAYLOAD_FIELDS.iter().all(|(n, _)| *n != personal));
    }
    for (name, _) in ORDER_PAYLOAD_FIELDS {
        assert!(!name.starts_with("customer") && *name != "notes", "{name}");
    }
}
