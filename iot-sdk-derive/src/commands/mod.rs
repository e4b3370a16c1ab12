//! `#[commands]` on an inherent impl block: parse the `#[command]` methods
//! (`attr`), check the names (`check`), register each with inventory
//! (`expand`).

mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Item, ItemImpl};

use crate::errors::Errors;

/// The impl block without its `#[command]` attributes, followed by the
/// registrations; or, on errors, the errors beside the stripped impl
/// block, so that calls of its methods still resolve.
pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let errors = Errors::default();
    if !args.is_empty() {
        errors.spanned(&args, "`#[commands]` takes no arguments");
    }
    let mut item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => return with_errors(error, input),
    };
    let Item::Impl(block) = &mut item else {
        errors.spanned(item_keyword(&item), NOT_AN_IMPL);
        return finish(errors, &item, TokenStream::new());
    };
    check_inherent(block, &errors);
    let commands = attr::parse(block, &errors);
    check::check(&commands, &errors);
    let registrations = expand::expand(&block.self_ty, &commands);
    finish(errors, &item, registrations)
}

const NOT_AN_IMPL: &str = "`#[commands]` goes on an inherent impl block of a service: \
                           `impl MyService { ... }`";

/// `#[commands]` registers the methods of one service type: not a trait's
/// methods, and not those of a family of types.
fn check_inherent(block: &ItemImpl, errors: &Errors) {
    if let Some((bang, path, for_token)) = trait_of(block) {
        errors.spanned(quote!(#bang #path #for_token), NOT_AN_IMPL);
    }
    if !block.generics.params.is_empty() {
        errors.spanned(
            &block.generics,
            "`#[commands]` cannot go on a generic impl block: a service is one type",
        );
    } else if let Some(where_clause) = &block.generics.where_clause {
        errors.spanned(
            where_clause,
            "`#[commands]` cannot go on an impl block with a where clause",
        );
    }
}

fn trait_of(block: &ItemImpl) -> Option<(Option<syn::Token![!]>, &syn::Path, syn::Token![for])> {
    let (path, for_token) = block.trait_.as_ref()?;
    Some((block.modifiers.polarity, path, *for_token))
}

/// The token that says what kind of item it is, to point an error at.
fn item_keyword(item: &Item) -> TokenStream {
    match item {
        Item::Fn(f) => f.sig.fn_token.to_token_stream(),
        Item::Struct(s) => s.struct_token.to_token_stream(),
        Item::Enum(e) => e.enum_token.to_token_stream(),
        Item::Trait(t) => t.trait_token.to_token_stream(),
        Item::Mod(m) => m.mod_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}

fn finish(errors: Errors, item: &Item, registrations: TokenStream) -> TokenStream {
    match errors.finish() {
        Ok(()) => quote!(#item #registrations),
        Err(errors) => with_errors(errors, item.to_token_stream()),
    }
}

fn with_errors(errors: syn::Error, item: TokenStream) -> TokenStream {
    let mut output = errors.to_compile_error();
    output.extend(item);
    output
}
