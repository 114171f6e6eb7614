//! Business rules as plain types and functions: no I/O, table-tested.

pub mod email;
pub mod money;
pub mod paging;
pub mod password;
pub mod role;
pub mod sku;
pub mod text;
pub mod tier;
pub mod validation;

pub use email::Email;
pub use money::Price;
pub use paging::{PageParams, Paged};
pub use role::Role;
pub use tier::Tier;
pub use validation::{FieldError, Validator};
