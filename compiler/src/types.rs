//! The language's value types, shared by every pass from the format-string
//! checks up: a plain enum with stap's names, no dependencies.

/// A value type of the language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Type {
    #[default]
    Unknown,
    Long,
    String,
    Stats,
}

impl Type {
    /// As stap prints it.
    pub fn name(self) -> &'static str {
        match self {
            Type::Unknown => "unknown",
            Type::Long => "long",
            Type::String => "string",
            Type::Stats => "stats",
        }
    }
}
