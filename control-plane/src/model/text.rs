//! Sentences for people, in each language the portal speaks. Errors that reach a page carry a
//! [`Text`]; pages pick the reader's language, the JSON API and logs use English.
//!
//! Page furniture lives in `web`'s catalog; these are the messages that depend on *what* went
//! wrong (which character, which limit), so they are built here next to the errors.

use std::fmt;

use protocol::names::NameError;
use protocol::scope::UnknownScope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub en: String,
    pub fr: String,
}

impl Text {
    pub fn new(en: impl Into<String>, fr: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            fr: fr.into(),
        }
    }

    pub fn get(&self, french: bool) -> &str {
        if french {
            &self.fr
        } else {
            &self.en
        }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en)
    }
}

/// Anything that can say what went wrong, in both languages.
pub trait Describe {
    fn describe(&self) -> Text;
}

impl Describe for Text {
    fn describe(&self) -> Text {
        self.clone()
    }
}

impl<T: Describe + ?Sized> Describe for &T {
    fn describe(&self) -> Text {
        (**self).describe()
    }
}

fn fr_name(e: &NameError) -> String {
    use NameError::*;
    match e {
        Empty => "est vide".to_owned(),
        TooLong { max } => format!("est trop long (au plus {max} caractères)"),
        InvalidCharacter { ch } => format!("contient le caractère '{}', qui n’est pas autorisé", ch.escape_debug()),
        EmptyLabel => "contient une partie vide (un point au début ou deux points de suite)".to_owned(),
        LabelTooLong { max } => format!("contient une partie de plus de {max} caractères"),
        LeadingOrTrailingHyphen => "contient une partie qui commence ou finit par un tiret".to_owned(),
        ReservedHyphens => "contient une partie avec deux tirets en troisième et quatrième position, réservés aux noms internationalisés".to_owned(),
        NotEnoughLabels => "doit avoir au moins deux parties, comme exemple.org".to_owned(),
        NumericTld => "se termine par une partie toute en chiffres (les adresses IP ne sont pas acceptées)".to_owned(),
        Idna => "n’est pas un nom de domaine internationalisé valide".to_owned(),
        InvalidALabel => "contient une partie xn-- qui n’est pas un nom internationalisé valide".to_owned(),
        RestrictedCharacter { ch } => format!("contient le caractère '{}', qui n’est pas autorisé dans les noms de domaine internationalisés", ch.escape_debug()),
        MixedScript => "mélange plusieurs écritures dans une même partie, ce qui est refusé pour éviter les noms trompeurs".to_owned(),
        ConfusableWithAscii => "ressemble à un nom en caractères latins simples mais en utilise d’autres, ce qui est refusé pour éviter les noms trompeurs".to_owned(),
        LeadingOrTrailingPunctuation => "doit commencer et finir par une lettre ou un chiffre".to_owned(),
        LeadingOrTrailingDot => "commence ou finit par un point".to_owned(),
        ConsecutiveDots => "contient deux points de suite".to_owned(),
        MissingAt => "n’a pas de « @ » entre la partie locale et le domaine".to_owned(),
        MultipleAt => "contient plus d’un « @ »".to_owned(),
        InLocalPart(inner) => format!("a une partie locale (avant le « @ ») qui {}", fr_name(inner)),
        InDomain(inner) => format!("a un domaine (après le « @ ») qui {}", fr_name(inner)),
    }
}

impl Describe for NameError {
    fn describe(&self) -> Text {
        Text::new(self.to_string(), fr_name(self))
    }
}

impl Describe for UnknownScope {
    fn describe(&self) -> Text {
        Text::new(
            self.to_string(),
            "n’est pas une portée connue (imap, smtp, xmpp ou dav)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_error_has_a_french_sentence() {
        let samples = [
            NameError::Empty,
            NameError::TooLong { max: 64 },
            NameError::InvalidCharacter { ch: '\n' },
            NameError::MixedScript,
            NameError::InDomain(Box::new(NameError::NumericTld)),
        ];
        for e in samples {
            let t = e.describe();
            assert_ne!(t.en, t.fr);
            assert!(!t.fr.is_empty());
        }
        assert!(NameError::InvalidCharacter { ch: '\n' }
            .describe()
            .fr
            .contains("'\\n'"));
    }
}
