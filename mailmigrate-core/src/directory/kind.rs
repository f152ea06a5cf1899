//! The open kind enums (`AccountKind`, `GroupKind`, `MemberKind`, `Right`) share one shape:
//! named variants, an `Other(String)` for what a provider calls something this crate has no
//! name for, a canonical text form, and lenient parsing of the names exports use.

/// Defines an open kind enum with `Display`, `FromStr` and string serde.
///
/// Parsing ignores case, `_`, `-` and spaces, so `shared_mailbox`, `SharedMailbox` and
/// `shared mailbox` are one name. `other` parses as `Other("")`, `other:<name>` as
/// `Other("<name>")`; anything else unknown is an error, never a silent `Other`.
macro_rules! open_kind {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $canon:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A kind this crate has no name for: the provider's own name for it, empty
            /// when the input said only `other`. Written `other:<name>` (or `other`).
            Other(String),
        }

        impl $name {
            /// The names this kind parses from, canonical names first.
            pub const NAMES: &'static [&'static str] = &[$($canon,)+ "other"];
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self {
                    $( Self::$variant => f.write_str($canon), )+
                    Self::Other(name) if name.is_empty() => f.write_str("other"),
                    Self::Other(name) => write!(f, "other:{name}"),
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> $crate::Result<Self> {
                let s = s.trim();
                if let Some((head, rest)) = s.split_once(':') {
                    if head.trim().eq_ignore_ascii_case("other") {
                        return Ok(Self::Other(rest.trim().to_owned()));
                    }
                }
                let key = $crate::directory::kind::normalise(s);
                $(
                    if key == $crate::directory::kind::normalise($canon)
                        $(|| key == $crate::directory::kind::normalise($alias))*
                    {
                        return Ok(Self::$variant);
                    }
                )+
                if key == "other" {
                    return Ok(Self::Other(String::new()));
                }
                Err($crate::Error::new(
                    $crate::ErrorKind::ConfigInvalid,
                    format!(
                        concat!("unknown ", $what, " `{}` (expected one of {}, or other:<name>)"),
                        s.escape_debug(),
                        Self::NAMES.join(", "),
                    ),
                ))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(|e: $crate::Error| {
                    <D::Error as ::serde::de::Error>::custom(e.message())
                })
            }
        }
    };
}

pub(crate) use open_kind;

/// Lowercases and drops `_`, `-` and white space, so spellings of one name compare equal.
pub(crate) fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}
