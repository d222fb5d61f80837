//! Hashes commands end to end.
