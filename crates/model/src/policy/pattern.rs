//! Policy patterns: RabbitMQ compiles them with Erlang's `re` (PCRE 8.x, byte mode, no options)
//! and matches them unanchored against resource names. Warren matches with regex-lite.
//!
//! Compiling first runs a check for PCRE's common syntax errors, so a pattern RabbitMQ refuses
//! gets RabbitMQ's message and offset (`{"missing )",1}`); then regex-lite compiles it.
//!
//! Differences from RabbitMQ (Erlang `re`):
//! - Refused by Warren, accepted by RabbitMQ ([`PatternError::Unsupported`]): look-around,
//!   backreferences, atomic groups and possessive quantifiers, `\Q...\E`, `\p{..}`, `\h`, `\R`,
//!   `\X`, `\C`, octal escapes, `(?|`, recursion, conditionals, `(*VERB)`s, a `{` that does not
//!   start a quantifier (`a{,3}` is literal text to PCRE).
//! - `.` matches one character here, one byte in RabbitMQ: only counts over non-ASCII names
//!   differ (`^.{3}$` matches "été" here, not there).
//! - `$` matches only at the end; PCRE also matches before a final newline.
//! - Case-insensitive matching and `\w`, `\d`, `\s` are ASCII-only in both.
//! - PCRE errors other than the ones checked here come out as `Unsupported` with regex-lite's
//!   reason instead of PCRE's text.

use regex_lite::Regex;
use serde_json::Value;

use crate::erlang_term::Term;

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    /// Not a JSON string: "pattern should be a binary but was ~p".
    #[error("pattern should be a binary but was {value}")]
    NotAString { value: Value },
    /// PCRE refuses it: RabbitMQ says "pattern should be regular expression but is invalid:
    /// {Message,Offset}".
    #[error("pattern should be regular expression but is invalid: {{\"{message}\",{offset}}}")]
    Invalid {
        message: &'static str,
        offset: usize,
    },
    /// Valid for RabbitMQ but beyond what Warren's regex engine supports (Warren's own text).
    #[error("pattern should be regular expression but is not supported by Warren: {reason}")]
    Unsupported { reason: String },
}

impl PatternError {
    /// The Erlang term RabbitMQ prints for the error part (`{"missing )",1}`), if it has one.
    pub(crate) fn reason_term(&self) -> Option<Term> {
        match self {
            PatternError::Invalid { message, offset } => Some(Term::Tuple(vec![
                Term::charlist(message),
                Term::Int(*offset as i128),
            ])),
            _ => None,
        }
    }
}

/// Compile `pattern` for unanchored matching, refusing what PCRE refuses.
pub fn compile_pattern(pattern: &str) -> Result<Regex, PatternError> {
    check_pcre_syntax(pattern.as_bytes())?;
    Regex::new(pattern).map_err(|e| PatternError::Unsupported {
        reason: e.to_string(),
    })
}

fn invalid(message: &'static str, offset: usize) -> PatternError {
    PatternError::Invalid { message, offset }
}

const NOTHING_TO_REPEAT: &str = "nothing to repeat";
const QUANTIFIER_NUMBER_MAX: u32 = 65535;

/// PCRE's errors for the mistakes people make: unbalanced parentheses and brackets, quantifiers
/// with nothing to repeat, bad `{}` counts and ranges, a trailing backslash, bad `(?` groups.
/// Offsets are PCRE's (byte offsets where it noticed).
fn check_pcre_syntax(p: &[u8]) -> Result<(), PatternError> {
    let mut open_groups = 0usize;
    // Whether the previous item can take a quantifier.
    let mut repeatable = false;
    // Possessive quantifiers are valid PCRE that regex-lite would read differently.
    let mut uses_possessive = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' => {
                let (next, item_repeatable) = escape(p, i)?;
                i = next;
                repeatable = item_repeatable;
            }
            b'[' => {
                i = character_class(p, i)?;
                repeatable = true;
            }
            b'(' => {
                let (next, opens_group) = group_start(p, i)?;
                if opens_group {
                    open_groups += 1;
                    repeatable = false;
                } else {
                    // An option setting such as (?i) or a comment: nothing to repeat after it.
                    repeatable = false;
                }
                i = next;
            }
            b')' => {
                if open_groups == 0 {
                    return Err(invalid("unmatched parentheses", i));
                }
                open_groups -= 1;
                repeatable = true;
                i += 1;
            }
            b'|' => {
                repeatable = false;
                i += 1;
            }
            b'^' | b'$' => {
                repeatable = false;
                i += 1;
            }
            b'*' | b'+' | b'?' => {
                if !repeatable {
                    return Err(invalid(NOTHING_TO_REPEAT, i));
                }
                let (next, possessive) = after_quantifier(p, i + 1);
                uses_possessive |= possessive;
                i = next;
                repeatable = false;
            }
            b'{' => match counted_quantifier(p, i)? {
                Some(close) => {
                    if !repeatable {
                        return Err(invalid(NOTHING_TO_REPEAT, close));
                    }
                    let (next, possessive) = after_quantifier(p, close + 1);
                    uses_possessive |= possessive;
                    i = next;
                    repeatable = false;
                }
                None => {
                    repeatable = true;
                    i += 1;
                }
            },
            _ => {
                repeatable = true;
                i += 1;
            }
        }
    }
    if open_groups > 0 {
        return Err(invalid("missing )", p.len()));
    }
    if uses_possessive {
        return Err(PatternError::Unsupported {
            reason: "possessive quantifiers are not supported".to_owned(),
        });
    }
    Ok(())
}

