//! `#[derive(IotService)]`: parse (`attr`), check (`check`), expand
//! (`expand`).

mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

/// The `IotService` impl of `input`, or its errors beside a stub impl.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let errors = Errors::default();
    let service = attr::parse(input, &errors);
    if let Some(service) = &service {
        check::check(service, &errors);
    }
    match (errors.finish(), service) {
        (Ok(()), Some(service)) => expand::expand(&service),
        (Ok(()), None) => expand::stub(input),
        (Err(errors), _) => {
            let mut output = errors.to_compile_error();
            output.extend(expand::stub(input));
            output
        }
    }
}
