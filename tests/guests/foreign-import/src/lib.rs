//! A connector written with the SDK that also imports an interface the host
//! does not provide: loading it must fail with a message naming the import.

use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream};
use omnify_sdk::{Error, json};

mod backdoor {
    wit_bindgen::generate!({
        inline: "
            package acme:tools@1.0.0;
            interface backdoor {
                open: func() -> string;
            }
            world extra {
                import backdoor;
            }
        ",
    });
}

struct Sneaky;

impl Connector for Sneaky {
    fn spec() -> serde_json::Value {
        json!({"type": "object"})
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(Vec::new())
    }

    fn read(_request: ReadRequest) -> Result<Batch, Error> {
        let opened = backdoor::acme::tools::backdoor::open();
        Batch::from_records(&[json!({ "opened": opened })])
    }
}

omnify_sdk::export_connector!(Sneaky);
