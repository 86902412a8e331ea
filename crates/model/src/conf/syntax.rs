//! The line grammar of `rabbitmq.conf` as cuttlefish reads it: `key = value` lines, `#`
//! comments, blank lines.
//!
//! A `#` anywhere in an unquoted value starts a comment (cuttlefish's rule, so `p#ss` reads
//! as `p`); a value in single quotes may hold `#` (`'p#ss'`), as in current cuttlefish.
//! Whitespace around keys and values is dropped, inside values kept. `\.` in a key is a dot
//! inside one segment. A UTF-8 byte-order mark is skipped.

use super::error::SyntaxProblem;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The key as written (an escaped dot stays `\.`), for messages.
    pub key: String,
    /// The key's dot-separated segments, escaped dots unescaped.
    pub segments: Vec<String>,
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// The settings of `text` in file order, or the first line that is not a setting, comment or
/// blank.
pub(super) fn entries(text: &str) -> Result<Vec<Entry>, (usize, SyntaxProblem)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut found = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(entry) = setting(content, line).map_err(|problem| (line, problem))? {
            found.push(entry);
        }
    }
    Ok(found)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The setting on one line, none for a comment or blank line.
fn setting(content: &str, line: usize) -> Result<Option<Entry>, SyntaxProblem> {
    let content = content.trim_start_matches(is_blank);
    if content.trim_end_matches(is_blank).is_empty() || content.starts_with('#') {
        return Ok(None);
    }
    let unparsable = || {
        if is_include(content) {
            SyntaxProblem::Include
        } else {
            SyntaxProblem::NotASetting
        }
    };
    let (key_text, rest) = content.split_once('=').ok_or_else(unparsable)?;
    let key = key_text.trim_end_matches(is_blank);
    let segments = key_segments(key).ok_or_else(|| match unparsable() {
        SyntaxProblem::Include => SyntaxProblem::Include,
        _ => SyntaxProblem::BadKey,
    })?;
    Ok(Some(Entry {
        key: key.to_owned(),
        segments,
        value: value(rest.trim_start_matches(is_blank))?,
        line,
    }))
}

/// `include some/file.conf`: cuttlefish's directive, which Warren does not follow.
fn is_include(content: &str) -> bool {
    content
        .strip_prefix("include")
        .is_some_and(|rest| rest.starts_with(is_blank))
}

/// Words of `[A-Za-z0-9_-]` (and `\.`) joined by single dots.
fn key_segments(key: &str) -> Option<Vec<String>> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('.') => current.push('.'),
                _ => return None,
            },
            '.' if current.is_empty() => return None,
            '.' => segments.push(std::mem::take(&mut current)),
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => current.push(c),
            _ => return None,
        }
    }
    if current.is_empty() {
        return None;
    }
    segments.push(current);
    Some(segments)
}

/// The value after `=` (leading blanks already dropped).
fn value(text: &str) -> Result<String, SyntaxProblem> {
    if let Some(quoted) = text.strip_prefix('\'') {
        if let Some((inside, after)) = quoted.split_once('\'') {
            let after = after.trim_start_matches(is_blank);
            if after.is_empty() || after.starts_with('#') {
                return Ok(inside.to_owned());
            }
            return Err(SyntaxProblem::TextAfterQuotedValue);
        }
        // No closing quote: cuttlefish reads the quote as part of a plain value.
    }
    let plain = text.split('#').next().unwrap_or_default();
    let plain = plain.trim_end_matches(is_blank);
    if plain.is_empty() {
        return Err(SyntaxProblem::EmptyValue);
    }
    Ok(plain.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> (String, String) {
        let found = entries(text).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        (found[0].key.clone(), found[0].value.clone())
    }

    fn problem(text: &str) -> (usize, SyntaxProblem) {
        entries(text).unwrap_err()
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_with_line_numbers_kept() {
        let text = "# a comment\n\n   \t\n  # indented comment\nheartbeat = 30\r\n\nframe_max=8192";
        let found = entries(text).unwrap();
        let lines: Vec<_> = found.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(lines, [("heartbeat", 5), ("frame_max", 7)]);
    }

    #[test]
    fn spaces_around_keys_and_values_go_spaces_inside_values_stay() {
        assert_eq!(
            one("  default_user   =   my user name  \t"),
            ("default_user".into(), "my user name".into())
        );
        assert_eq!(one("a.b-c_d=x"), ("a.b-c_d".into(), "x".into()));
        // Only the first `=` separates.
        assert_eq!(
            one("default_pass = a=b"),
            ("default_pass".into(), "a=b".into())
        );
    }

    #[test]
    fn a_hash_ends_an_unquoted_value_even_without_a_space() {
        assert_eq!(
            one("heartbeat = 30 # seconds"),
            ("heartbeat".into(), "30".into())
        );
        assert_eq!(
            one("default_pass = p#ss"),
            ("default_pass".into(), "p".into())
        );
    }

    #[test]
    fn single_quotes_keep_a_hash_and_spaces() {
        assert_eq!(
            one("default_pass = ' p#ss word ' # comment"),
            ("default_pass".into(), " p#ss word ".into())
        );
        assert_eq!(one("default_pass = ''"), ("default_pass".into(), "".into()));
        // Without a closing quote the quote is just a character, as in cuttlefish.
        assert_eq!(
            one("default_pass = 'abc"),
            ("default_pass".into(), "'abc".into())
        );
        assert_eq!(
            problem("a = 1\ndefault_pass = 'x' y"),
            (2, SyntaxProblem::TextAfterQuotedValue)
        );
    }

    #[test]
    fn escaped_dots_stay_inside_one_segment() {
        let found = entries(r"loopback_users.a\.b = true").unwrap();
        assert_eq!(found[0].segments, ["loopback_users", "a.b"]);
        assert_eq!(found[0].key, r"loopback_users.a\.b");
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        assert_eq!(
            one("\u{feff}heartbeat = 5"),
            ("heartbeat".into(), "5".into())
        );
    }

    #[test]
    fn lines_that_are_not_settings_are_errors_with_their_line() {
        assert_eq!(
            problem("a = 1\nbad line\n"),
            (2, SyntaxProblem::NotASetting)
        );
        assert_eq!(
            problem("a = 1\n\nheartbeat =\n"),
            (3, SyntaxProblem::EmptyValue)
        );
        assert_eq!(
            problem("heartbeat = # none"),
            (1, SyntaxProblem::EmptyValue)
        );
        assert_eq!(problem("a b = 1"), (1, SyntaxProblem::BadKey));
        assert_eq!(problem("= 1"), (1, SyntaxProblem::BadKey));
        assert_eq!(problem("a..b = 1"), (1, SyntaxProblem::BadKey));
        assert_eq!(problem("a. = 1"), (1, SyntaxProblem::BadKey));
        assert_eq!(problem("listeners.tcp.$x = 1"), (1, SyntaxProblem::BadKey));
        assert_eq!(problem(r"a\b = 1"), (1, SyntaxProblem::BadKey));
        assert_eq!(problem("clé = 1"), (1, SyntaxProblem::BadKey));
        assert_eq!(problem("key # = value"), (1, SyntaxProblem::BadKey));
        assert_eq!(
            problem("\n\ninclude conf.d/*.conf"),
            (3, SyntaxProblem::Include)
        );
        assert_eq!(problem("include x = 1"), (1, SyntaxProblem::Include));
    }

    #[test]
    fn include_as_a_key_is_a_setting() {
        assert_eq!(one("include = 1"), ("include".into(), "1".into()));
    }
}
