//! The L2 tier of the cache (`optlayer-cache`); its bloom filter and hash ring are in
//! `bloom.rs` and `hash_ring.rs`.
//!
//! Lookups never create a Buffer or an object natively (600–1,700 ns each here): a hit is
//! copied into a byte view the store shares with JavaScript, and the raw function returns
//! only the value's length; a batch writes every length into a shared `Float64Array` and
//! the values back to back into the byte view, in one crossing. JavaScript grows a view
//! when a value does not fit and asks again.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use optlayer_cache::{named, ByteCache, CacheConfig, CacheError};

use crate::errors::Failure;
use crate::handles::{self, Handle, HandleTable};
use crate::keys;
use crate::raw_call::{self, raw_fn};
use crate::shared_view::{Element, JsView, SharedView};

/// Options of a [`NativeCache`], validated by the TypeScript layer and again here.
#[napi(object)]
pub struct CacheOptions {
    /// Budget in bytes: key + value + 96 bytes an entry.
    pub max_bytes: f64,
    /// Independently locked shards, a power of two up to 1,024.
    pub shards: u32,
    /// Longest key in UTF-8 bytes.
    pub max_key_length: u32,
    /// Expected bytes an entry, which sizes the admission policy's memory.
    pub estimated_entry_bytes: f64,
    /// Threads of the process that open the same name share one store.
    pub name: Option<String>,
}

/// The counters of a store (see `optlayer_cache::CacheStats`).
#[napi(object)]
pub struct CacheCounters {
    pub hits: f64,
    pub misses: f64,
    pub inserts: f64,
    pub evictions: f64,
    pub rejected: f64,
    pub expired: f64,
    pub bytes: f64,
    pub entries: f64,
    pub max_bytes: f64,
}

/// One open store of this thread.
struct Entry {
    store: Arc<ByteCache>,
    /// Longest key in UTF-8 bytes (the store's own limit is on the UTF-16 form: twice that).
    max_key_len: usize,
    /// Where lookups copy values.
    values: SharedView<u8>,
    /// Where batch lookups write each value's length.
    lengths: SharedView<f64>,
}

thread_local! {
    /// The stores opened on this thread; see `handles.rs` and `ratelimit.rs` for why raw
    /// functions bound to a handle carry the hot calls.
    static CACHES: RefCell<HandleTable<Entry>> = RefCell::default();
}

/// Bytes of the first value view; JavaScript grows it to the largest value read.
const INITIAL_VALUE_VIEW: usize = 64 << 10;
/// Keys of the first length view.
const INITIAL_LENGTH_VIEW: usize = 64;

/// An off-heap byte cache (the cache's L2): gigabytes without GC work, shared by the
/// worker_threads that open the same name. Reads and writes go through the functions of
/// [`NativeCache::operations`]; the object owns the store's lifetime.
#[napi]
pub struct NativeCache {
    handle: Handle,
}

