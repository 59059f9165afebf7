//! The master actor in virtual time.
