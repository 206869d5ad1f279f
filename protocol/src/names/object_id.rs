//! [`ObjectId`]: the control plane's id of a domain, mailbox or member, as a node keys its stores
//! by it.

use serde::{Deserialize, Serialize};

use super::NameError;

/// The id of an object the control plane made (a UUID today), as a node uses it for the names of
/// files and directories: a mailbox's store is `var/vmail/<mailbox id>`, a domain's DKIM key
/// `<domain id>.<selector>.key`. Names can be taken again by the next member; ids never are, so
/// nothing on disk passes from a former holder of a name to the next one.
///
/// 1..=64 characters from `[a-z0-9-]`, not starting with `-`: safe as one path component, in a
/// config file and in a map, and never `.` or `..`. Input is not lowercased: an id is produced by
/// a machine, and an uppercase one is refused rather than silently changed.
///
/// Shared, not copied, when cloned: a node keeps each mailbox's id in its desired document, the
/// auth broker's logins and its DKIM keys at once.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectId(std::sync::Arc<str>);

impl ObjectId {
    pub const MAX_LEN: usize = 64;

    /// Parses an id. Never panics; never trims.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if input.is_empty() {
            return Err(NameError::Empty);
        }
        if input.len() > Self::MAX_LEN {
            return Err(NameError::TooLong { max: Self::MAX_LEN });
        }
        if let Some(ch) = input
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::InvalidCharacter { ch });
        }
        if input.starts_with('-') {
            return Err(NameError::InvalidCharacter { ch: '-' });
        }
        Ok(ObjectId(input.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_name_impls!(ObjectId);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_uuid_is_an_id_and_a_path_trick_is_not() {
        let uuid = "0b7c6f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(ObjectId::parse(uuid).unwrap().as_str(), uuid);
        for bad in [
            "", ".", "..", "a/b", "-rf", "A1", "a b", "a\n", "../x", "x.y",
        ] {
            assert!(ObjectId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(ObjectId::parse(&"a".repeat(65)).is_err());
    }

    proptest! {
        #[test]
        fn what_parses_is_one_safe_path_component(input in ".{0,80}") {
            if let Ok(id) = ObjectId::parse(&input) {
                let s = id.as_str();
                prop_assert!(!s.is_empty() && s.len() <= ObjectId::MAX_LEN);
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(!s.starts_with('-'));
                prop_assert_eq!(ObjectId::parse(s).unwrap(), id);
            }
        }
    }
}
