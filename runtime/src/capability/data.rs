//! The `data` capability: agents read the tenant's synced records, only
//! from the streams granted to them.

use super::HostState;
use crate::plugin::contract::imports::data::{DataError, Host, Page, StreamRef};

/// The most records one `read` returns.
const MAX_PAGE: u32 = 1000;

/// The most bytes of records one `read` returns (at least one record).
const MAX_PAGE_BYTES: usize = 4 << 20;

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
        let (records, tenant) = (self.services.records.clone(), self.ctx.tenant.clone());
        // Reading the store can wait on the disk: off the async workers.
        let page = tokio::task::spawn_blocking(move || {
            records.read_page(
                &tenant,
                &connector,
                &stream,
                after.as_deref(),
                limit,
                MAX_PAGE_BYTES,
            )
        })
        .await
        .map_err(|e| DataError::Unavailable(e.to_string()))
        .and_then(|page| page.map_err(|e| DataError::Unavailable(e.to_string())));
        Ok(page.map(|page| Page {
            records: page.records,
            next: page.next,
        }))
    }
}
