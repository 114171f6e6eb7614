//! The emails about an account rather than an order: what each is for, how long its token
//! lives, who may receive it, and the link it carries.

use std::time::Duration;

use crate::settings::AccountSettings;

/// What an account email (and its single-use token) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Proves the registrant owns the address.
    VerifyEmail,
    /// Lets the owner set a new password.
    ResetPassword,
    /// Lifts every login lock of the account (sent when its slowdown starts).
    Unlock,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Self::VerifyEmail, Self::ResetPassword, Self::Unlock];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Unlock => "unlock",
        }
    }

    /// The page the link opens (`{APP_PUBLIC_URL}{path}?token=…`).
    pub fn path(self) -> &'static str {
        match self {
            Self::VerifyEmail => "/verify-email",
            Self::ResetPassword => "/reset-password",
            Self::Unlock => "/unlock-account",
        }
    }

    pub fn ttl(self, settings: &AccountSettings) -> Duration {
        match self {
            Self::VerifyEmail => settings.verify_email_ttl,
            Self::ResetPassword => settings.password_reset_ttl,
            Self::Unlock => settings.unlock_ttl,
        }
    }

    /// Whether an address in this state may receive this email: the verification goes only
    /// to an address not verified yet; everything else only to a verified one (an
    /// unverified address gets no other email), and never to a deactivated account.
    pub fn may_send(self, verified: bool, active: bool) -> bool {
        active
            && match self {
                Self::VerifyEmail => !verified,
                Self::ResetPassword | Self::Unlock => verified,
            }
    }

    /// The link in the email.
    pub fn link(self, public_url: &str, token: &str) -> String {
        format!(
            "{}{}?token={token}",
            public_url.trim_end_matches('/'),
            self.path()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_verification_goes_to_an_unverified_address_and_nothing_to_a_deactivated_one() {
        use Purpose::*;
        let cases = [
            (VerifyEmail, false, true, true),
            (VerifyEmail, true, true, false),
            (ResetPassword, false, true, false),
            (ResetPassword, true, true, true),
            (Unlock, false, true, false),
            (Unlock, true, true, true),
            (VerifyEmail, false, false, false),
            (ResetPassword, true, false, false),
            (Unlock, true, false, false),
        ];
        for (purpose, verified, active, sends) in cases {
            assert_eq!(
                purpose.may_send(verified, active),
                sends,
                "{purpose:?} verified={verified} active={active}"
            );
        }
    }

    #[test]
    fn links_carry_the_token_in_their_query() {
        assert_eq!(
            Purpose::VerifyEmail.link("https://shop.example.com/", "abc_-1"),
            "https://shop.example.com/verify-email?token=abc_-1"
        );
        assert_eq!(
            Purpose::ResetPassword.link("http://127.0.0.1:8000", "t"),
            "http://127.0.0.1:8000/reset-password?token=t"
        );
        for p in Purpose::ALL {
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::String(p.as_str().into())
            );
        }
    }
}
