//! How a tenant's `[tenants.T.backend]` table parses: defaults, hidden credentials, and mistakes
//! that name the field.

use std::path::Path;

use provhost_platforms::{BackendConfig, HttpSettings};

use crate::Config;

fn backend(text: &str) -> Result<BackendConfig, String> {
    let config = Config::parse(Path::new("provhost.toml"), &format!("[tenants.t.backend]\n{text}"))
        .map_err(|e| e.to_string())?;
    Ok(config.tenant("t").expect("parsed without a file").backend)
}

#[test]
fn backends_parse_with_defaults_and_credentials_stay_hidden() {
    assert!(matches!(backend("kind = \"embedded\"").unwrap(), BackendConfig::Embedded {}));
    let helloid = "kind = \"helloid\"\nbase-url = \"https://contoso.helloid.com/api/v1\"\n\
                   api-key = \"key\"\napi-secret = \"very-secret\"";
    let BackendConfig::HelloId(c) = backend(helloid).unwrap() else { panic!("not helloid") };
    assert_eq!(c.http, HttpSettings::default());
    assert_eq!(c.api_secret.reveal().unwrap(), "very-secret");
    assert!(!format!("{c:?}").contains("very-secret"), "Debug shows the secret");
    let iiq = "kind = \"identityiq\"\nbase-url = \"https://iiq.contoso.example\"\ntoken = \"t\"\n\
               [tenants.t.backend.applications.active-directory]\nattributes = { mail = \"mail\" }";
    let BackendConfig::IdentityIq(c) = backend(iiq).unwrap() else { panic!("not identityiq") };
    assert_eq!(c.workflow_name, "LCM Provisioning");
    assert_eq!(c.applications["active-directory"].entitlement_attribute, "memberOf");
}

#[test]
fn backend_mistakes_name_the_field() {
    let cases = [
        ("kind = \"sailpoint\"", "unknown variant `sailpoint`"),
        ("kind = \"embedded\"\nbase-url = \"https://h\"", "unknown field `base-url`"),
        (
            "kind = \"helloid\"\nbase-url = \"nope\"\napi-key = \"k\"\napi-secret = \"s\"",
            "`base-url` = \"nope\" is not a URL",
        ),
        (
            "kind = \"helloid\"\nbase-url = \"https://h\"\napi-key = \"k\"\napi-secret = \"env:PROVHOST_TEST_UNSET_VARIABLE\"",
            "tenants.t.backend: `api-secret`: the environment variable PROVHOST_TEST_UNSET_VARIABLE is not set",
        ),
        (
            "kind = \"identityiq\"\nbase-url = \"https://i\"\nusername = \"u\"\ntoken = \"t\"",
            "set either `username` and `password`, or `token`",
        ),
        (
            "kind = \"identityiq\"\nbase-url = \"https://i\"\ntoken = \"t\"\nhttp = { breaker-failures = 0 }",
            "`http.breaker-failures` must be at least 1",
        ),
        (
            "kind = \"identityiq\"\nbase-url = \"https://i\"\ntoken = \"t\"\nworkflow = \"x\"",
            "unknown field `workflow`",
        ),
    ];
    for (text, expected) in cases {
        let err = backend(text).unwrap_err();
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
    }
}
