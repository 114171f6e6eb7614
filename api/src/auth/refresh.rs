//! Opaque refresh tokens: 256 random bits handed to the client, only a SHA-256 stored
//! (`orderflow_shared::opaque_token`, shared with the account emails' tokens).

pub use orderflow_shared::opaque_token::{generate, hash};
