//! Thread-local tables of native objects addressed by small integer handles: the data the
//! raw callbacks of `raw_call.rs` are bound to.
//!
//! Why handles instead of pointers: a raw function carries its data as a bare number with
//! no finalizer, so it must never own or point at the object. A handle names a slot and
//! its generation; once the object is closed (explicitly or by its class's finalizer) the
//! slot's generation moves on, and a function still holding the old handle finds nothing
//! and throws `ERR_OPTLAYER_CLOSED` instead of reaching whatever reuses the slot.

use crate::errors::Failure;

/// Slot index in the low bits of a handle, the slot's generation above them.
const SLOT_BITS: u32 = 20;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;

/// Most objects one table holds at once.
pub const MAX_OPEN: u32 = SLOT_MASK + 1;

/// Objects addressed by handle; each table lives in a `thread_local!`, so a handle is only
/// meaningful on the JavaScript thread that created it.
pub struct HandleTable<T> {
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> HandleTable<T> {
    /// Stores `entry` and returns its handle, or `None` when [`MAX_OPEN`] are open.
    pub fn insert(&mut self, entry: T) -> Option<u32> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|i| *i <= SLOT_MASK)?;
                self.slots.push((0, None));
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(entry);
        Some(slot.0 << SLOT_BITS | index)
    }

    /// The entry of `handle`, unless it was removed.
    #[inline]
    pub fn get(&self, handle: u32) -> Option<&T> {
        match self.slots.get((handle & SLOT_MASK) as usize) {
            Some((generation, Some(entry))) if *generation == handle >> SLOT_BITS => Some(entry),
            _ => None,
        }
    }

    /// The entry of `handle` to change, unless it was removed.
    pub fn get_mut(&mut self, handle: u32) -> Option<&mut T> {
        match self.slots.get_mut((handle & SLOT_MASK) as usize) {
            Some((generation, Some(entry))) if *generation == handle >> SLOT_BITS => Some(entry),
            _ => None,
        }
    }

    /// Takes the entry of `handle` out; later calls with the handle find nothing.
    pub fn remove(&mut self, handle: u32) -> Option<T> {
        let index = handle & SLOT_MASK;
        let slot = self.slots.get_mut(index as usize)?;
        if slot.0 != handle >> SLOT_BITS {
            return None;
        }
        let entry = slot.1.take()?;
        slot.0 = (slot.0 + 1) & (u32::MAX >> SLOT_BITS);
        self.free.push(index);
        Some(entry)
    }
}

/// The error for a table that is full: `what` names the objects ("rate limiters").
pub fn too_many(what: &str) -> Failure {
    Failure {
        code: "ERR_OPTLAYER_INVALID_ARGUMENT",
        message: format!("too many {what} open on this thread (at most {MAX_OPEN})"),
    }
}

/// The error for a handle whose object was closed: `what` names it ("the rate limiter").
pub fn closed(what: &str) -> Failure {
    Failure {
        code: "ERR_OPTLAYER_CLOSED",
        message: format!("{what} is closed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_handle_never_reaches_the_slots_next_entry() {
        let mut table = HandleTable::default();
        let first = table.insert("first").expect("room");
        assert_eq!(table.get(first), Some(&"first"));
        assert_eq!(table.remove(first), Some("first"));
        assert_eq!(table.remove(first), None, "removing twice is a no-op");
        let second = table.insert("second").expect("room");
        assert_eq!(first & SLOT_MASK, second & SLOT_MASK, "the slot is reused");
        assert_eq!(table.get(first), None, "the old handle is stale");
        assert_eq!(table.get(second), Some(&"second"));
        assert_eq!(table.get(u32::MAX), None);
    }
}
