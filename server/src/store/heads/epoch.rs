//! A log's epoch as the heads' cache keeps it: inline when it fits in 16
//! bytes, as every epoch `events::new_epoch` makes does (16 hex digits). The
//! cache holds an entry per channel that a socket subscribed to, for as long
//! as it lives; a `String` there was a second allocation per entry.

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Epoch {
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    /// Longer than any epoch this server makes (an older or foreign row).
    Boxed(Box<str>),
}

const INLINE: usize = 16;

impl Epoch {
    pub(super) fn new(epoch: &str) -> Self {
        if epoch.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..epoch.len()].copy_from_slice(epoch.as_bytes());
            Self::Inline { len: epoch.len() as u8, bytes }
        } else {
            Self::Boxed(epoch.into())
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `&str` in `new`, so always UTF-8.
            Self::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).expect("an epoch is kept as it was given")
            }
            Self::Boxed(epoch) => epoch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_what_it_was_given() {
        for epoch in ["", "e1", "0123456789abcdef", "0123456789abcdef0", "épöch-ünïcode-long"] {
            assert_eq!(Epoch::new(epoch).as_str(), epoch);
        }
        assert!(matches!(Epoch::new("0123456789abcdef"), Epoch::Inline { .. }));
        assert_eq!(Epoch::new("e1"), Epoch::new("e1"));
        assert_ne!(Epoch::new("e1"), Epoch::new("e2"));
    }

    #[test]
    fn is_no_larger_than_a_string() {
        assert!(std::mem::size_of::<Epoch>() <= std::mem::size_of::<String>());
    }
}