#[napi]
impl NativeCache {
    /// Opens a store, or the one of `options.name` when a thread of this process has it
    /// open (with other options: `ERR_OPTLAYER_CONFIG_MISMATCH`).
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: CacheOptions) -> Result<Self> {
        let config = CacheConfig {
            // `as` saturates (NaN to 0), and validation rejects what is out of range.
            max_bytes: options.max_bytes as u64,
            shards: options.shards as usize,
            max_key_len: (options.max_key_length as usize).saturating_mul(2),
            estimated_entry_bytes: options.estimated_entry_bytes as u64,
        };
        let store = match options.name.as_deref() {
            Some(name) => named(name, config),
            None => ByteCache::new(config).map(Arc::new),
        }
        .map_err(|e| Failure::from(e).into_napi(&env))?;
        let entry = Entry {
            store,
            max_key_len: options.max_key_length as usize,
            values: SharedView::new(INITIAL_VALUE_VIEW),
            lengths: SharedView::new(INITIAL_LENGTH_VIEW),
        };
        let handle = CACHES.with_borrow_mut(|table| table.insert(entry));
        let handle = handle.ok_or_else(|| handles::too_many("caches").into_napi(&env))?;
        Ok(NativeCache { handle })
    }

    /// The view values are copied into, at least `min_bytes` long: a new view when the
    /// current one is shorter (the old one stays valid but is no longer written).
    #[napi(catch_unwind)]
    pub fn value_view(&self, env: Env, min_bytes: f64) -> Result<Uint8Array> {
        Ok(self
            .view(&env, min_bytes, |entry| &mut entry.values)?
            .to_js())
    }

    /// The view batch lookups write lengths into (−1 for a miss), at least `min_keys` long.
    #[napi(catch_unwind)]
    pub fn length_view(&self, env: Env, min_keys: f64) -> Result<Float64Array> {
        Ok(self
            .view(&env, min_keys, |entry| &mut entry.lengths)?
            .to_js())
    }

    /// The operations of this store, each bound to it:
    /// - `get(key)`: the value's length after copying it into the value view, or −1 on a
    ///   miss; a length beyond the view means nothing was copied (grow it and call again).
    /// - `getMany(keys)`: the bytes all hits need; lengths go to the length view, values
    ///   back to back into the value view (all of them only when the total fits).
    /// - `set(key, value, ttlMs)`: stores a `Uint8Array`; `ttlMs` 0 (or one too long for
    ///   any clock) means no expiry; NaN, infinite and negative ones are refused.
    /// - `delete(key)` and `has(key)`: booleans.
    ///
    /// Once the store is closed they throw `ERR_OPTLAYER_CLOSED`.
    #[napi(
        catch_unwind,
        ts_return_type = "{ get(key: string): number; getMany(keys: string[]): number; set(key: string, value: Uint8Array, ttlMs: number): void; delete(key: string): boolean; has(key: string): boolean }"
    )]
    pub fn operations(&self, env: Env) -> Result<Object<'static>> {
        raw_call::bound_functions(
            &env,
            self.handle,
            &[
                ("get", raw_get),
                ("getMany", raw_get_many),
                ("set", raw_set),
                ("delete", raw_delete),
                ("has", raw_has),
            ],
        )
    }

    /// The store's counters (zeros once closed).
    #[napi(catch_unwind)]
    pub fn stats(&self) -> CacheCounters {
        CACHES.with_borrow(|table| {
            let (s, max_bytes) = table.get(self.handle).map_or_else(Default::default, |e| {
                (e.store.stats(), e.store.config().max_bytes)
            });
            CacheCounters {
                hits: s.hits as f64,
                misses: s.misses as f64,
                inserts: s.inserts as f64,
                evictions: s.evictions as f64,
                rejected: s.rejected as f64,
                expired: s.expired as f64,
                bytes: s.bytes as f64,
                entries: s.entries as f64,
                max_bytes: max_bytes as f64,
            }
        })
    }

    /// Removes every entry (of every thread sharing the store); counters are kept.
    #[napi(catch_unwind)]
    pub fn clear(&self) {
        CACHES.with_borrow(|table| table.get(self.handle).map(|e| e.store.clear()));
    }

    /// Removes expired entries now instead of as they are met; returns how many.
    #[napi(catch_unwind)]
    pub fn purge_expired(&self) -> f64 {
        CACHES.with_borrow(|table| {
            table
                .get(self.handle)
                .map_or(0.0, |e| e.store.purge_expired() as f64)
        })
    }

    /// The largest value (with its key) one entry may have, in bytes.
    #[napi(catch_unwind)]
    pub fn max_entry_bytes(&self) -> f64 {
        CACHES.with_borrow(|table| {
            table.get(self.handle).map_or(0.0, |e| {
                e.store
                    .max_entry_cost()
                    .saturating_sub(optlayer_cache::ENTRY_OVERHEAD) as f64
            })
        })
    }

    /// Lets go of the store (a named store lives on while other threads hold it); later
    /// operations through the handle fail.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        close(self.handle);
    }
}

impl NativeCache {
    /// The shared view chosen by `field`, replaced by a longer one when shorter than `min`.
    fn view<T: Element>(
        &self,
        env: &Env,
        min: f64,
        field: impl FnOnce(&mut Entry) -> &mut SharedView<T>,
    ) -> Result<JsView<T>> {
        if !(min >= 0.0 && min <= u32::MAX as f64) {
            return Err(Failure::invalid_argument(format_args!(
                "invalid view size: expected 0 to 4294967295, got {min}"
            ))
            .into_napi(env));
        }
        CACHES.with_borrow_mut(|table| {
            let entry = table
                .get_mut(self.handle)
                .ok_or_else(|| handles::closed("the cache").into_napi(env))?;
            let view = field(entry);
            if view.len() < min as usize {
                *view = SharedView::new((min as usize).next_power_of_two());
            }
            Ok(view.js())
        })
    }
}

impl Drop for NativeCache {
    fn drop(&mut self) {
        close(self.handle);
    }
}

fn close(handle: Handle) {
    // The table may already be gone while a worker thread shuts down.
    let _ = CACHES.try_with(|table| table.borrow_mut().remove(handle));
}

fn key_too_long(len: usize, max: usize) -> Failure {
    CacheError::InvalidKey { len, max }.into()
}

/// Runs `f` on the entry of `handle` and the bytes of `key`.
///
/// # Safety
/// `env` and `key` must belong to the running callback.
unsafe fn with_entry_key<T>(
    env: sys::napi_env,
    handle: Handle,
    key: sys::napi_value,
    f: impl FnOnce(&mut Entry, &[u8]) -> std::result::Result<T, Failure>,
) -> std::result::Result<T, Failure> {
    CACHES.with_borrow_mut(|table| {
        let entry = table
            .get_mut(handle)
            .ok_or_else(|| handles::closed("the cache"))?;
        // SAFETY: forwarded from the caller.
        unsafe { keys::with_key(env, key, entry.max_key_len, key_too_long, |k| f(entry, k)) }
    })
}

raw_fn!(raw_get, 1, |env, args, handle| {
    let found = with_entry_key(env, handle, args[0], |entry, key| {
        // SAFETY: the key was read; the lookup does not call into JavaScript.
        let view = entry.values.as_mut_slice();
        Ok::<_, Failure>(entry.store.get_into(key, view))
    })?;
    raw_call::double(env, found.map_or(-1.0, |len| len as f64))
});

