//! Registers each command: a function that downcasts the service, decodes
//! the parameters, calls the method and converts what it returns, and an
//! `inventory` entry pointing at it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Type;
use syn::spanned::Spanned;

use super::attr::Command;

/// The check that `self_ty` is a service, and one registration per command.
pub(crate) fn expand(self_ty: &Type, commands: &[Command]) -> TokenStream {
    // Spanned on the type, so a missing `#[derive(IotService)]` is
    // reported on the impl block's type.
    let assert_service = quote_spanned! {self_ty.span()=>
        const _: () = ::iot_sdk::__private::assert_service::<#self_ty>();
    };
    let registrations = commands
        .iter()
        .map(|command| registration(self_ty, command));
    quote! {
        #assert_service
        #(#registrations)*
    }
}

fn registration(self_ty: &Type, command: &Command) -> TokenStream {
    let invoke = invoke(self_ty, command);
    let name = &command.name;
    let description = match &command.description {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    };
    // Spanned on the parameter type: a type without `JsonSchema` is
    // reported there.
    let paras = match &command.paras {
        Some(ty) => quote_spanned!(ty.span()=> ::iot_sdk::__private::command_paras::<#ty>),
        None => quote!(::iot_sdk::__private::no_paras),
    };
    // `line!()` takes its line from its span: the method's name.
    let location = quote_spanned! {command.method.span()=>
        ::core::concat!(::core::file!(), ":", ::core::line!())
    };
    quote! {
        const _: () = {
            #invoke

            ::iot_sdk::__private::inventory::submit! {
                ::iot_sdk::__private::CommandRegistration {
                    service_type: ::iot_sdk::__private::TypeId::of::<#self_ty>,
                    service_type_name: ::iot_sdk::__private::type_name::<#self_ty>,
                    name: #name,
                    description: #description,
                    invoke: __iot_invoke,
                    paras: #paras,
                    location: #location,
                }
            }
        };
    }
}

/// `__iot_invoke`, the `CommandFn` of the command.
fn invoke(self_ty: &Type, command: &Command) -> TokenStream {
    let method = &command.method;
    // Spanned on the parameter type: a type without `Deserialize` is
    // reported there. Decoded before the service's lock is taken.
    let (decode, args) = match &command.paras {
        Some(ty) => (
            quote_spanned! {ty.span()=>
                let paras = match ::iot_sdk::__private::decode_paras::<#ty>(paras) {
                    ::core::result::Result::Ok(paras) => paras,
                    ::core::result::Result::Err(failure) => return failure,
                };
            },
            quote!(&mut *service, paras),
        ),
        None => (quote!(), quote!(&mut *service)),
    };
    // An unused parameter would warn in the user's crate.
    let paras_param = match &command.paras {
        Some(_) => format_ident!("paras"),
        None => format_ident!("_paras"),
    };
    let mut call = quote!(<#self_ty>::#method(#args));
    if command.is_async {
        call = quote!(#call.await);
    }
    // A return type that is no command response is reported on the type.
    // The compiler points at the argument of `into_command_response`, so
    // for a declared return type the argument is a variable spanned on it.
    let respond = match &command.output {
        Some(ty) => {
            let respond =
                quote_spanned!(ty.span()=> ::iot_sdk::__private::into_command_response(returned));
            quote! {
                let returned = #call;
                #respond
            }
        }
        None => quote!(::iot_sdk::__private::into_command_response(#call)),
    };
    quote! {
        fn __iot_invoke<'a>(
            service: &'a (dyn ::iot_sdk::__private::AnyService
                + ::core::marker::Send
                + ::core::marker::Sync),
            #paras_param: ::iot_sdk::__private::Value,
        ) -> ::iot_sdk::__private::CommandFuture<'a> {
            ::iot_sdk::__private::command_future(async move {
                #decode
                let mut service =
                    match ::iot_sdk::__private::command_service::<#self_ty>(service).await {
                        ::core::result::Result::Ok(service) => service,
                        ::core::result::Result::Err(failure) => return failure,
                    };
                #respond
            })
        }
    }
}
