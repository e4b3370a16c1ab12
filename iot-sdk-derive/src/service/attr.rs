//! Parses the struct and its `#[iot]` and `#[property]` attributes into a
//! [`Service`]. Attribute syntax errors are reported here; the rules that
//! relate several keys or fields live in `check.rs`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Attribute, Data, DeriveInput, Expr, Field, Fields, Ident, LitStr, Type};

use crate::attr::{self, Keyed, Number, Slot, doc_comment, key_name, unknown_key};
use crate::case::lower_camel_case;
use crate::errors::Errors;

/// A struct that derives `IotService`.
pub(crate) struct Service<'a> {
    /// The struct.
    pub(crate) ident: &'a Ident,
    /// The service id of the product model.
    pub(crate) service_id: String,
    /// Where the id comes from: the `service_id` value or the struct name.
    pub(crate) id_span: Span,
    /// The struct's doc comment.
    pub(crate) description: Option<String>,
    /// The properties, in field order, without the skipped fields.
    pub(crate) properties: Vec<Property<'a>>,
}

/// A field that is a property.
pub(crate) struct Property<'a> {
    /// The field.
    pub(crate) field: &'a Ident,
    /// Its type.
    pub(crate) ty: &'a Type,
    /// The property name of the product model.
    pub(crate) name: String,
    /// Where the name comes from: the `name` value or the field name.
    pub(crate) name_span: Span,
    /// `writeable`, if given.
    pub(crate) writeable: Option<Keyed<()>>,
    /// `min = ...`.
    pub(crate) min: Option<Keyed<Number>>,
    /// `max = ...`.
    pub(crate) max: Option<Keyed<Number>>,
    /// `step = ...`.
    pub(crate) step: Option<Keyed<Number>>,
    /// `max_length = ...`.
    pub(crate) max_length: Option<Keyed<usize>>,
    /// `enum_list = [...]` or `one_of = [...]`.
    pub(crate) enum_list: Option<Keyed<Vec<LitStr>>>,
    /// `unit = "..."`.
    pub(crate) unit: Option<String>,
    /// `read_with = ...`: the read hook.
    pub(crate) read_with: Option<Keyed<Expr>>,
    /// `write_with = ...`: the write hook.
    pub(crate) write_with: Option<Keyed<Expr>>,
    /// The field's doc comment.
    pub(crate) description: Option<String>,
}

const SERVICE_KEYS: &[&str] = &["service_id"];

const PROPERTY_KEYS: &[&str] = &[
    "name",
    "writeable",
    "min",
    "max",
    "step",
    "max_length",
    "enum_list",
    "one_of",
    "unit",
    "read_with",
    "write_with",
    "skip",
];

/// The service described by `input`, or `None` when `input` is not a
/// struct with named fields. Every problem found is reported to `errors`.
pub(crate) fn parse<'a>(input: &'a DeriveInput, errors: &Errors) -> Option<Service<'a>> {
    check_not_generic(input, errors);
    let fields = named_fields(input, errors)?;
    let (service_id, id_span) = match service_id(&input.attrs, errors) {
        Some(id) => (id.value, id.span),
        None => (
            lower_camel_case(&input.ident.unraw().to_string()),
            input.ident.span(),
        ),
    };
    misplaced(
        &input.attrs,
        "property",
        "goes on the fields of the struct",
        errors,
    );
    let properties = fields.filter_map(|field| property(field, errors)).collect();
    Some(Service {
        ident: &input.ident,
        service_id,
        id_span,
        description: doc_comment(&input.attrs),
        properties,
    })
}

/// A service is one type of the product model: no type parameters.
fn check_not_generic(input: &DeriveInput, errors: &Errors) {
    let generics = &input.generics;
    if !generics.params.is_empty() {
        errors.spanned(
            generics,
            "`IotService` cannot be derived for a generic struct: \
             each property needs one fixed type",
        );
    } else if let Some(where_clause) = &generics.where_clause {
        errors.spanned(
            where_clause,
            "`IotService` cannot be derived with a where clause",
        );
    }
}

/// The fields of a struct with named fields; anything else is reported.
fn named_fields<'a>(
    input: &'a DeriveInput,
    errors: &Errors,
) -> Option<impl Iterator<Item = &'a Field>> {
    let message = "`IotService` can only be derived for a struct with named fields: \
                   its fields are the properties";
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => return Some(fields.named.iter()),
            Fields::Unnamed(fields) => errors.spanned(
                fields,
                format_args!("{message}; a tuple struct's fields have no names"),
            ),
            Fields::Unit => errors.spanned(
                &input.ident,
                format_args!(
                    "{message}; write `struct {} {{}}` for a service without properties",
                    input.ident
                ),
            ),
        },
        Data::Enum(data) => errors.at(data.enum_token.span, message),
        Data::Union(data) => errors.at(data.union_token.span, message),
    }
    None
}

