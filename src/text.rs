//! Text from the lake made safe to show: findings carry user names, user
//! agents, targets and command lines that anyone can have chosen.

/// Whether `c` is a bidirectional control or an invisible format
/// character: they reorder or hide what a reader sees ("Trojan Source").
fn reorders_or_hides(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}'   // zero-width characters, LRM, RLM
        | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{feff}') // zero-width no-break space
}

/// Text safe for a terminal: no control characters (an escape sequence
/// loses its ESC and prints as plain text) and no bidirectional or
/// invisible format characters.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !reorders_or_hides(*c))
        .collect()
}

/// HTML text or attribute value: what [`printable`] keeps, with `&`, `<`,
/// `>` and both quotes escaped.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_control_and_bidi_characters_do_not_reach_the_terminal() {
        let planted = "curl/8\u{1b}[2J\u{1b}]0;owned\u{7}\r\nok\u{202e}gpj.exe\u{2066}";
        let shown = printable(planted);
        assert_eq!(shown, "curl/8[2J]0;ownedokgpj.exe");
    }

    #[test]
    fn markup_and_escape_sequences_come_out_as_text() {
        let planted = "<script>alert('x')</script>\u{1b}[31m\"&\u{200f}";
        assert_eq!(
            html(planted),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;[31m&quot;&amp;"
        );
    }
}
