//! Commands: a parameter struct and response types per command, a trait
//! with one method per command for the user to implement, and the
//! `#[commands]` glue that registers each command and calls the trait.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::{doc, ident, types};
use crate::names::Scope;
use iot_sdk_protocol::model::{Command, DataType, Para, Service};

/// Everything generated for the commands of `service`; nothing without commands.
pub(crate) fn commands(
    service: &Service,
    service_type: &Ident,
    trait_name: &Ident,
    type_names: &mut Scope,
) -> TokenStream {
    if service.commands.is_empty() {
        return TokenStream::new();
    }
    let mut methods = Scope::default();
    let plans: Vec<Plan<'_>> = service
        .commands
        .iter()
        .map(|command| Plan::new(command, &mut methods, type_names))
        .collect();
    let definitions = plans.iter().map(Plan::definitions);
    let commands_trait = commands_trait(service, service_type, trait_name, &plans);
    let glue = glue(service_type, trait_name, &plans);
    quote! {
        #(#definitions)*
        #commands_trait
        #glue
    }
}

/// The generated names and types of one command.
struct Plan<'a> {
    command: &'a Command,
    /// The trait method.
    method: Ident,
    /// The registered method of the `#[commands]` impl.
    glue: Ident,
    /// The parameter struct, if the command has parameters.
    paras: Option<Record<'a>>,
    responses: Responses<'a>,
}

/// A struct of parameters: of a command or of one of its responses.
struct Record<'a> {
    ty: Ident,
    doc: String,
    paras: &'a [Para],
    fields: Vec<Ident>,
    /// The generated enum of each parameter with an enum list.
    enums: Vec<Option<Enum<'a>>>,
    /// For a response: its `response_name`.
    response_name: Option<&'a str>,
}

/// A Rust enum for the allowed texts of a parameter.
struct Enum<'a> {
    ty: Ident,
    variants: Vec<(Ident, &'a str)>,
}

