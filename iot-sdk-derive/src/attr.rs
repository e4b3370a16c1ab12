//! What both macros read from attributes: doc comments, and the values of
//! `key = value` pairs, each kept with the span of its key and value so a
//! later check can point at the user's token.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::parse::Parse;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Lit, LitStr, Token};

use crate::errors::Errors;

/// A value given in an attribute, with where its key and value are.
pub(crate) struct Keyed<T> {
    /// The key as written (`one_of` for the alias of `enum_list`).
    pub(crate) name: String,
    /// The key's span.
    pub(crate) key: Span,
    /// The value's span (the key's for a flag).
    pub(crate) span: Span,
    /// The value.
    pub(crate) value: T,
}

/// A number literal, possibly negative, as written and as `f64`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Number {
    /// The digits as the product model should carry them, e.g. `-30`, `0.5`.
    pub(crate) text: String,
    /// Its value.
    pub(crate) value: f64,
}

/// The slot of one key: a key given twice is an error, the first value wins.
pub(crate) struct Slot<T>(Option<Keyed<T>>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot(None)
    }
}

impl<T> Slot<T> {
    /// Stores `keyed`, or reports it as a duplicate.
    pub(crate) fn set(&mut self, errors: &Errors, keyed: Keyed<T>) {
        match &self.0 {
            Some(first) if first.name == keyed.name => {
                errors.at(keyed.key, format_args!("duplicate `{}`", keyed.name));
            }
            Some(first) => errors.at(
                keyed.key,
                format_args!(
                    "duplicate `{}`: `{}` is already given",
                    keyed.name, first.name
                ),
            ),
            None => self.0 = Some(keyed),
        }
    }

    /// The value, if given.
    pub(crate) fn get(&self) -> Option<&Keyed<T>> {
        self.0.as_ref()
    }

    /// The value, if given, by value.
    pub(crate) fn take(self) -> Option<Keyed<T>> {
        self.0
    }

    /// Whether the key was given.
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

/// The key of `meta` as written, or an empty string for a path like `a::b`
/// (which then matches no key and is reported as unknown).
pub(crate) fn key_name(meta: &ParseNestedMeta) -> String {
    meta.path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The error for a key the attribute does not know, listing the ones it does.
pub(crate) fn unknown_key(meta: &ParseNestedMeta, attribute: &str, valid: &[&str]) -> syn::Error {
    let key = meta
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>();
    let valid = match valid {
        [only] => format!("`{only}`"),
        _ => {
            let keys = valid.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
            format!("one of {}", keys.join(", "))
        }
    };
    meta.error(format_args!(
        "unknown {attribute} attribute `{}`; expected {valid}",
        key.join("::")
    ))
}

fn keyed<T>(meta: &ParseNestedMeta, span: Span, value: T) -> Keyed<T> {
    Keyed {
        name: key_name(meta),
        key: meta.path.span(),
        span,
        value,
    }
}

/// A flag such as `writeable`: the key alone, without a value.
pub(crate) fn flag(meta: &ParseNestedMeta) -> syn::Result<Keyed<()>> {
    let input = meta.input;
    if !(input.is_empty() || input.peek(Token![,])) {
        let name = key_name(meta);
        return Err(meta.error(format_args!(
            "`{name}` is a flag and takes no value: write `{name}` alone"
        )));
    }
    Ok(keyed(meta, meta.path.span(), ()))
}

/// `key = "text"`.
pub(crate) fn string(meta: &ParseNestedMeta) -> syn::Result<Keyed<String>> {
    let lit = literal(meta, "a string", "\"...\"")?;
    match lit {
        Lit::Str(s) => Ok(keyed(meta, s.span(), s.value())),
        other => Err(wrong_literal(meta, &other, "a string", "\"...\"")),
    }
}

/// `key = 12`, `key = -30`, `key = 0.5`.
pub(crate) fn number(meta: &ParseNestedMeta) -> syn::Result<Keyed<Number>> {
    let value = meta.value()?;
    let minus: Option<Token![-]> = value.parse()?;
    let lit = literal_after_value(meta, value, "a number", "0")?;
    let digits = match &lit {
        Lit::Int(int) => int.base10_digits(),
        Lit::Float(float) => float.base10_digits(),
        other => return Err(wrong_literal(meta, other, "a number", "0")),
    };
    let text = format!("{}{digits}", if minus.is_some() { "-" } else { "" });
    let span = match minus {
        Some(minus) => minus.span.join(lit.span()).unwrap_or(lit.span()),
        None => lit.span(),
    };
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(keyed(meta, span, Number { text, value })),
        _ => Err(syn::Error::new(span, "number out of range")),
    }
}

/// `key = 16`: a count, not negative.
pub(crate) fn count(meta: &ParseNestedMeta) -> syn::Result<Keyed<usize>> {
    let value = meta.value()?;
    if value.peek(Token![-]) {
        return Err(value.error("expected a count (0 or more), not a negative number"));
    }
    match literal_after_value(meta, value, "a whole number", "16")? {
        Lit::Int(int) => Ok(keyed(meta, int.span(), int.base10_parse()?)),
        other => Err(wrong_literal(meta, &other, "a whole number", "16")),
    }
}

/// `key = ["a", "b"]`, each text with its span.
pub(crate) fn strings(meta: &ParseNestedMeta) -> syn::Result<Keyed<Vec<LitStr>>> {
    let value = meta.value()?;
    let example = "[\"low\", \"high\"]";
    if !value.peek(syn::token::Bracket) {
        return Err(value.error(format_args!(
            "expected a list of strings, e.g. `{} = {example}`",
            key_name(meta)
        )));
    }
    let content;
    let brackets = syn::bracketed!(content in value);
    let items = content.parse_terminated(Lit::parse, Token![,])?;
    let mut texts = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Lit::Str(s) => texts.push(s),
            other => return Err(wrong_literal(meta, &other, "a string", "\"low\"")),
        }
    }
    Ok(keyed(meta, brackets.span.join(), texts))
}

/// `key = expression`, for hooks such as `read_with = Self::sample`.
pub(crate) fn expr(meta: &ParseNestedMeta) -> syn::Result<Keyed<Expr>> {
    let expr: Expr = meta.value()?.parse()?;
    Ok(keyed(meta, expr.span(), expr))
}

fn literal(meta: &ParseNestedMeta, what: &str, example: &str) -> syn::Result<Lit> {
    let value = meta.value()?;
    literal_after_value(meta, value, what, example)
}

fn literal_after_value(
    meta: &ParseNestedMeta,
    value: syn::parse::ParseStream,
    what: &str,
    example: &str,
) -> syn::Result<Lit> {
    if value.peek(Lit) {
        value.parse()
    } else {
        Err(value.error(format_args!(
            "expected {what}, e.g. `{} = {example}`",
            key_name(meta)
        )))
    }
}

fn wrong_literal(meta: &ParseNestedMeta, lit: &Lit, what: &str, example: &str) -> syn::Error {
    let found = match lit {
        Lit::Str(_) => "a string",
        Lit::Int(_) => "an integer",
        Lit::Float(_) => "a decimal number",
        Lit::Bool(_) => "a boolean",
        Lit::Char(_) => "a character",
        _ => "another kind of literal",
    };
    syn::Error::new(
        lit.span(),
        format_args!(
            "expected {what}, found {found}: write `{} = {example}`",
            key_name(meta)
        ),
    )
}

/// The doc comment of an item: each line trimmed, blank lines dropped,
/// the rest joined with a space. `None` without a doc comment.
pub(crate) fn doc_comment(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|doc| {
            doc.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}
