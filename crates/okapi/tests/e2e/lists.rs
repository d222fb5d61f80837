//! Lists commands end to end.