/// Skip a lazy `?` or possessive `+` after a quantifier: (next index, whether possessive).
fn after_quantifier(p: &[u8], i: usize) -> (usize, bool) {
    match p.get(i) {
        Some(b'?') => (i + 1, false),
        Some(b'+') => (i + 1, true),
        _ => (i, false),
    }
}

/// A `{n}`, `{n,}` or `{n,m}` quantifier starting at `start`: the index of its `}`, or `None`
/// when the `{` is literal text.
fn counted_quantifier(p: &[u8], start: usize) -> Result<Option<usize>, PatternError> {
    let digits = |from: usize| {
        let end = p[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(p.len(), |n| from + n);
        (end, &p[from..end])
    };
    let (after_min, min) = digits(start + 1);
    if min.is_empty() {
        return Ok(None);
    }
    let (close, max) = match p.get(after_min) {
        Some(b'}') => (after_min, None),
        Some(b',') => {
            let (after_max, max) = digits(after_min + 1);
            if p.get(after_max) != Some(&b'}') {
                return Ok(None);
            }
            (after_max, (!max.is_empty()).then_some(max))
        }
        _ => return Ok(None),
    };
    let number = |d: &[u8]| {
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    let min = number(min);
    if min > QUANTIFIER_NUMBER_MAX {
        return Err(invalid("number too big in {} quantifier", close));
    }
    if let Some(max) = max.map(number) {
        if max > QUANTIFIER_NUMBER_MAX {
            return Err(invalid("number too big in {} quantifier", close));
        }
        if max < min {
            return Err(invalid("numbers out of order in {} quantifier", close));
        }
    }
    Ok(Some(close))
}

/// An escape at `start` (a backslash): where the next item starts, and whether the escape can
/// take a quantifier (assertions such as `\b` and `\A` cannot).
fn escape(p: &[u8], start: usize) -> Result<(usize, bool), PatternError> {
    let Some(&c) = p.get(start + 1) else {
        return Err(invalid("\\ at end of pattern", p.len()));
    };
    match c {
        b'u' | b'U' | b'l' | b'L' => Err(invalid(
            "PCRE does not support \\L, \\l, \\N{name}, \\U, or \\u",
            start + 1,
        )),
        b'N' if p.get(start + 2) == Some(&b'{') => Err(invalid(
            "PCRE does not support \\L, \\l, \\N{name}, \\U, or \\u",
            start + 1,
        )),
        b'k' if !matches!(p.get(start + 2), Some(b'{' | b'<' | b'\'')) => Err(invalid(
            "\\k is not followed by a braced, angle-bracketed, or quoted name",
            start + 1,
        )),
        b'x' if p.get(start + 2) == Some(&b'{') => {
            let end = braced_hex_end(p, start + 3);
            Ok((end, true))
        }
        b'Q' => {
            // \Q...\E is literal text up to \E (or the end).
            let rest = &p[start + 2..];
            let end = rest
                .windows(2)
                .position(|w| w == b"\\E")
                .map_or(p.len(), |n| start + 2 + n + 2);
            Ok((end, true))
        }
        b'b' | b'B' | b'A' | b'z' | b'Z' | b'G' => Ok((start + 2, false)),
        _ => Ok((start + 2, true)),
    }
}

/// The end of `\x{...}` hex digits starting at `from`; PCRE refuses values above 0xFF in byte
/// mode, which regex-lite then reports (as unsupported) since it reads them as code points.
fn braced_hex_end(p: &[u8], from: usize) -> usize {
    let digits_end = p[from..]
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .map_or(p.len(), |n| from + n);
    if p.get(digits_end) == Some(&b'}') {
        digits_end + 1
    } else {
        digits_end
    }
}

/// A character class starting at `start` (`[`): the index after its `]`.
fn character_class(p: &[u8], start: usize) -> Result<usize, PatternError> {
    let mut i = start + 1;
    if p.get(i) == Some(&b'^') {
        i += 1;
    }
    // A `]` right after `[` or `[^` is a literal.
    if p.get(i) == Some(&b']') {
        i += 1;
    }
    // The previous single character, for range checks: (value, is a class escape).
    let mut previous: Option<(u8, bool)> = None;
    while i < p.len() {
        match p[i] {
            b']' => return Ok(i + 1),
            b'[' if p.get(i + 1) == Some(&b':') => {
                let name_start = i + 2;
                let Some(n) = p[name_start..].windows(2).position(|w| w == b":]") else {
                    previous = Some((b'[', false));
                    i += 1;
                    continue;
                };
                let name = &p[name_start..name_start + n];
                let name = name.strip_prefix(b"^").unwrap_or(name);
                if !POSIX_CLASSES.iter().any(|c| c.as_bytes() == name) {
                    return Err(invalid("unknown POSIX class name", name_start));
                }
                previous = Some((0, true));
                i = name_start + n + 2;
            }
            b'-' if previous.is_some() && !matches!(p.get(i + 1), Some(b']') | None) => {
                let (low, low_is_class) = previous.take().unwrap_or((0, true));
                let (high, high_is_class, next) = class_atom(p, i + 1)?;
                if low_is_class || high_is_class {
                    if !low_is_class && high_is_class {
                        return Err(invalid("invalid range in character class", next - 1));
                    }
                } else if high < low {
                    return Err(invalid("range out of order in character class", next - 1));
                }
                i = next;
            }
            _ => {
                let (value, is_class, next) = class_atom(p, i)?;
                previous = Some((value, is_class));
                i = next;
            }
        }
    }
    Err(invalid(
        "missing terminating ] for character class",
        p.len(),
    ))
}

/// One character (or class escape like `\d`) inside a class at `i`: (byte, is a class escape,
/// index after it).
fn class_atom(p: &[u8], i: usize) -> Result<(u8, bool, usize), PatternError> {
    if p[i] != b'\\' {
        return Ok((p[i], false, i + 1));
    }
    let Some(&c) = p.get(i + 1) else {
        return Err(invalid("\\ at end of pattern", p.len()));
    };
    let value = match c {
        b'd' | b'D' | b'w' | b'W' | b's' | b'S' | b'h' | b'H' | b'v' | b'V' => {
            return Ok((0, true, i + 2))
        }
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'f' => 0x0c,
        b'e' => 0x1b,
        b'a' => 0x07,
        other => other,
    };
    Ok((value, false, i + 2))
}

/// POSIX class names PCRE knows.
const POSIX_CLASSES: [&str; 14] = [
    "alpha", "lower", "upper", "alnum", "ascii", "blank", "cntrl", "digit", "graph", "print",
    "punct", "space", "word", "xdigit",
];

/// A `(` at `start`: the index after its opening syntax, and whether it opens a group that a
/// `)` closes (false for option settings like `(?i)` and comments, which are consumed whole).
fn group_start(p: &[u8], start: usize) -> Result<(usize, bool), PatternError> {
    match p.get(start + 1) {
        Some(b'?') => {}
        Some(b'*') => {
            // (*VERB) at the start of a pattern, or `(*` with nothing to repeat.
            let verb_end = p[start + 2..]
                .iter()
                .position(|b| *b == b')')
                .map(|n| start + 2 + n);
            return match verb_end {
                Some(end)
                    if p[start + 2..end].iter().all(|b| {
                        b.is_ascii_uppercase()
                            || b.is_ascii_digit()
                            || *b == b'_'
                            || *b == b'='
                            || *b == b':'
                    }) && end > start + 2 =>
                {
                    Ok((end + 1, false))
                }
                _ => Err(invalid(NOTHING_TO_REPEAT, start + 1)),
            };
        }
        _ => return Ok((start + 1, true)),
    }
    let after = start + 2;
    match p.get(after) {
        Some(b'#') => {
            let end = p[after..].iter().position(|b| *b == b')');
            match end {
                Some(n) => Ok((after + n + 1, false)),
                None => Err(invalid("missing ) after comment", p.len())),
            }
        }
        Some(
            b':' | b'=' | b'!' | b'<' | b'>' | b'|' | b'\'' | b'P' | b'R' | b'&' | b'(' | b'C'
            | b'+',
        )
        | Some(b'0'..=b'9') => Ok((after + 1, true)),
        _ => {
            // Option letters, optionally `-` and more letters, then `)` or `:`.
            let mut i = after;
            while matches!(
                p.get(i),
                Some(b'i' | b'm' | b's' | b'x' | b'X' | b'J' | b'U' | b'-')
            ) {
                i += 1;
            }
            match p.get(i) {
                Some(b')') if i > after => Ok((i + 1, false)),
                Some(b':') if i > after => Ok((i + 1, true)),
                _ => Err(invalid("unrecognized character after (? or (?-", i)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair was answered by `re:compile/1` on the reference node (Erlang/OTP 25).
    const PCRE_ERRORS: &[(&str, &str, usize)] = &[
        ("(", "missing )", 1),
        ("((a)", "missing )", 4),
        ("(?<n>a", "missing )", 6),
        (")", "unmatched parentheses", 0),
        ("a)", "unmatched parentheses", 1),
        ("[a", "missing terminating ] for character class", 2),
        ("[]", "missing terminating ] for character class", 2),
        ("*a", "nothing to repeat", 0),
        ("a**", "nothing to repeat", 2),
        ("?", "nothing to repeat", 0),
        ("+a", "nothing to repeat", 0),
        ("a|*", "nothing to repeat", 2),
        ("^*", "nothing to repeat", 1),
        ("$*", "nothing to repeat", 1),
        ("\\b*", "nothing to repeat", 2),
        ("\\A*", "nothing to repeat", 2),
        ("{1}", "nothing to repeat", 2),
        ("(*)", "nothing to repeat", 1),
        ("(+)", "nothing to repeat", 1),
        ("a*?*", "nothing to repeat", 3),
        ("a?+*", "nothing to repeat", 3),
        ("a{1,2}{3}", "nothing to repeat", 8),
        ("(?i)*", "nothing to repeat", 4),
        ("a{2,1}", "numbers out of order in {} quantifier", 5),
        ("a{65536}", "number too big in {} quantifier", 7),
        ("a{3,65536}", "number too big in {} quantifier", 9),
        ("\\", "\\ at end of pattern", 1),
        ("a\\", "\\ at end of pattern", 2),
        ("[\\", "\\ at end of pattern", 2),
        ("[a-\\", "\\ at end of pattern", 4),
        ("[z-a]", "range out of order in character class", 3),
        ("[a-\\d]", "invalid range in character class", 4),
        ("[[:foo:]]", "unknown POSIX class name", 3),
        ("(?z)", "unrecognized character after (? or (?-", 2),
        ("(?z:a)", "unrecognized character after (? or (?-", 2),
        ("(?", "unrecognized character after (? or (?-", 2),
        ("(?i", "unrecognized character after (? or (?-", 3),
        ("(?-", "unrecognized character after (? or (?-", 3),
        ("(?i-", "unrecognized character after (? or (?-", 4),
        ("(?#x", "missing ) after comment", 4),
        (
            "\\u0041",
            "PCRE does not support \\L, \\l, \\N{name}, \\U, or \\u",
            1,
        ),
        (
            "\\k",
            "\\k is not followed by a braced, angle-bracketed, or quoted name",
            1,
        ),
    ];

    #[test]
    fn pcre_syntax_errors_match_erlang_re() {
        for (pattern, message, offset) in PCRE_ERRORS {
            assert_eq!(
                compile_pattern(pattern).unwrap_err(),
                PatternError::Invalid {
                    message,
                    offset: *offset
                },
                "{pattern}"
            );
        }
    }

    /// Patterns Erlang `re` accepts that regex-lite compiles too.
    #[test]
    fn ordinary_patterns_compile() {
        for pattern in [
            "",
            "^amq\\.",
            "^q",
            "q$",
            ".*",
            "^(a|b)+$",
            "x{3}",
            "a{1,2}?",
            "a*?",
            "[a-]",
            "[-a]",
            "[]a]",
            "[^]a]",
            "[\\]]",
            "[a-z-0]",
            "[[:alpha:]-z]",
            "(?i)A",
            "(?i:a)",
            "()",
            "a|",
            "|",
            "(|)",
            "\\d*",
            "(?:a|b)*",
            "^\\s*$",
            "(?P<n>a)",
            "(?<n>a)",
            "a{1,}",
            "\\x{ff}",
        ] {
            assert!(
                compile_pattern(pattern).is_ok(),
                "{pattern}: {:?}",
                compile_pattern(pattern)
            );
        }
    }

    #[test]
    fn pcre_only_features_are_reported_unsupported() {
        for pattern in [
            "(?=a)",
            "(a)\\1",
            "a++",
            "a{2}+",
            "(?>a)",
            "\\Qa.b\\E",
            "a{,3}",
            "a{1",
            "[\\d-z]",
        ] {
            assert!(
                matches!(
                    compile_pattern(pattern),
                    Err(PatternError::Unsupported { .. })
                ),
                "{pattern}: {:?}",
                compile_pattern(pattern)
            );
        }
    }

    #[test]
    fn matching_is_unanchored() {
        let regex = compile_pattern("q").unwrap();
        assert!(regex.is_match("aqa"));
        assert!(!regex.is_match("abc"));
    }
}
