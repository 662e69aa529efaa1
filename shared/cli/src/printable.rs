//! What the CLI prints is made safe for a terminal here, and only here: texts from the table and
//! the bucket are the courier's and Qapla's (a status label, a place, a reason), and a control
//! sequence in one of them (`ESC ] 0 ; … BEL`, `ESC [ 2 J`, a C1 `CSI`) would otherwise act on
//! the operator's terminal: retitle it, clear it, forge lines.

use std::borrow::Cow;

/// Whether a character must not reach a terminal as itself: the C0 controls but newline and
/// tab, DEL, and the C1 controls (U+0080 to U+009F), which some terminals obey like `ESC`
/// sequences.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}'
}

/// `text` with every unsafe character written as `\u00XX`: visible to the operator, and the
/// same escape JSON uses, so a `--json` document stays valid JSON of the same strings.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_out_and_the_rest_kept() {
        assert_eq!(
            printable("IN TRANSIT\u{1b}]0;owned\u{7}\u{1b}[2J"),
            "IN TRANSIT\\u001b]0;owned\\u0007\\u001b[2J"
        );
        assert_eq!(
            printable("a\rb\u{7f}c\u{9b}2Jd\u{85}"),
            "a\\u000db\\u007fc\\u009b2Jd\\u0085"
        );
        assert!(matches!(
            printable("Città di Castello ✓\tcol\nnext"),
            Cow::Borrowed("Città di Castello ✓\tcol\nnext")
        ));
        // U+00A0 and above are text, not controls.
        assert_eq!(printable("\u{a0}è"), "\u{a0}è");
    }

    #[test]
    fn escaped_json_is_the_same_json() {
        let doc = serde_json::json!({"status": "X\u{7f}\u{9b}[2J\u{1b}", "n": 1});
        let text = doc.to_string();
        let shown = printable(&text);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).expect("valid JSON");
        assert_eq!(back, doc);
    }
}
