//! The connection pool against a real PostgreSQL server, through a protocol proxy that holds
//! the server's reply at a chosen moment: a caller cut short at each await leaves nothing
//! behind for the next user of the connection; connections are recycled as configured.

mod cancellation;
mod helpers;
mod lifecycle;
