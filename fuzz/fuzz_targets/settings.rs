//! Any settings file and environment: reading settings never panics, and settings that read
//! give a session and a cookie configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_tower::Settings;

fuzz_target!(|input: (&str, Vec<(&str, &str)>)| {
    let (file, env) = input;
    // Only the variables the settings read matter; give most inputs one of their names.
    let env = env.into_iter().map(|(name, value)| {
        let name = if name.starts_with("SESSION_") {
            name.to_owned()
        } else {
            format!("SESSION_{}", name.to_ascii_uppercase())
        };
        (name, value)
    });
    if let Ok(settings) = Settings::from_sources(Some(file), env) {
        let _ = settings.session_config();
        let _ = settings.cookie_config();
    }
});
