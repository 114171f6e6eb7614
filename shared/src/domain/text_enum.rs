//! `text_enum!`: an enum that is stored, sent and shown as fixed lowercase words (roles, tiers,
//! statuses). One list of `Variant => "word"` gives the enum with its serde names and OpenAPI
//! schema, `as_str`, `Display`, `FromStr` and `TryFrom<String>` (sqlx decodes with it), so the
//! words cannot drift apart between them.

macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$variant_meta:meta])* $variant:ident => $word:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        // The words are the variants in lowercase (utoipa does not read a `rename` that a
        // macro passes in); `tests` below proves serde, the schema and `as_str` agree.
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok(Self::$variant),)+
                    other => Err(format!(concat!("unknown ", $what, " {:?}"), other)),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use crate::domain::{OrderStatus, Role, Tier};
    use std::{fmt::Display, str::FromStr};

    /// serde, the OpenAPI schema, `as_str`/`Display` and `FromStr` use the same words.
    fn agree<T>(variants: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + Display + FromStr + serde::Serialize,
        T: serde::de::DeserializeOwned + utoipa::PartialSchema,
        <T as FromStr>::Err: std::fmt::Debug,
    {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let words: Vec<&str> = variants.iter().map(|v| as_str(*v)).collect();
        assert_eq!(schema["enum"], serde_json::json!(words), "{schema}");
        for (variant, word) in variants.iter().zip(&words) {
            assert_eq!(serde_json::to_value(variant).unwrap(), *word);
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(word)).unwrap(),
                *variant
            );
            assert_eq!(variant.to_string(), *word);
            assert_eq!(word.parse::<T>().unwrap(), *variant);
        }
        assert!("Nope".parse::<T>().is_err());
    }

    #[test]
    fn serde_the_schema_and_the_text_agree() {
        agree(&Role::ALL, Role::as_str);
        agree(&Tier::ALL, Tier::as_str);
        agree(&OrderStatus::ALL, OrderStatus::as_str);
    }
}
