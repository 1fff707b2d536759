//! A process-wide registry of named shared objects (stores, limiters, queues, histograms),
//! so that every worker thread opening the same name shares one object.
//!
//! It holds weak references: a named object lives while someone holds it, and a name opened
//! after every holder let go is created afresh. Objects of several types may share one
//! registry; a name open with another type or configuration is a mismatch.
#![forbid(unsafe_code)]

use std::any::Any;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

type Entry = (String, Weak<dyn Any + Send + Sync>);

/// Named objects of one kind; meant to live in a `static`.
pub struct NamedRegistry {
    /// Few names are open at once, so a list beats a map.
    entries: Mutex<Vec<Entry>>,
}

/// Why [`NamedRegistry::open`] refused, or the creation error it passes on.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError<E> {
    /// The name is open with another type or a configuration `same` rejected.
    Mismatch,
    /// `create` failed.
    Create(E),
}

impl NamedRegistry {
    /// An empty registry.
    pub const fn new() -> Self {
        NamedRegistry {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The object open as `name` when it is a `T` that `same` finds made from `config`, else
    /// a new one made by `create(config)`, registered under `name`. The lock is held across
    /// `create`, so two threads opening one name at once share one object.
    pub fn open<T, C, E>(
        &self,
        name: &str,
        config: C,
        same: impl FnOnce(&T, &C) -> bool,
        create: impl FnOnce(C) -> Result<T, E>,
    ) -> Result<Arc<T>, OpenError<E>>
    where
        T: Any + Send + Sync,
    {
        let mut entries = self.entries.lock();
        entries.retain(|(_, object)| object.strong_count() > 0);
        if let Some(open) = entries
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, object)| object.upgrade())
        {
            return open
                .downcast::<T>()
                .ok()
                .filter(|open| same(open, &config))
                .ok_or(OpenError::Mismatch);
        }
        let object = Arc::new(create(config).map_err(OpenError::Create)?);
        let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(&object) as Weak<T>;
        entries.push((name.to_owned(), weak));
        Ok(object)
    }
}

impl Default for NamedRegistry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_gives_one_object_while_held() {
        let registry = NamedRegistry::new();
        let a = registry
            .open::<u32, u32, ()>("n", 1, |v, c| v == c, Ok)
            .expect("created");
        let b = registry
            .open::<u32, u32, ()>("n", 1, |v, c| v == c, |_| Ok(2))
            .expect("shared");
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        let c = registry
            .open::<u32, u32, ()>("n", 3, |v, c| v == c, Ok)
            .expect("created afresh once every holder let go");
        assert_eq!(*c, 3);
    }

    #[test]
    fn another_configuration_or_type_is_a_mismatch() {
        let registry = NamedRegistry::new();
        let _held = registry.open::<u32, u32, ()>("n", 1, |v, c| v == c, Ok);
        assert_eq!(
            registry.open::<u32, u32, ()>("n", 2, |v, c| v == c, Ok),
            Err(OpenError::Mismatch)
        );
        assert_eq!(
            registry.open::<String, (), ()>("n", (), |_, _| true, |_| Ok(String::new())),
            Err(OpenError::Mismatch)
        );
    }

    #[test]
    fn a_failed_creation_registers_nothing() {
        let registry = NamedRegistry::new();
        assert_eq!(
            registry.open::<u32, (), &str>("n", (), |_, _| true, |_| Err("bad")),
            Err(OpenError::Create("bad"))
        );
        let made = registry
            .open::<u32, (), &str>("n", (), |_, _| true, |_| Ok(7))
            .expect("created");
        assert_eq!(*made, 7);
    }

    #[test]
    fn threads_opening_one_name_share_one_object() {
        static REGISTRY: NamedRegistry = NamedRegistry::new();
        let objects: Vec<Arc<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    s.spawn(move || REGISTRY.open::<u64, u64, ()>("shared", i, |_, _| true, Ok))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic").expect("opened"))
                .collect()
        });
        assert!(objects.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
    }
}
