//! Product-model names as Rust identifiers.
//!
//! Model names are lowerCamelCase, PascalCase, UPPER_SNAKE_CASE or
//! anything else (dashes, spaces, Unicode, leading digits). They become
//! idiomatic identifiers: `snake_case` for modules, fields and methods,
//! `PascalCase` for types and variants. Characters that cannot be part of
//! an identifier separate words; Unicode letters stay. A leading digit gets
//! a `_` in front (as prost does), a keyword becomes a raw identifier
//! (`r#type`) or, where Rust has none, gets a `_` behind (`self_`, `Self_`).
//! The wire names stay exact: the generated code carries them in
//! `name = "..."` and `#[serde(rename = "...")]`.

use std::collections::BTreeSet;

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Keywords of every edition, strict and reserved.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super"];

/// `smokeConcentration` -> `smoke_concentration`; `None` without a letter or digit.
pub(crate) fn snake_case(name: &str) -> Option<String> {
    finish(words(name).to_snake_case())
}

/// `ringAlarm` -> `RingAlarm`; `None` without a letter or digit.
pub(crate) fn pascal_case(name: &str) -> Option<String> {
    finish(words(name).to_upper_camel_case())
}

/// `name` with every character that cannot continue an identifier (and
/// the underscore, which heck would keep inside words) turned into a space.
fn words(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c != '_' && unicode_ident::is_xid_continue(c) {
                c
            } else {
                ' '
            }
        })
        .collect()
}

/// A valid identifier from a converted name: digits and keywords taken care of.
fn finish(converted: String) -> Option<String> {
    let first = converted.chars().next()?;
    if !unicode_ident::is_xid_start(first) {
        return Some(format!("_{converted}"));
    }
    if NOT_RAW.contains(&converted.as_str()) {
        return Some(format!("{converted}_"));
    }
    if KEYWORDS.contains(&converted.as_str()) {
        return Some(format!("r#{converted}"));
    }
    Some(converted)
}

/// Identifiers already taken in one scope; claiming a taken one appends a
/// number, so every model name gets its own identifier.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    taken: BTreeSet<String>,
}

impl Scope {
    /// Takes `ident`, or `ident` with the smallest free suffix `2`, `3`, ...
    /// (`_2` in snake case).
    pub(crate) fn claim(&mut self, ident: &str) -> String {
        let bare = ident.strip_prefix("r#").unwrap_or(ident);
        if self.taken.insert(bare.to_string()) {
            return ident.to_string();
        }
        let separator = if bare.starts_with(|c: char| c.is_uppercase()) {
            ""
        } else {
            "_"
        };
        let free = (2u32..)
            .map(|n| format!("{bare}{separator}{n}"))
            .find(|candidate| !self.taken.contains(candidate))
            .unwrap_or_default();
        self.taken.insert(free.clone());
        free
    }

    /// Claims the snake-case identifier of `name` (`fallback` when it has none).
    pub(crate) fn snake(&mut self, name: &str, fallback: &str) -> String {
        let ident = snake_case(name).unwrap_or_else(|| fallback.to_string());
        self.claim(&ident)
    }

    /// Claims the PascalCase identifier of `name` (`fallback` when it has none).
    pub(crate) fn pascal(&mut self, name: &str, fallback: &str) -> String {
        let ident = pascal_case(name).unwrap_or_else(|| fallback.to_string());
        self.claim(&ident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_becomes_snake_and_pascal() {
        assert_eq!(
            snake_case("smokeConcentration").as_deref(),
            Some("smoke_concentration")
        );
        assert_eq!(snake_case("HTTPServer").as_deref(), Some("http_server"));
        assert_eq!(snake_case("RING_ALARM").as_deref(), Some("ring_alarm"));
        assert_eq!(pascal_case("ringAlarm").as_deref(), Some("RingAlarm"));
        assert_eq!(pascal_case("RING_ALARM").as_deref(), Some("RingAlarm"));
        assert_eq!(
            pascal_case("smokeDetector").as_deref(),
            Some("SmokeDetector")
        );
    }

    #[test]
    fn odd_names_become_identifiers() {
        assert_eq!(snake_case("type").as_deref(), Some("r#type"));
        assert_eq!(snake_case("self").as_deref(), Some("self_"));
        assert_eq!(pascal_case("self").as_deref(), Some("Self_"));
        assert_eq!(snake_case("3d-mode").as_deref(), Some("_3d_mode"));
        assert_eq!(pascal_case("3d-mode").as_deref(), Some("_3dMode"));
        assert_eq!(snake_case("max temp (°C)").as_deref(), Some("max_temp_c"));
        assert_eq!(snake_case("温度").as_deref(), Some("温度"));
        assert_eq!(
            snake_case("Temperatur-Größe").as_deref(),
            Some("temperatur_größe")
        );
        assert_eq!(snake_case("x²").as_deref(), Some("x"));
        assert_eq!(snake_case("°%"), None);
        assert_eq!(snake_case("__"), None);
    }

    #[test]
    fn scopes_number_collisions() {
        let mut fields = Scope::default();
        assert_eq!(fields.snake("fooBar", "p"), "foo_bar");
        assert_eq!(fields.snake("foo_bar", "p"), "foo_bar_2");
        assert_eq!(fields.snake("FOO-BAR", "p"), "foo_bar_3");
        assert_eq!(fields.snake("type", "p"), "r#type");
        assert_eq!(fields.snake("Type", "p"), "type_2");
        let mut types = Scope::default();
        assert_eq!(types.pascal("mode", "T"), "Mode");
        assert_eq!(types.pascal("MODE", "T"), "Mode2");
        assert_eq!(types.pascal("%", "T"), "T");
    }
}
