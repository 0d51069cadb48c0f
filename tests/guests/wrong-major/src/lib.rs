//! A connector built against a contract version 2.0.0 that the host does not
//! support: loading it must fail with a message naming the version.

wit_bindgen::generate!({
    inline: "
        package omnify:plugin@2.0.0;
        interface connector-api {
            spec: func() -> string;
        }
        world connector {
            export connector-api;
        }
    ",
});

struct Future;

impl exports::omnify::plugin::connector_api::Guest for Future {
    fn spec() -> String {
        "{}".to_string()
    }
}

export!(Future);
