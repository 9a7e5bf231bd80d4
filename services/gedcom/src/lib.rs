//! GEDCOM 5.5.1 / 7.0 reader, validator and writer.
