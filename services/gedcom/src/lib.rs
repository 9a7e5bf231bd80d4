//! GEDCOM 5.5.1 / 7.0 reader, validator and writer.
//!
//! The library is pure: it reads from any [`std::io::Read`] and writes to any
//! [`std::io::Write`]. Reading streams one level-0 record at a time, so memory use does not
//! grow with the size of the file. See `docs/gedcom.md` for the design.

pub mod date;
pub mod diagnostic;
pub mod encoding;
mod escape;
mod line;
pub mod model;
pub mod node;
pub mod reader;
mod source;
pub mod validate;
pub mod version;
pub mod writer;

pub use diagnostic::{Diagnostic, Severity};
pub use encoding::Encoding;
pub use model::{Gedcom, Record};
pub use node::{Node, Tag, Value};
pub use reader::{GedcomReader, ReadError, ReaderOptions, read_gedcom};
pub use version::Version;
pub use writer::{GedcomWriter, WriteOptions, write_gedcom};
