//! The account emails (address verification, password reset, unlock link), rendered from
//! `worker/templates/account.{html,txt}`. HTML output escapes every value.

use askama::Template;
use orderflow_shared::domain::account_email::Purpose;
use std::time::Duration;

use super::templates::Rendered;

pub struct AccountView {
    pub subject: String,
    pub name: String,
    pub intro: &'static str,
    pub action: &'static str,
    pub link: String,
    /// "24 hours", "30 minutes".
    pub valid_for: String,
    /// What to do if the reader did not ask for it.
    pub unasked: &'static str,
    pub support_email: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountHtml<'a> {
    view: &'a AccountView,
}

#[derive(Template)]
#[template(path = "account.txt")]
struct AccountText<'a> {
    view: &'a AccountView,
}

/// "30 minutes", "1 hour", "24 hours".
fn spoken(d: Duration) -> String {
    let minutes = d.as_secs().div_ceil(60);
    match minutes {
        0..=1 => "1 minute".into(),
        m if m < 60 || m % 60 != 0 => format!("{m} minutes"),
        60 => "1 hour".into(),
        m => format!("{} hours", m / 60),
    }
}

pub fn view(
    purpose: Purpose,
    name: &str,
    link: String,
    ttl: Duration,
    support: &str,
) -> AccountView {
    let (subject, intro, action, unasked) = match purpose {
        Purpose::VerifyEmail => (
            "Confirm your email address",
            "Thanks for signing up with OrderFlow. Please confirm that this address is yours: \
             until you do, we send no other email to it.",
            "Confirm my address",
            "If you did not sign up, ignore this email: nothing will be sent to you again.",
        ),
        Purpose::ResetPassword => (
            "Reset your password",
            "Someone (we hope you) asked to reset the password of your OrderFlow account. \
             Choose a new one with the link below; every device signed in to your account \
             will then be signed out.",
            "Choose a new password",
            "If you did not ask for this, ignore this email: your password stays as it is.",
        ),
        Purpose::Unlock => (
            "Sign-in attempts on your account",
            "Your OrderFlow account has seen many failed sign-in attempts, so signing in to it \
             is slowed down, and refused for a while from the networks they came from. If you \
             are locked out, this link lifts every lock.",
            "Unlock my account",
            "If you were not trying to sign in, someone else may be: consider resetting your \
             password.",
        ),
    };
    AccountView {
        subject: subject.to_string(),
        name: name.to_string(),
        intro,
        action,
        link,
        valid_for: spoken(ttl),
        unasked,
        support_email: support.to_string(),
    }
}

pub fn render(view: &AccountView) -> askama::Result<Rendered> {
    Ok(Rendered {
        subject: view.subject.clone(),
        text: AccountText { view }.render()?,
        html: AccountHtml { view }.render()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_email_carries_its_link_its_validity_and_escapes_the_name() {
        for (purpose, ttl, valid) in [
            (
                Purpose::VerifyEmail,
                Duration::from_secs(86_400),
                "24 hours",
            ),
            (
                Purpose::ResetPassword,
                Duration::from_secs(1800),
                "30 minutes",
            ),
            (Purpose::Unlock, Duration::from_secs(3600), "1 hour"),
        ] {
            let link = purpose.link("https://shop.example.com", "tok_en-1");
            let email = render(&view(
                purpose,
                "<b>Ada</b>",
                link.clone(),
                ttl,
                "help@x.com",
            ))
            .unwrap();
            for part in [&email.text, &email.html] {
                assert!(part.contains(&link), "{purpose:?}: {part}");
                assert!(part.contains(valid), "{purpose:?}: {part}");
                assert!(part.contains("help@x.com"));
            }
            assert!(email.text.contains("<b>Ada</b>"));
            assert!(!email.html.contains("<b>Ada</b>"));
        }
        assert_eq!(spoken(Duration::from_secs(90)), "2 minutes");
        assert_eq!(spoken(Duration::from_secs(7200)), "2 hours");
    }
}