/// `#[iot(service_id = "...")]`, if given.
fn service_id(attrs: &[Attribute], errors: &Errors) -> Option<Keyed<String>> {
    let mut id = Slot::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("iot")) {
        let parsed = attr.parse_nested_meta(|meta| {
            match key_name(&meta).as_str() {
                "service_id" => id.set(errors, attr::string(&meta)?),
                _ => return Err(unknown_key(&meta, "iot", SERVICE_KEYS)),
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    id.take()
}

/// Reports each `#[name]` attribute in `attrs`: it belongs elsewhere.
fn misplaced(attrs: &[Attribute], name: &str, place: &str, errors: &Errors) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        errors.spanned(attr, format_args!("`#[{name}(...)]` {place}"));
    }
}

/// Every key of `#[property(...)]`, before the field is known to be a
/// property at all (`skip`).
#[derive(Default)]
struct PropertyAttrs {
    name: Slot<String>,
    writeable: Slot<()>,
    min: Slot<Number>,
    max: Slot<Number>,
    step: Slot<Number>,
    max_length: Slot<usize>,
    enum_list: Slot<Vec<LitStr>>,
    unit: Slot<String>,
    read_with: Slot<Expr>,
    write_with: Slot<Expr>,
    skip: Slot<()>,
}

impl PropertyAttrs {
    /// Reads one `#[property(...)]` attribute; a syntax error ends it.
    fn parse(&mut self, attr: &Attribute, errors: &Errors) -> syn::Result<()> {
        attr.parse_nested_meta(|meta| {
            match key_name(&meta).as_str() {
                "name" => self.name.set(errors, attr::string(&meta)?),
                "writeable" => self.writeable.set(errors, attr::flag(&meta)?),
                "min" => self.min.set(errors, attr::number(&meta)?),
                "max" => self.max.set(errors, attr::number(&meta)?),
                "step" => self.step.set(errors, attr::number(&meta)?),
                "max_length" => self.max_length.set(errors, attr::count(&meta)?),
                "enum_list" | "one_of" => self.enum_list.set(errors, attr::strings(&meta)?),
                "unit" => self.unit.set(errors, attr::string(&meta)?),
                "read_with" => self.read_with.set(errors, attr::expr(&meta)?),
                "write_with" => self.write_with.set(errors, attr::expr(&meta)?),
                "skip" => self.skip.set(errors, attr::flag(&meta)?),
                _ => return Err(unknown_key(&meta, "property", PROPERTY_KEYS)),
            }
            Ok(())
        })
    }

    /// The keys given besides `skip`, in the order of [`PROPERTY_KEYS`].
    fn keys_besides_skip(&self) -> Vec<&'static str> {
        let given = [
            ("name", self.name.is_set()),
            ("writeable", self.writeable.is_set()),
            ("min", self.min.is_set()),
            ("max", self.max.is_set()),
            ("step", self.step.is_set()),
            ("max_length", self.max_length.is_set()),
            ("enum_list", self.enum_list.is_set()),
            ("unit", self.unit.is_set()),
            ("read_with", self.read_with.is_set()),
            ("write_with", self.write_with.is_set()),
        ];
        given
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(key, _)| key)
            .collect()
    }
}

/// The property a field describes, or `None` for a `skip` field (or a
/// field without a name, already reported).
fn property<'a>(field: &'a Field, errors: &Errors) -> Option<Property<'a>> {
    let ident = field.ident.as_ref()?;
    misplaced(
        &field.attrs,
        "iot",
        "goes on the struct, not on a field",
        errors,
    );
    let mut attrs = PropertyAttrs::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("property")) {
        if let Err(error) = attrs.parse(attr, errors) {
            errors.push(error);
        }
    }
    if let Some(skip) = attrs.skip.get() {
        let others = attrs.keys_besides_skip();
        if !others.is_empty() {
            let others = others.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
            errors.at(
                skip.key,
                format_args!(
                    "`skip` cannot be combined with {}: a skipped field is not a property",
                    others.join(", ")
                ),
            );
        }
        return None;
    }
    let (name, name_span) = match attrs.name.take() {
        Some(name) => (name.value, name.span),
        None => (lower_camel_case(&ident.unraw().to_string()), ident.span()),
    };
    Some(Property {
        field: ident,
        ty: &field.ty,
        name,
        name_span,
        writeable: attrs.writeable.take(),
        min: attrs.min.take(),
        max: attrs.max.take(),
        step: attrs.step.take(),
        max_length: attrs.max_length.take(),
        enum_list: attrs.enum_list.take(),
        unit: attrs.unit.take().map(|unit| unit.value),
        read_with: attrs.read_with.take(),
        write_with: attrs.write_with.take(),
        description: doc_comment(&field.attrs),
    })
}
