//! RPCs that later issues implement: each answers `UNIMPLEMENTED` (after authentication), never fake data.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Response, Status};

use super::error::ApiError;

pub(super) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub(super) fn pending<T>(rpc: &'static str) -> Result<Response<T>, Status> {
    Err(ApiError::Unimplemented { rpc }.into())
}
