//! The service struct: one field per property, with `#[property(...)]`
//! carrying the wire name and the constraints.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::{doc, ident, types, values};
use crate::names::Scope;
use iot_sdk_protocol::model::{Constraints, Property, Service};

/// `#[derive(IotService)] pub struct Name { ... }` and, when a property
/// has a default value (or no `Default`), its `Default` impl.
pub(crate) fn service_struct(service: &Service, name: &Ident) -> TokenStream {
    let mut scope = Scope::default();
    let fields: Vec<Ident> = service
        .properties
        .iter()
        .map(|p| ident(&scope.snake(&p.name, "property")))
        .collect();
    let initial: Vec<Option<TokenStream>> = service
        .properties
        .iter()
        .map(values::initial_value)
        .collect();
    let derive_default = initial
        .iter()
        .all(Option::is_none)
        .then(|| quote!(::core::default::Default,));
    let docs = doc(service.description.as_deref());
    let id = &service.service_id;
    let definitions = service
        .properties
        .iter()
        .zip(&fields)
        .map(|(p, f)| field(p, f));
    let default_impl = derive_default
        .is_none()
        .then(|| default_impl(name, &fields, &initial));
    quote! {
        #docs
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, #derive_default ::iot_sdk::IotService)]
        #[iot(service_id = #id)]
        pub struct #name {
            #(#definitions)*
        }
        #default_impl
    }
}

fn field(property: &Property, name: &Ident) -> TokenStream {
    let docs = doc(property.description.as_deref());
    let attribute = property_attribute(property);
    let base = types::base_type(property.data_type, &property.constraints, None);
    let ty = types::optional(base, property.required);
    quote! {
        #docs
        #attribute
        pub #name: #ty,
    }
}

/// `#[property(name = "...", writeable, min = .., ...)]`: what the model says.
fn property_attribute(property: &Property) -> TokenStream {
    let name = &property.name;
    let writeable = property.access.write.then(|| quote!(, writeable));
    let constraints = constraint_keys(&property.constraints);
    let unit = property.unit.as_ref().map(|unit| quote!(, unit = #unit));
    quote!(#[property(name = #name #writeable #(, #constraints)* #unit)])
}

/// `min = 0`, `max = 1`, `step = 0.5`, `max_length = 8`, `enum_list = [...]`.
pub(crate) fn constraint_keys(constraints: &Constraints) -> Vec<TokenStream> {
    let mut keys = Vec::new();
    if let Some(min) = &constraints.min {
        let min = types::bound(min);
        keys.push(quote!(min = #min));
    }
    if let Some(max) = &constraints.max {
        let max = types::bound(max);
        keys.push(quote!(max = #max));
    }
    if let Some(step) = constraints.step {
        let step = types::float(step);
        keys.push(quote!(step = #step));
    }
    if let Some(max_length) = constraints.max_length {
        let max_length = proc_macro2::Literal::u64_unsuffixed(max_length);
        keys.push(quote!(max_length = #max_length));
    }
    if !constraints.enum_list.is_empty() {
        let list = &constraints.enum_list;
        keys.push(quote!(enum_list = [#(#list),*]));
    }
    keys
}

fn default_impl(name: &Ident, fields: &[Ident], initial: &[Option<TokenStream>]) -> TokenStream {
    let values = initial.iter().map(|value| match value {
        Some(value) => value.clone(),
        None => quote!(::core::default::Default::default()),
    });
    quote! {
        impl ::core::default::Default for #name {
            fn default() -> Self {
                Self {
                    #(#fields: #values,)*
                }
            }
        }
    }
}
