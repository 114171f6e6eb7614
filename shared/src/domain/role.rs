//! User roles and what each may do.

use super::text_enum::text_enum;

text_enum! {
    pub enum Role ("role") {
        Admin => "admin",
        Staff => "staff",
        Customer => "customer",
    }
}

impl Role {
    /// Staff and admins run the shop; customers only see their own data.
    pub fn is_staff_or_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Staff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_classifies_roles() {
        for (role, text, staff) in [
            (Role::Admin, "admin", true),
            (Role::Staff, "staff", true),
            (Role::Customer, "customer", false),
        ] {
            assert_eq!(role.as_str(), text);
            assert_eq!(text.parse::<Role>().unwrap(), role);
            assert_eq!(role.is_staff_or_admin(), staff);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
