//! Bytes as data-service receives them on `icu.vitals` / `icu.patients`:
//! decoded, validated, scored and planned (see `vitals::robustness`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitals::robustness::check_messages(data));