/// What a command answers.
enum Responses<'a> {
    /// `()`: success without parameters.
    None,
    /// The one response of the model.
    One(Record<'a>),
    /// An enum of the responses, one variant each.
    Many {
        ty: Ident,
        variants: Vec<(Ident, Record<'a>)>,
    },
}

impl<'a> Plan<'a> {
    fn new(command: &'a Command, methods: &mut Scope, type_names: &mut Scope) -> Plan<'a> {
        let method = methods.snake(&command.name, "command");
        let bare = method.trim_start_matches("r#");
        let glue = ident(&format!("__{bare}"));
        let base = super::pascal_or(&command.name, "Command");
        let name = &command.name;
        let paras = (!command.paras.is_empty()).then(|| {
            let doc = format!("Parameters of command `{name}`.");
            Record::new(
                type_names.claim(&base),
                doc,
                &command.paras,
                None,
                type_names,
            )
        });
        let responses = Responses::new(command, &base, type_names);
        Plan {
            command,
            method: ident(&method),
            glue,
            paras,
            responses,
        }
    }

    fn definitions(&self) -> TokenStream {
        let paras = self.paras.as_ref().map(Record::definition);
        let responses = self.responses.definitions(&self.command.name);
        quote!(#paras #responses)
    }

    /// `Result<Response, CommandError>` of the trait method.
    fn output(&self) -> TokenStream {
        let ok = match &self.responses {
            Responses::None => quote!(()),
            Responses::One(record) => {
                let ty = &record.ty;
                quote!(#ty)
            }
            Responses::Many { ty, .. } => quote!(#ty),
        };
        quote!(::core::result::Result<#ok, ::iot_sdk::CommandError>)
    }

    /// `paras: Type` of the methods, if the command has parameters.
    fn parameter(&self) -> Option<TokenStream> {
        let ty = &self.paras.as_ref()?.ty;
        Some(quote!(paras: #ty))
    }

    /// The trait method as the user writes it, for error messages.
    fn signature(&self) -> String {
        let paras = self
            .paras
            .as_ref()
            .map(|r| format!(", paras: {}", r.ty))
            .unwrap_or_default();
        let ok = match &self.responses {
            Responses::None => "()".to_string(),
            Responses::One(record) => record.ty.to_string(),
            Responses::Many { ty, .. } => ty.to_string(),
        };
        format!(
            "async fn {}(&mut self{paras}) -> Result<{ok}, CommandError>",
            self.method
        )
    }
}

impl<'a> Record<'a> {
    fn new(
        ty: String,
        doc: String,
        paras: &'a [Para],
        response_name: Option<&'a str>,
        type_names: &mut Scope,
    ) -> Record<'a> {
        let mut field_names = Scope::default();
        let fields = paras
            .iter()
            .map(|p| ident(&field_names.snake(&p.name, "para")))
            .collect();
        let enums = paras
            .iter()
            .map(|para| {
                let has_list = para.data_type.is_text() && !para.constraints.enum_list.is_empty();
                has_list.then(|| Enum::new(&ty, para, type_names))
            })
            .collect();
        Record {
            ty: ident(&ty),
            doc,
            paras,
            fields,
            enums,
            response_name,
        }
    }

    fn definition(&self) -> TokenStream {
        let ty = &self.ty;
        let docs = doc(Some(&self.doc));
        let fields = self
            .paras
            .iter()
            .zip(&self.fields)
            .zip(&self.enums)
            .map(|((para, field), e)| record_field(para, field, e.as_ref().map(|e| &e.ty)));
        let enums = self.enums.iter().flatten().map(Enum::definition);
        let into_response = self.response_name.map(|name| into_response(ty, name));
        let derives = serde_derives(TokenStream::new());
        quote! {
            #docs
            #derives
            pub struct #ty {
                #(#fields)*
            }
            #into_response
            #(#enums)*
        }
    }
}

impl<'a> Enum<'a> {
    fn new(record: &str, para: &'a Para, type_names: &mut Scope) -> Enum<'a> {
        let base = format!("{record}{}", super::pascal_or(&para.name, "Value"));
        let mut variant_names = Scope::default();
        let variants = para
            .constraints
            .enum_list
            .iter()
            .map(|value| (ident(&variant_names.pascal(value, "Value")), value.as_str()))
            .collect();
        Enum {
            ty: ident(&type_names.claim(&base)),
            variants,
        }
    }

    /// No doc comment: schemars would make it the parameter's description.
    fn definition(&self) -> TokenStream {
        let ty = &self.ty;
        let variants = self.variants.iter().map(|(variant, text)| {
            quote! {
                #[serde(rename = #text)]
                #variant,
            }
        });
        let derives = serde_derives(quote!(
            ::core::marker::Copy,
            ::core::cmp::Eq,
            ::core::hash::Hash,
        ));
        quote! {
            #derives
            pub enum #ty {
                #(#variants)*
            }
        }
    }
}

impl<'a> Responses<'a> {
    fn new(command: &'a Command, base: &str, type_names: &mut Scope) -> Responses<'a> {
        let name = &command.name;
        match command.responses.as_slice() {
            [] => Responses::None,
            [response] => {
                let doc = format!("Response `{}` of command `{name}`.", response.name);
                let ty = type_names.claim(&format!("{base}Response"));
                Responses::One(Record::new(
                    ty,
                    doc,
                    &response.paras,
                    Some(&response.name),
                    type_names,
                ))
            }
            responses => {
                let ty = ident(&type_names.claim(&format!("{base}Response")));
                let mut variant_names = Scope::default();
                let variants = responses
                    .iter()
                    .map(|response| {
                        let variant = variant_names.pascal(&response.name, "Response");
                        let doc = format!("Response `{}` of command `{name}`.", response.name);
                        let record_ty = type_names.claim(&format!("{base}{variant}"));
                        let record = Record::new(
                            record_ty,
                            doc,
                            &response.paras,
                            Some(&response.name),
                            type_names,
                        );
                        (ident(&variant), record)
                    })
                    .collect();
                Responses::Many { ty, variants }
            }
        }
    }

    fn definitions(&self, command: &str) -> TokenStream {
        match self {
            Responses::None => TokenStream::new(),
            Responses::One(record) => record.definition(),
            Responses::Many { ty, variants } => {
                let records = variants.iter().map(|(_, record)| record.definition());
                let choice = response_enum(command, ty, variants);
                quote!(#choice #(#records)*)
            }
        }
    }
}

/// The enum of a command's responses, answering with the chosen one.
fn response_enum(command: &str, ty: &Ident, variants: &[(Ident, Record<'_>)]) -> TokenStream {
    let docs = doc(Some(&format!("The responses of command `{command}`.")));
    let definitions = variants.iter().map(|(variant, record)| {
        let record_ty = &record.ty;
        let docs = doc(Some(&record.doc));
        quote!(#docs #variant(#record_ty),)
    });
    let arms = variants.iter().map(|(variant, _)| {
        quote!(Self::#variant(response) => ::iot_sdk::__private::into_command_response(response),)
    });
    quote! {
        #docs
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
        pub enum #ty {
            #(#definitions)*
        }
        impl ::iot_sdk::__private::IntoCommandResponse for #ty {
            fn into_command_response(self) -> ::iot_sdk::CommandResponse {
                match self {
                    #(#arms)*
                }
            }
        }
    }
}

/// A response answers with its parameters and its `response_name`.
fn into_response(ty: &Ident, name: &str) -> TokenStream {
    quote! {
        impl ::iot_sdk::__private::IntoCommandResponse for #ty {
            fn into_command_response(self) -> ::iot_sdk::CommandResponse {
                match ::iot_sdk::__private::serde_json::to_value(&self) {
                    ::core::result::Result::Ok(paras) => {
                        ::iot_sdk::CommandResponse::success_with(paras).with_response_name(#name)
                    }
                    ::core::result::Result::Err(error) => ::iot_sdk::CommandResponse::failure(
                        ::std::format!("response not representable as JSON: {error}"),
                    ),
                }
            }
        }
    }
}

/// The derives (plus `extra`) and crate paths of parameter and response types.
fn serde_derives(extra: TokenStream) -> TokenStream {
    quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            #extra
            ::iot_sdk::__private::serde::Serialize,
            ::iot_sdk::__private::serde::Deserialize,
            ::iot_sdk::__private::schemars::JsonSchema,
        )]
        #[serde(crate = "::iot_sdk::__private::serde")]
        #[schemars(crate = "::iot_sdk::__private::schemars")]
    }
}

/// A field of a parameter struct: serde keeps the wire name, schemars
/// carries the constraints into the exported model.
fn record_field(para: &Para, field: &Ident, enum_type: Option<&Ident>) -> TokenStream {
    let docs = doc(para.description.as_deref());
    let base = types::base_type(para.data_type, &para.constraints, enum_type);
    let ty = types::optional(base, para.required);
    let serde = serde_attribute(para, field);
    let schemars = schemars_attribute(para);
    quote! {
        #docs
        #serde
        #schemars
        pub #field: #ty,
    }
}

fn serde_attribute(para: &Para, field: &Ident) -> Option<TokenStream> {
    let mut parts = Vec::new();
    let name = &para.name;
    if field.to_string().trim_start_matches("r#") != name {
        parts.push(quote!(rename = #name));
    }
    if !para.required {
        parts.push(quote!(
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        ));
    }
    (!parts.is_empty()).then(|| quote!(#[serde(#(#parts),*)]))
}

fn schemars_attribute(para: &Para) -> Option<TokenStream> {
    let constraints = &para.constraints;
    let mut parts = Vec::new();
    if constraints.min.is_some() || constraints.max.is_some() {
        let typed = |b| types::typed_bound(b, para.data_type);
        let min = constraints.min.as_ref().map(|b| {
            let b = typed(b);
            quote!(min = #b)
        });
        let max = constraints.max.as_ref().map(|b| {
            let b = typed(b);
            quote!(max = #b)
        });
        let bounds = min.into_iter().chain(max);
        parts.push(quote!(range(#(#bounds),*)));
    }
    if let Some(max_length) = constraints.max_length {
        let max_length = proc_macro2::Literal::u64_unsuffixed(max_length);
        parts.push(quote!(length(max = #max_length)));
    }
    parts.extend(schema_type(para));
    let mut extend = Vec::new();
    if let Some(step) = constraints.step {
        let step = types::float(step);
        extend.push(quote!("multipleOf" = #step));
    }
    if para.data_type == DataType::DateTime {
        extend.push(quote!("format" = "date-time"));
    }
    if let Some(unit) = &para.unit {
        extend.push(quote!("unit" = #unit));
    }
    if !extend.is_empty() {
        parts.push(quote!(extend(#(#extend),*)));
    }
    (!parts.is_empty()).then(|| quote!(#[schemars(#(#parts),*)]))
}

/// `with = "..."` for types whose own schema would not say their data
/// type: `EventTime` has none, `Value` allows anything.
fn schema_type(para: &Para) -> Option<TokenStream> {
    let ty = match para.data_type {
        DataType::DateTime => "::std::string::String",
        DataType::JsonObject => {
            "::iot_sdk::__private::Map<::std::string::String, ::iot_sdk::__private::Value>"
        }
        _ => return None,
    };
    let ty = if para.required {
        ty.to_string()
    } else {
        format!("::core::option::Option<{ty}>")
    };
    Some(quote!(with = #ty))
}

/// The trait the user implements: one method per command.
fn commands_trait(
    service: &Service,
    service_type: &Ident,
    trait_name: &Ident,
    plans: &[Plan<'_>],
) -> TokenStream {
    let id = &service.service_id;
    let docs = doc(Some(&format!(
        "The commands of service `{id}`: implement this trait for [`{service_type}`], \
         with an `async fn` per command."
    )));
    let signatures: Vec<String> = plans.iter().map(Plan::signature).collect();
    let message = escape(&format!(
        "`{{Self}}` does not implement the commands of service `{id}`"
    ));
    let note = escape(&format!(
        "implement `{trait_name}` for `{service_type}`: {}",
        signatures.join("; ")
    ));
    let methods = plans.iter().map(|plan| {
        let method = &plan.method;
        let docs = doc(Some(&format!("Command `{}`.", plan.command.name)));
        let parameter = plan.parameter().map(|p| quote!(, #p));
        let output = plan.output();
        quote! {
            #docs
            fn #method(&mut self #parameter) -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
        }
    });
    quote! {
        #docs
        #[diagnostic::on_unimplemented(message = #message, note = #note)]
        pub trait #trait_name {
            #(#methods)*
        }
    }
}

/// `{` and `}` are format braces in `on_unimplemented` texts; `{Self}` stays.
fn escape(text: &str) -> String {
    text.replace('{', "{{")
        .replace('}', "}}")
        .replace("{{Self}}", "{Self}")
}

/// The `#[commands]` impl: each command calls its trait method.
fn glue(service_type: &Ident, trait_name: &Ident, plans: &[Plan<'_>]) -> TokenStream {
    let methods = plans.iter().map(|plan| {
        let name = &plan.command.name;
        let glue = &plan.glue;
        let method = &plan.method;
        let parameter = plan.parameter();
        let argument = plan.paras.as_ref().map(|_| quote!(, paras));
        let output = plan.output();
        quote! {
            #[command(name = #name)]
            async fn #glue(&mut self, #parameter) -> #output {
                <Self as #trait_name>::#method(self #argument).await
            }
        }
    });
    quote! {
        #[::iot_sdk::commands]
        impl #service_type {
            #(#methods)*
        }
    }
}
