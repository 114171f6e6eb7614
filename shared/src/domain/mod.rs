//! Business rules as plain types and functions: no I/O, table-tested.

pub mod account_email;
pub mod email;
pub mod idempotency;
pub mod lockout;
pub mod money;
pub mod order;
pub mod paging;
pub mod password;
pub mod patterns;
pub mod periods;
pub mod retry;
pub mod role;
pub mod sku;
pub mod status;
pub mod text;
mod text_enum;
pub mod tier;
pub mod validation;

pub use email::Email;
pub use money::Price;
pub use paging::{PageParams, Paged};
pub use role::Role;
pub use status::OrderStatus;
pub use tier::Tier;
pub use validation::{FieldError, Validator};
