//! A rendered file's bytes: a few of its own, then pieces shared with the members' lines the
//! [`super::Renderer`] keeps. A node-wide file is every member's lines one after another; held
//! as pieces, a one-mailbox change at 10,000 mailboxes does not copy every node-wide file
//! (about 3 MiB) to compare it with the disk and write it (`tests/bench/memory.sh`).

use std::borrow::Cow;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Contents {
    /// Its own bytes, first (a header, or the whole of a file no member shares).
    head: Vec<u8>,
    /// Then these, in order.
    shared: Vec<Arc<str>>,
}

impl Contents {
    /// `head`, then each of `shared`.
    pub fn new(head: impl Into<Vec<u8>>, shared: Vec<Arc<str>>) -> Contents {
        Contents {
            head: head.into(),
            shared,
        }
    }

    /// Its bytes, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.head.as_slice()).chain(self.shared.iter().map(|s| s.as_bytes()))
    }

    pub fn len(&self) -> usize {
        self.pieces().map(<[u8]>::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes in one slice: borrowed when it is one piece, else joined (a copy: for the
    /// few files a change compares entry by entry, and for tests).
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self.shared.as_slice() {
            [] => Cow::Borrowed(&self.head),
            [only] if self.head.is_empty() => Cow::Borrowed(only.as_bytes()),
            _ => Cow::Owned(self.pieces().flatten().copied().collect()),
        }
    }

    /// Whether `bytes` are its bytes, without joining its pieces.
    pub fn is(&self, mut bytes: &[u8]) -> bool {
        if bytes.len() != self.len() {
            return false;
        }
        for piece in self.pieces() {
            let Some(rest) = bytes.strip_prefix(piece) else {
                return false;
            };
            bytes = rest;
        }
        bytes.is_empty()
    }
}

/// Equal when their bytes are, however they are cut.
impl PartialEq for Contents {
    fn eq(&self, other: &Contents) -> bool {
        other.is(&self.bytes())
    }
}

impl Eq for Contents {}

impl From<Vec<u8>> for Contents {
    fn from(bytes: Vec<u8>) -> Contents {
        Contents::new(bytes, Vec::new())
    }
}

impl From<String> for Contents {
    fn from(text: String) -> Contents {
        Contents::from(text.into_bytes())
    }
}

impl From<&str> for Contents {
    fn from(text: &str) -> Contents {
        Contents::from(text.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Contents {
    fn from(bytes: &[u8]) -> Contents {
        Contents::from(bytes.to_vec())
    }
}

/// One shared piece (a member's own file, such as a zone), not copied.
impl From<Arc<str>> for Contents {
    fn from(text: Arc<str>) -> Contents {
        Contents::new(Vec::new(), vec![text])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cut(head: &str, shared: &[&str]) -> Contents {
        Contents::new(head, shared.iter().map(|s| Arc::from(*s)).collect())
    }

    #[test]
    fn one_piece_is_borrowed() {
        assert!(matches!(cut("abc", &[]).bytes(), Cow::Borrowed(b"abc")));
        assert!(matches!(cut("", &["abc"]).bytes(), Cow::Borrowed(b"abc")));
        assert_eq!(cut("a", &["b", "", "c"]).bytes().as_ref(), b"abc");
        assert!(Contents::default().is_empty());
    }

    proptest! {
        /// However a text is cut into pieces, its bytes, length and comparisons are the text's.
        #[test]
        fn pieces_are_the_text_they_were_cut_from(
            parts in proptest::collection::vec("[a-c\n]{0,4}", 0..6),
            other in "[a-c\n]{0,12}",
        ) {
            let text: String = parts.concat();
            let (head, shared) = match parts.split_first() {
                Some((head, rest)) => (head.as_str(), rest.iter().map(String::as_str).collect()),
                None => ("", Vec::new()),
            };
            let contents = cut(head, &shared);
            let bytes = contents.bytes();
            prop_assert_eq!(bytes.as_ref(), text.as_bytes());
            prop_assert_eq!(contents.len(), text.len());
            prop_assert!(contents.is(text.as_bytes()));
            prop_assert_eq!(contents.is(other.as_bytes()), other == text);
            prop_assert!(contents == Contents::from(text.as_str()));
        }
    }
}
