//! Zsets commands end to end.
