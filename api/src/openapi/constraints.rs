//! The rules of the domain functions as JSON Schema keywords, so that the document accepts
//! exactly what the handlers accept: patterns and lengths of strings (each pattern is tested
//! against its domain function in `orderflow_shared::domain::patterns`), bounds of numbers and
//! arrays, the enums of free-form parameters. Rules the schema cannot say (a referenced row
//! must exist, an order's quantities add up to at most 20, a range's start before its end)
//! answer 422 and are described on the operation.

use orderflow_shared::{
    db::orders::OrderSort,
    domain::{
        email::Email,
        idempotency::MAX_KEY_LEN,
        money::{self, Price},
        order::{MAX_NOTES_CHARS, MAX_TOTAL_QUANTITY},
        paging::{MAX_PAGE, MAX_PAGE_SIZE},
        password, sku, text,
    },
};
use serde_json::Value;
use utoipa::openapi::{
    OpenApi, RefOr, Schema,
    path::{Operation, ParameterIn},
    schema::Object,
};

/// Longest customer and product name (`text::required(…, NAME_MAX)` in the handlers).
const NAME_MAX: usize = 200;

#[derive(Clone)]
enum Rule {
    Text {
        pattern: Option<String>,
        min: Option<usize>,
        max: Option<usize>,
    },
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Items {
        min: usize,
        max: usize,
    },
    OneOf(Vec<&'static str>),
}

fn name() -> Rule {
    Rule::Text {
        pattern: Some(text::pattern()),
        min: None,
        max: Some(NAME_MAX),
    }
}

fn email() -> Rule {
    Rule::Text {
        pattern: Some(Email::pattern()),
        min: None,
        max: Some(Email::MAX_LEN),
    }
}

fn sku() -> Rule {
    Rule::Text {
        pattern: Some(sku::pattern()),
        min: None,
        max: None,
    }
}

fn price() -> Rule {
    Rule::Text {
        pattern: Some(Price::PATTERN.into()),
        min: None,
        max: None,
    }
}

fn positive_id() -> Rule {
    Rule::Int {
        min: Some(1),
        max: None,
    }
}

/// (component schema, property, rule).
fn properties() -> Vec<(&'static str, &'static str, Rule)> {
    let password = Rule::Text {
        pattern: None,
        min: Some(password::MIN_LEN),
        max: Some(password::MAX_LEN),
    };
    let notes = || Rule::Text {
        pattern: Some(text::STORABLE_PATTERN.into()),
        min: None,
        max: Some(MAX_NOTES_CHARS),
    };
    vec![
        ("RegisterRequest", "email", email()),
        ("RegisterRequest", "password", password.clone()),
        ("ChangePasswordRequest", "new_password", password.clone()),
        ("ResetPasswordRequest", "password", password),
        ("ForgotPasswordRequest", "email", email()),
        ("RegisterRequest", "name", name()),
        ("CreateCustomerRequest", "name", name()),
        ("CreateCustomerRequest", "email", email()),
        ("UpdateCustomerRequest", "name", name()),
        ("CreateProductRequest", "sku", sku()),
        ("CreateProductRequest", "name", name()),
        ("CreateProductRequest", "price", price()),
        ("UpdateProductRequest", "sku", sku()),
        ("UpdateProductRequest", "name", name()),
        ("UpdateProductRequest", "price", price()),
        ("CreateOrderRequest", "customer_id", positive_id()),
        (
            "CreateOrderRequest",
            "items",
            Rule::Items {
                min: 1,
                max: MAX_TOTAL_QUANTITY as usize,
            },
        ),
        ("CreateOrderRequest", "notes", notes()),
        ("OrderItemRequest", "product_id", positive_id()),
        (
            "OrderItemRequest",
            "quantity",
            Rule::Int {
                min: Some(1),
                max: Some(MAX_TOTAL_QUANTITY),
            },
        ),
        ("UpdateOrderRequest", "notes", notes()),
        ("LoginForm", "grant_type", Rule::OneOf(vec!["password"])),
    ]
}

/// Query, path and header parameters by name, wherever they appear.
fn parameter(place: &ParameterIn, name: &str) -> Option<Rule> {
    Some(match (place, name) {
        (ParameterIn::Path, "id") => positive_id(),
        (ParameterIn::Query, "page") => Rule::Int {
            min: Some(1),
            max: Some(MAX_PAGE),
        },
        (ParameterIn::Query, "page_size") => Rule::Int {
            min: Some(1),
            max: Some(MAX_PAGE_SIZE),
        },
        (ParameterIn::Query, "sort") => Rule::OneOf(OrderSort::NAMES.to_vec()),
        (ParameterIn::Query, "min_total" | "max_total") => Rule::Text {
            pattern: Some(money::AMOUNT_PATTERN.into()),
            min: None,
            max: None,
        },
        (ParameterIn::Query, "email" | "entity_type" | "action") => Rule::Text {
            pattern: Some(text::STORABLE_PATTERN.into()),
            min: None,
            max: None,
        },
        (ParameterIn::Header, "Idempotency-Key") => Rule::Text {
            pattern: Some(r"^[\x21-\x7E]+$".into()),
            min: Some(1),
            max: Some(MAX_KEY_LEN),
        },
        _ => return None,
    })
}

pub fn apply(spec: &mut OpenApi) {
    let components = spec.components.get_or_insert_with(Default::default);
    for (schema, property, rule) in properties() {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
            panic!("OpenAPI: no object schema {schema}");
        };
        let Some(RefOr::T(field)) = object.properties.get_mut(property) else {
            panic!("OpenAPI: {schema} has no inline property {property}");
        };
        set(field, &rule, &format!("{schema}.{property}"));
    }
    for item in spec.paths.paths.values_mut() {
        for operation in super::operations(item) {
            constrain_parameters(operation);
        }
    }
}

fn constrain_parameters(operation: &mut Operation) {
    for param in operation.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else {
            continue;
        };
        let Some(rule) = parameter(&param.parameter_in, &param.name) else {
            continue;
        };
        let place = format!("parameter {}", param.name);
        match param.schema.as_mut() {
            Some(RefOr::T(schema)) => {
                // A header given as Option<String> is "string or null"; a header is never null.
                if let (Schema::Object(object), ParameterIn::Header) =
                    (&mut *schema, &param.parameter_in)
                {
                    object.schema_type = utoipa::openapi::Type::String.into();
                }
                set(schema, &rule, &place);
            }
            _ => panic!("OpenAPI: {place} has no inline schema"),
        }
    }
}

fn set(schema: &mut Schema, rule: &Rule, place: &str) {
    match (schema, rule) {
        (Schema::Object(o), Rule::Text { pattern, min, max }) => {
            o.pattern = pattern.clone();
            o.min_length = *min;
            o.max_length = *max;
        }
        (Schema::Object(o), Rule::Int { min, max }) => {
            o.minimum = min.map(Into::into);
            o.maximum = max.map(Into::into);
        }
        (Schema::Object(o), Rule::OneOf(values)) => set_enum(o, values),
        (Schema::Array(a), Rule::Items { min, max }) => {
            a.min_items = Some(*min);
            a.max_items = Some(*max);
        }
        _ => panic!("OpenAPI: the rule for {place} does not fit its schema"),
    }
}

fn set_enum(object: &mut Object, values: &[&str]) {
    object.enum_values = Some(values.iter().map(|v| Value::from(*v)).collect());
}
