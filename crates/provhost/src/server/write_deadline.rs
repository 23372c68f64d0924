//! A deadline on writing to a connection: a client that stops reading its answer (so that its
//! socket's buffers fill and a write cannot go on) is cut off once a write has made no progress
//! for the deadline, and whatever the answer held — its body, its place in the tenant's share —
//! is let go.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A connection whose writes fail once one has been stuck for `deadline`.
pub struct WriteDeadline<S> {
    inner: S,
    deadline: Duration,
    stuck: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    /// `inner`, with writes cut off after `deadline` without progress.
    pub fn new(inner: S, deadline: Duration) -> Self {
        Self { inner, deadline, stuck: None }
    }

    /// What a write that returned `poll` comes to: progress clears the clock, a write that
    /// cannot go on starts it (or fails once it ran out).
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stuck = None;
            return poll;
        }
        let deadline = self.deadline;
        let stuck = self.stuck.get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
        match stuck.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing of its answer for {} ms", deadline.as_millis()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_the_peer_does_not_read_fails_after_the_deadline_and_one_it_reads_does_not() {
        let (near, unread) = tokio::io::duplex(1024);
        let mut near = WriteDeadline::new(near, Duration::from_millis(100));
        near.write_all(&[0; 1024]).await.unwrap();
        let stuck = near.write_all(&[0; 1024]).await.unwrap_err();
        assert_eq!(stuck.kind(), io::ErrorKind::TimedOut, "{stuck}");
        assert!(stuck.to_string().contains("read nothing of its answer for 100 ms"), "{stuck}");

        let (near, mut far) = tokio::io::duplex(1024);
        let mut near = WriteDeadline::new(near, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut far, &mut all).await.map(|_| all.len())
        });
        near.write_all(&vec![0; 64 * 1024]).await.unwrap();
        near.shutdown().await.unwrap();
        drop(near);
        assert_eq!(reader.await.unwrap().unwrap(), 64 * 1024, "a reading peer gets it all");
        drop(unread);
    }
}