raw_fn!(raw_has, 1, |env, args, handle| {
    let found = with_entry_key(env, handle, args[0], |entry, key| {
        Ok::<_, Failure>(entry.store.contains(key))
    })?;
    raw_call::boolean(env, found)
});

raw_fn!(raw_delete, 1, |env, args, handle| {
    let removed = with_entry_key(env, handle, args[0], |entry, key| {
        Ok::<_, Failure>(entry.store.remove(key))
    })?;
    raw_call::boolean(env, removed)
});

raw_fn!(raw_set, 3, |env, args, handle| {
    let ttl = ttl(raw_call::number(env, args[2], "ttlMs")?)?;
    let value = raw_call::bytes(env, args[1], "value")?;
    with_entry_key(env, handle, args[0], |entry, key| {
        Ok::<_, Failure>(entry.store.insert(key, value, ttl)?)
    })?;
    raw_call::undefined()
});

/// The TTL of `ttl_ms` milliseconds: `None` (no expiry) for 0.
///
/// A TTL beyond what a `Duration` holds (about 5.8 × 10^14 years) also means no expiry:
/// its deadline lies past any clock, as the store already takes every deadline beyond its
/// nanosecond clock. NaN, infinities and negative values are not durations and are refused.
fn ttl(ttl_ms: f64) -> std::result::Result<Option<Duration>, Failure> {
    if ttl_ms == 0.0 {
        return Ok(None);
    }
    if !(ttl_ms > 0.0 && ttl_ms.is_finite()) {
        return Err(Failure::invalid_argument(format_args!(
            "invalid ttlMs: expected a positive number or 0, got {ttl_ms}"
        )));
    }
    Ok(Duration::try_from_secs_f64(ttl_ms / 1e3)
        .ok()
        // A TTL below a nanosecond rounds to zero, which the store refuses: keep it alive 1 ns.
        .map(|ttl| ttl.max(Duration::from_nanos(1))))
}

raw_fn!(raw_get_many, 1, |env, args, handle| {
    let count = raw_call::array_length(env, args[0], "keys")? as usize;
    let max_key_len = CACHES
        .with_borrow(|table| table.get(handle).map(|entry| entry.max_key_len))
        .ok_or_else(|| handles::closed("the cache"))?;
    // Every key is read before the table is borrowed: reading an element may run
    // JavaScript (a getter, say) that closes this store or looks a key up in it, which
    // must not happen while the lookups below hold the shared views.
    let mut key_bytes = Vec::new();
    let mut key_ends = Vec::with_capacity(count);
    for i in 0..count {
        let key = raw_call::element(env, args[0], i as u32)?;
        keys::with_key(env, key, max_key_len, key_too_long, |key| {
            key_bytes.extend_from_slice(key);
            Ok(())
        })?;
        key_ends.push(key_bytes.len());
    }
    let needed = CACHES.with_borrow_mut(|table| {
        let entry = table
            .get_mut(handle)
            .ok_or_else(|| handles::closed("the cache"))?;
        // SAFETY: every key was read above; the lookups do not call into JavaScript.
        let (values, lengths) = (entry.values.as_mut_slice(), entry.lengths.as_mut_slice());
        if count > lengths.len() {
            return Err(Failure::invalid_argument(format_args!(
                "too many keys: the length view holds {}, got {count}",
                lengths.len()
            )));
        }
        let mut needed = 0usize;
        let mut key_start = 0;
        for (length, &key_end) in lengths.iter_mut().zip(&key_ends) {
            let key = &key_bytes[key_start..key_end];
            key_start = key_end;
            let found = entry.store.get_with(key, |value| {
                if let Some(dst) = values.get_mut(needed..needed + value.len()) {
                    dst.copy_from_slice(value);
                }
                value.len()
            });
            *length = found.map_or(-1.0, |len| len as f64);
            needed += found.unwrap_or(0);
        }
        Ok::<_, Failure>(needed)
    })?;
    raw_call::double(env, needed as f64)
});

impl NativeCache {
    /// The store itself, for another native component reading it (the HTTP front).
    pub(crate) fn shared_store(&self) -> Option<Arc<ByteCache>> {
        CACHES.with_borrow(|table| table.get(self.handle).map(|entry| Arc::clone(&entry.store)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ttl_beyond_a_duration_means_no_expiry_instead_of_a_panic() {
        assert_eq!(ttl(1e300).expect("accepted"), None);
        assert_eq!(ttl(f64::MAX).expect("accepted"), None);
        assert_eq!(ttl(0.0).expect("accepted"), None);
        assert_eq!(
            ttl(1500.0).expect("accepted"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(ttl(1e-12).expect("accepted"), Some(Duration::from_nanos(1)));
    }

    #[test]
    fn a_ttl_that_is_not_a_duration_is_an_invalid_argument() {
        for ms in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -1.0, -1e300] {
            let failure = ttl(ms).expect_err("refused");
            assert_eq!(
                failure.code.as_str(),
                "ERR_OPTLAYER_INVALID_ARGUMENT",
                "{ms}"
            );
        }
    }
}
