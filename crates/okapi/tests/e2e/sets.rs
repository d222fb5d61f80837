//! Sets commands end to end.
