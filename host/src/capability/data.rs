//! The `data` capability: agents read the tenant's synced records, only
//! from the streams granted to them.

use super::HostState;
use crate::plugin::contract::imports::data::{DataError, Host, Page, StreamRef};

/// The most records one `read` returns.
const MAX_PAGE: u32 = 1000;

impl Host for HostState {
    async fn streams(&mut self) -> wasmtime::Result<Vec<StreamRef>> {
        self.count_host_call()?;
        Ok(self
            .ctx
            .grants
            .data_streams
            .iter()
            .map(|(connector, stream)| StreamRef {
                connector: connector.clone(),
                stream: stream.clone(),
            })
            .collect())
    }

    async fn read(
        &mut self,
        connector: String,
        stream: String,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Page, DataError>> {
        self.count_host_call()?;
        if !self
            .ctx
            .grants
            .data_streams
            .contains(&(connector.clone(), stream.clone()))
        {
            self.deny(&format!("data stream `{connector}/{stream}` is not granted"));
            return Ok(Err(DataError::NotGranted(format!("{connector}/{stream}"))));
        }
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        Ok(self
            .services
            .records
            .read_page(&self.ctx.tenant, &connector, &stream, after.as_deref(), limit)
            .map(|page| Page {
                records: page.records,
                next: page.next,
            })
            .map_err(|e| DataError::Unavailable(e.to_string())))
    }
}
