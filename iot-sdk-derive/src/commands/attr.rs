//! Finds the `#[command]` methods of an impl block, takes their attributes
//! off (they are no real attributes) and reads their signatures.

use proc_macro2::Span;
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Meta, ReceiverKind, ReturnType,
    Safety, Type,
};

use crate::attr::{self, Slot, doc_comment, key_name, unknown_key};
use crate::case::lower_camel_case;
use crate::errors::Errors;

/// A `#[command]` method.
pub(crate) struct Command {
    /// The method.
    pub(crate) method: Ident,
    /// The command name the platform calls.
    pub(crate) name: String,
    /// Where the name comes from: the `name` value or the method name.
    pub(crate) name_span: Span,
    /// The method's doc comment.
    pub(crate) description: Option<String>,
    /// The type of its parameter besides `self`, if it has one.
    pub(crate) paras: Option<Type>,
    /// Its return type; `None` for `()`.
    pub(crate) output: Option<Type>,
    /// Whether it is an `async fn`.
    pub(crate) is_async: bool,
}

const COMMAND_KEYS: &[&str] = &["name"];

/// The `#[command]` methods of `block`, whose `#[command]` attributes are
/// removed. Methods with a signature no command can have are reported
/// and left out.
pub(crate) fn parse(block: &mut ItemImpl, errors: &Errors) -> Vec<Command> {
    let mut commands = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            for attr in take_command_attrs(attrs_mut(item)) {
                errors.spanned(attr, "only methods can be commands");
            }
            continue;
        };
        let attrs = take_command_attrs(Some(&mut method.attrs));
        let Some((first, duplicates)) = attrs.split_first() else {
            continue;
        };
        for duplicate in duplicates {
            errors.spanned(duplicate, "duplicate `#[command]`");
        }
        let name = command_name(first, errors);
        if let Some(command) = command(method, name, errors) {
            commands.push(command);
        }
    }
    commands
}

fn attrs_mut(item: &mut ImplItem) -> Option<&mut Vec<Attribute>> {
    match item {
        ImplItem::Const(c) => Some(&mut c.attrs),
        ImplItem::Fn(f) => Some(&mut f.attrs),
        ImplItem::Type(t) => Some(&mut t.attrs),
        ImplItem::Macro(m) => Some(&mut m.attrs),
        _ => None,
    }
}

/// Removes the `#[command]` attributes from `attrs` and returns them.
fn take_command_attrs(attrs: Option<&mut Vec<Attribute>>) -> Vec<Attribute> {
    let Some(attrs) = attrs else {
        return Vec::new();
    };
    let (commands, others) = std::mem::take(attrs)
        .into_iter()
        .partition(|attr| attr.path().is_ident("command"));
    *attrs = others;
    commands
}

/// The `name = "..."` of `#[command(...)]`, if given and valid.
fn command_name(attr: &Attribute, errors: &Errors) -> Option<attr::Keyed<String>> {
    let mut name = Slot::default();
    let parsed = match &attr.meta {
        Meta::Path(_) => Ok(()),
        Meta::List(_) => attr.parse_nested_meta(|meta| {
            match key_name(&meta).as_str() {
                "name" => name.set(errors, attr::string(&meta)?),
                _ => return Err(unknown_key(&meta, "command", COMMAND_KEYS)),
            }
            Ok(())
        }),
        Meta::NameValue(_) => Err(syn::Error::new_spanned(
            attr,
            "expected `#[command]` or `#[command(name = \"...\")]`",
        )),
    };
    if let Err(error) = parsed {
        errors.push(error);
    }
    name.take()
}

/// The command `method` declares, or `None` if its signature cannot be a
/// command's (reported).
fn command(
    method: &ImplItemFn,
    name: Option<attr::Keyed<String>>,
    errors: &Errors,
) -> Option<Command> {
    // Each check reports its own errors; all run before giving up.
    let qualifiers = check_qualifiers(method, errors);
    let receiver = check_receiver(method, errors);
    let (Ok(paras), true, true) = (paras(method, errors), qualifiers, receiver) else {
        return None;
    };
    let sig = &method.sig;
    let (name, name_span) = match name {
        Some(name) => (name.value, name.span),
        None => (
            lower_camel_case(&sig.ident.unraw().to_string()),
            sig.ident.span(),
        ),
    };
    let output = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    Some(Command {
        method: sig.ident.clone(),
        name,
        name_span,
        description: doc_comment(&method.attrs),
        paras,
        output,
        is_async: sig.asyncness.is_some(),
    })
}

/// No `const`, `unsafe`, `extern` or generics: the registry calls the
/// method through one plain function pointer per command.
fn check_qualifiers(method: &ImplItemFn, errors: &Errors) -> bool {
    let sig = &method.sig;
    let mut valid = true;
    let mut refuse = |tokens: &dyn ToTokens, message: &str| {
        errors.spanned(tokens.to_token_stream(), message);
        valid = false;
    };
    if let Some(token) = &sig.constness {
        refuse(token, "a command method cannot be `const`");
    }
    if let Safety::Unsafe(token) = &sig.safety {
        refuse(token, "a command method cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        refuse(abi, "a command method cannot be `extern`");
    }
    if !sig.generics.params.is_empty() {
        refuse(
            &sig.generics,
            "a command method cannot be generic: the platform calls it with one parameter type",
        );
    } else if let Some(where_clause) = &sig.generics.where_clause {
        refuse(where_clause, "a command method cannot have a where clause");
    }
    valid
}

/// `&mut self` or `&self`: a command borrows its service.
fn check_receiver(method: &ImplItemFn, errors: &Errors) -> bool {
    let sig = &method.sig;
    let Some(receiver) = sig.receiver() else {
        errors.at(
            sig.ident.span(),
            "a command method takes `&mut self` or `&self` first: it runs on its service",
        );
        return false;
    };
    match &receiver.kind {
        ReceiverKind::Reference(..) => true,
        _ => {
            errors.spanned(
                receiver,
                "a command method borrows its service: write `&mut self` or `&self`",
            );
            false
        }
    }
}

/// The type of the one parameter besides `self`, if there is one.
fn paras(method: &ImplItemFn, errors: &Errors) -> Result<Option<Type>, ()> {
    let typed: Vec<_> = method
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .collect();
    match typed.as_slice() {
        [] => Ok(None),
        [paras] if matches!(*paras.ty, Type::ImplTrait(_)) => {
            errors.spanned(
                &paras.ty,
                "a command method cannot be generic: name the parameter type",
            );
            Err(())
        }
        [paras] => Ok(Some((*paras.ty).clone())),
        [_, extra @ ..] => {
            errors.spanned(
                quote!(#(#extra),*),
                "a command method takes at most one parameter besides `self`: \
                 put the command's parameters in one struct",
            );
            Err(())
        }
    }
}
