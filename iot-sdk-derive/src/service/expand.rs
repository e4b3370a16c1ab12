//! Writes the `IotService` impl of a checked [`Service`], and the stub
//! that stands in for it when the input has errors.

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Type};

use super::attr::{Property, Service};
use crate::attr::{Keyed, Number};

/// The impl, the staging struct of writes, and the compile-time type checks.
pub(crate) fn expand(service: &Service) -> TokenStream {
    let ident = service.ident;
    let write = write_struct(service);
    let info = info(service);
    let read = read_property(service);
    let stored = stored_property(service);
    let stage = stage_property(service);
    let apply = apply_write(service);
    let checks = type_checks(service);
    quote! {
        const _: () = {
            #write

            impl ::iot_sdk::__private::IotService for #ident {
                type Write = __IotWrite;
                #info
                #read
                #stored
                #stage
                #apply
            }

            #checks
        };
    }
}

/// An impl whose bodies never run, emitted beside the errors so that the
/// user's uses of the service do not add errors of their own.
pub(crate) fn stub(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut predicates = where_clause
        .map(|w| w.predicates.clone())
        .unwrap_or_default();
    // Lets the stub compile for a (rejected) generic struct too.
    predicates.push(syn::parse_quote!(Self: ::core::marker::Send + 'static));
    quote! {
        const _: () = {
            impl #impl_generics ::iot_sdk::__private::IotService for #ident #ty_generics
            where #predicates
            {
                type Write = ();
                fn info() -> &'static ::iot_sdk::__private::ServiceInfo {
                    ::core::unimplemented!()
                }
                fn read_property(&mut self, _: usize) -> ::iot_sdk::__private::Value {
                    ::core::unimplemented!()
                }
                fn stored_property(&self, _: usize) -> ::iot_sdk::__private::Value {
                    ::core::unimplemented!()
                }
                fn stage_property(
                    _: &mut (),
                    _: usize,
                    _: &::iot_sdk::__private::Value,
                ) -> ::core::result::Result<(), ::iot_sdk::__private::PropertyError> {
                    ::core::unimplemented!()
                }
                fn apply_write(&mut self, _: ()) {
                    ::core::unimplemented!()
                }
            }
        };
    }
}

/// One `Option` per writeable property: a write is decoded and checked
/// whole into it before any field changes.
fn write_struct(service: &Service) -> TokenStream {
    let fields = writeable(service).map(|(_, p)| {
        let (field, ty) = (p.field, p.ty);
        quote!(#field: ::core::option::Option<#ty>)
    });
    quote! {
        #[doc(hidden)]
        #[derive(::core::default::Default)]
        pub struct __IotWrite {
            #(#fields,)*
        }
    }
}

/// The writeable properties and their indexes.
fn writeable<'s, 'a>(service: &'s Service<'a>) -> impl Iterator<Item = (usize, &'s Property<'a>)> {
    service
        .properties
        .iter()
        .enumerate()
        .filter(|(_, p)| p.writeable.is_some())
}

fn info(service: &Service) -> TokenStream {
    let service_id = &service.service_id;
    let description = optional_str(service.description.as_deref());
    let properties = service.properties.iter().map(property_info);
    quote! {
        fn info() -> &'static ::iot_sdk::__private::ServiceInfo {
            static INFO: ::iot_sdk::__private::ServiceInfo = ::iot_sdk::__private::ServiceInfo {
                service_id: #service_id,
                description: #description,
                properties: &[#(#properties),*],
            };
            &INFO
        }
    }
}

fn property_info(property: &Property) -> TokenStream {
    let name = &property.name;
    let field = field_of(property.ty);
    let writeable = property.writeable.is_some();
    let min = bound(property.min.as_ref());
    let max = bound(property.max.as_ref());
    let step = optional(
        property
            .step
            .as_ref()
            .map(|step| f64_literal(step.value.value)),
    );
    let max_length = optional(property.max_length.as_ref().map(|len| {
        let len = Literal::usize_suffixed(len.value);
        quote!(#len)
    }));
    let enum_list = property.enum_list.iter().flat_map(|list| &list.value);
    let unit = optional_str(property.unit.as_deref());
    let description = optional_str(property.description.as_deref());
    quote! {
        ::iot_sdk::__private::PropertyInfo {
            name: #name,
            data_type: #field.data_type,
            writeable: #writeable,
            required: #field.required,
            min: #min,
            max: #max,
            step: #step,
            max_length: #max_length,
            enum_list: &[#(#enum_list),*],
            unit: #unit,
            description: #description,
        }
    }
}

/// `field::<FieldType>()`, spanned on the field type. Every use of a field
/// type goes through this one call, so a type that is no property type gets
/// one error (the compiler drops identical ones), on the field type.
fn field_of(ty: &Type) -> TokenStream {
    quote_spanned!(ty.span()=> ::iot_sdk::__private::field::<#ty>())
}

fn bound(bound: Option<&Keyed<Number>>) -> TokenStream {
    optional(bound.map(|bound| {
        let text = &bound.value.text;
        let value = f64_literal(bound.value.value);
        quote!(::iot_sdk::__private::Bound {
            text: ::std::borrow::Cow::Borrowed(#text),
            value: #value,
        })
    }))
}

/// An `f64` literal; a negative one as `-` and a literal, which is how the
/// compiler's own tokens for it look.
fn f64_literal(value: f64) -> TokenStream {
    let literal = Literal::f64_suffixed(value.abs());
    if value.is_sign_negative() {
        quote!(-#literal)
    } else {
        quote!(#literal)
    }
}

fn optional(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

fn optional_str(text: Option<&str>) -> TokenStream {
    optional(text.map(|text| quote!(#text)))
}

/// `&Self::info().properties[index]`.
fn info_of(index: usize) -> TokenStream {
    quote!(&<Self as ::iot_sdk::__private::IotService>::info().properties[#index])
}

/// Reads through the read hook where there is one.
fn read_property(service: &Service) -> TokenStream {
    let arms = service.properties.iter().enumerate().map(|(index, p)| {
        let info = info_of(index);
        let (field, ty) = (p.field, p.ty);
        let encode = field_of(ty);
        match &p.read_with {
            // Typed as the field, so a hook returning the wrong type is
            // reported on the hook.
            Some(hook) => {
                let hook = &hook.value;
                let read = quote_spanned!(hook.span()=> (#hook)(self));
                quote! {
                    #index => {
                        let value: #ty = #read;
                        (#encode.encode)(&value, #info)
                    }
                }
            }
            None => quote!(#index => (#encode.encode)(&self.#field, #info)),
        }
    });
    quote! {
        fn read_property(&mut self, index: usize) -> ::iot_sdk::__private::Value {
            match index {
                #(#arms,)*
                _ => ::iot_sdk::__private::Value::Null,
            }
        }
    }
}

/// The fields as they are: what change detection compares.
fn stored_property(service: &Service) -> TokenStream {
    let arms = service.properties.iter().enumerate().map(|(index, p)| {
        let (info, encode, field) = (info_of(index), field_of(p.ty), p.field);
        quote!(#index => (#encode.encode)(&self.#field, #info))
    });
    quote! {
        fn stored_property(&self, index: usize) -> ::iot_sdk::__private::Value {
            match index {
                #(#arms,)*
                _ => ::iot_sdk::__private::Value::Null,
            }
        }
    }
}

fn stage_property(service: &Service) -> TokenStream {
    let arms: Vec<_> = writeable(service)
        .map(|(index, p)| {
            let (info, decode, field) = (info_of(index), field_of(p.ty), p.field);
            quote! {
                #index => {
                    write.#field = ::core::option::Option::Some((#decode.decode)(#info, value)?);
                    ::core::result::Result::Ok(())
                }
            }
        })
        .collect();
    // Unused parameters would warn in the user's crate.
    let write = parameter("write", !arms.is_empty());
    let value = parameter("value", !arms.is_empty());
    quote! {
        fn stage_property(
            #write: &mut __IotWrite,
            index: usize,
            #value: &::iot_sdk::__private::Value,
        ) -> ::core::result::Result<(), ::iot_sdk::__private::PropertyError> {
            match index {
                #(#arms)*
                _ => ::core::result::Result::Err(::iot_sdk::__private::not_writeable(
                    <Self as ::iot_sdk::__private::IotService>::info(),
                    index,
                )),
            }
        }
    }
}

/// Writes through the write hook where there is one.
fn apply_write(service: &Service) -> TokenStream {
    let applies: Vec<_> = writeable(service)
        .map(|(_, p)| {
            let field = p.field;
            let set = match &p.write_with {
                Some(hook) => {
                    let hook = &hook.value;
                    quote_spanned!(hook.span()=> (#hook)(self, value);)
                }
                None => quote!(self.#field = value;),
            };
            quote! {
                if let ::core::option::Option::Some(value) = write.#field {
                    #set
                }
            }
        })
        .collect();
    let write = parameter("write", !applies.is_empty());
    quote! {
        fn apply_write(&mut self, #write: __IotWrite) {
            #(#applies)*
        }
    }
}

/// `name`, or `_name` when the body does not use it.
fn parameter(name: &str, used: bool) -> syn::Ident {
    if used {
        format_ident!("{name}")
    } else {
        format_ident!("_{name}")
    }
}

/// Calls of `assert_numeric`/`assert_text::<FieldType>()`, each spanned
/// on the key that demands the trait, so the compiler's error points at it.
/// (That the field type is a property type at all is checked by every use
/// of [`field_of`].)
fn type_checks(service: &Service) -> TokenStream {
    let checks = service.properties.iter().flat_map(|p| {
        let ty = p.ty;
        let mut checks = Vec::new();
        let numeric = [&p.min, &p.max, &p.step];
        checks.extend(
            numeric
                .into_iter()
                .flatten()
                .map(|k| assert("assert_numeric", ty, k.key)),
        );
        if let Some(k) = &p.max_length {
            checks.push(assert("assert_text", ty, k.key));
        }
        if let Some(k) = &p.enum_list {
            checks.push(assert("assert_text", ty, k.key));
        }
        checks
    });
    quote! {
        const _: () = {
            #(#checks)*
        };
    }
}

/// `assert_…::<FieldType>();` with every token, the type's too, on `span`:
/// the compiler points at the type argument when it can.
fn assert(function: &str, ty: &Type, span: Span) -> TokenStream {
    let function = syn::Ident::new(function, span);
    let ty = respan(ty.to_token_stream(), span);
    quote_spanned!(span=> ::iot_sdk::__private::#function::<#ty>();)
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}
