//! Authentication: JWT access tokens, argon2id passwords, refresh-token rotation and the
//! extractor that turns a bearer token into the current user.

pub mod current_user;
pub mod jwt;
pub mod password;
pub mod refresh;
pub mod user_cache;

pub use current_user::CurrentUser;
