//! The type of every server-streaming answer.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::Status;

pub(super) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;
