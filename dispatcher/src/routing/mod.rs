//! Jurisdiction routing: which departments a point and category summon, decided deterministically over an in-memory index, with the reason recorded.

mod cells;
pub mod coords;
pub mod index;
pub mod rules;
pub mod shape;
