//! What is wrong with a model: every problem names the file (or zip entry)
//! and the JSON path. Tools that read models from files or write code from
//! them report their own failures as problems of the same kinds.

use std::fmt;

/// What went wrong, for callers and tests that tell problems apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A file cannot be read or written.
    Io,
    /// A zip archive cannot be read.
    Zip,
    /// A file the format needs is missing (e.g. inside the zip).
    MissingFile,
    /// Not JSON, or JSON of the wrong shape.
    Json,
    /// A data type outside §5.1's list.
    UnknownDataType,
    /// `min` greater than `max`, or a bound out of the type's range.
    Range,
    /// Two properties, commands, parameters, ... with the same name.
    Duplicate,
    /// A name no Rust identifier can be made of.
    BadName,
    /// Any other value that breaks the model's rules.
    Invalid,
    /// A value that does not apply to its data type, left out (a warning).
    Ignored,
    /// Generated code differs from the model (a code generator's check).
    Stale,
    /// A bug of a code generator: its output is not valid Rust.
    Internal,
}

/// One problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What went wrong.
    pub kind: ProblemKind,
    /// The file, or `archive.zip:entry` for a zip entry.
    pub file: String,
    /// The JSON path in the file, e.g. `$.services[0].properties[1].dataType`.
    pub json_path: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.json_path {
            Some(path) => write!(f, "{}: {path}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// One or more problems found in a model or while writing code; shown
/// one per line (by `Debug` too, so that `fn main() -> Result<..>` of a
/// build script prints them readably).
#[derive(Clone, PartialEq, Eq)]
pub struct ModelError {
    problems: Vec<Problem>,
}

impl ModelError {
    /// An error of one problem.
    pub fn new(
        kind: ProblemKind,
        file: impl Into<String>,
        json_path: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        ModelError {
            problems: vec![Problem {
                kind,
                file: file.into(),
                json_path,
                message: message.into(),
            }],
        }
    }

    /// An error of the problems found; `None` when there are none.
    pub fn from_problems(problems: Vec<Problem>) -> Option<Self> {
        (!problems.is_empty()).then_some(ModelError { problems })
    }

    /// The problems, in the order they were found (at least one).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ModelError {}

/// A JSON path being walked: `$`, `$.services[0]`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath(String);

impl JsonPath {
    /// The document's root.
    pub(crate) fn root() -> Self {
        JsonPath("$".to_string())
    }

    /// The member `key`.
    pub(crate) fn key(&self, key: &str) -> Self {
        JsonPath(format!("{}.{key}", self.0))
    }

    /// The element `index`.
    pub(crate) fn index(&self, index: usize) -> Self {
        JsonPath(format!("{}[{index}]", self.0))
    }

    /// This path followed by a path of serde_path_to_error (`a.b[0]`, or
    /// `.` for no step).
    pub(crate) fn join_serde(&self, path: &str) -> Self {
        match path {
            "" | "." => self.clone(),
            p if p.starts_with('[') => JsonPath(format!("{}{p}", self.0)),
            p => JsonPath(format!("{}.{p}", self.0)),
        }
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
