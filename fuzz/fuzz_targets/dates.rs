//! Any text through the date reader, in zones east and west of UTC and with daylight saving: an
//! instant in the years it keeps, or a refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for tz in [chrono_tz::Europe::Rome, chrono_tz::Pacific::Kiritimati, chrono_tz::Pacific::Pago_Pago] {
        if let Ok(t) = qapla::dates::to_utc(text, tz) {
            let iso = qapla::dates::iso(&t);
            assert_eq!(iso.len(), 20, "{iso}");
        }
    }
});
