//! An `Authorization` header as monitor-service receives it: parsed, the
//! bearer JWT decoded and verified against a fixed key set (no network), its
//! claims read (see `monitor_service::auth::robustness`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monitor_service::auth::robustness::check_authorization(data));
