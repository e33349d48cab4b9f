//! The server's model: one worker thread owns the [`Embedder`] and takes
//! texts from a queue. Whatever requests are waiting when it becomes free
//! are embedded together in one call, which the embedder splits into
//! batches by its token budget, so many clients searching at once share
//! model runs instead of queueing one text at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{ApiError, MAX_QUEUED_TEXTS};
use crate::embed::{Embedder, EmbedderOptions};
use crate::recommend::TextEmbedder;
use crate::store::{Library, ModelInfo};
use crate::{Error, Result};

/// Most texts embedded in one call of the worker.
const MAX_TEXTS_PER_RUN: usize = 256;

type Reply = std::result::Result<Vec<Vec<f32>>, String>;

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Reply>,
}

/// A handle on the embedding worker; cheap to share.
pub struct EmbedQueue {
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
}

impl EmbedQueue {
    /// Loads the model on a new worker thread and checks that it is
    /// `library`'s model. Returns the queue and the model's id.
    pub fn start(options: EmbedderOptions, library: &Library) -> Result<(EmbedQueue, String)> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(String, ModelInfo)>>();
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let worker_queued = queued.clone();
        std::thread::Builder::new()
            .name("relate-embed".into())
            .spawn(move || {
                let embedder = match Embedder::load(options).and_then(|e| {
                    let info = ModelInfo {
                        id: e.model_id(),
                        dim: e.dim(),
                        fingerprint: Some(e.fingerprint()?),
                    };
                    Ok((e, info))
                }) {
                    Ok((embedder, info)) => {
                        let _ = ready_tx.send(Ok((embedder.model_id(), info)));
                        embedder
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                work(&embedder, &job_rx, &worker_queued);
            })
            .map_err(|e| Error::Compute(format!("cannot start the model thread: {e}")))?;
        let (model_id, info) = ready_rx
            .recv()
            .map_err(|_| Error::Compute("the model thread stopped while loading".into()))??;
        library.check_model(&info)?;
        Ok((EmbedQueue { jobs, queued }, model_id))
    }

    /// Queues `texts`, or refuses them with 503 when too many are waiting.
    fn submit(
        &self,
        texts: Vec<String>,
    ) -> std::result::Result<oneshot::Receiver<Reply>, ApiError> {
        let n = texts.len();
        let before = self.queued.fetch_add(n, Ordering::SeqCst);
        if before + n > MAX_QUEUED_TEXTS {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(ApiError::not_ready(format!(
                "{before} texts are waiting for the model; retry in a moment"
            )));
        }
        let (reply, rx) = oneshot::channel();
        if self.jobs.send(Job { texts, reply }).is_err() {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(ApiError::internal("the model thread has stopped"));
        }
        Ok(rx)
    }

    /// Embeds `texts`; the i-th vector belongs to the i-th text.
    pub async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, ApiError> {
        let rx = self.submit(texts)?;
        match rx.await {
            Ok(Ok(vectors)) => Ok(vectors),
            Ok(Err(message)) => Err(ApiError::internal(message)),
            Err(_) => Err(ApiError::internal("the model thread has stopped")),
        }
    }

    /// [`EmbedQueue::embed`] for code on a blocking thread.
    pub fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let rx = self
            .submit(texts)
            .map_err(|e| Error::Compute(e.message().to_string()))?;
        match rx.blocking_recv() {
            Ok(Ok(vectors)) => Ok(vectors),
            Ok(Err(message)) => Err(Error::Compute(message)),
            Err(_) => Err(Error::Compute("the model thread has stopped".into())),
        }
    }
}

impl TextEmbedder for EmbedQueue {
    fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.embed_blocking(texts.to_vec())
    }
}

/// The worker: takes every job waiting (up to [`MAX_TEXTS_PER_RUN`] texts)
/// and embeds their texts in one call.
fn work(embedder: &Embedder, jobs: &mpsc::Receiver<Job>, queued: &AtomicUsize) {
    while let Ok(first) = jobs.recv() {
        let mut run = vec![first];
        let mut count = run[0].texts.len();
        while count < MAX_TEXTS_PER_RUN {
            match jobs.try_recv() {
                Ok(job) => {
                    count += job.texts.len();
                    run.push(job);
                }
                Err(_) => break,
            }
        }
        let texts: Vec<&str> = run
            .iter()
            .flat_map(|j| j.texts.iter().map(String::as_str))
            .collect();
        let result = embedder.embed(&texts);
        queued.fetch_sub(count, Ordering::SeqCst);
        match result {
            Ok(embedded) => {
                let mut vectors = embedded.vectors.into_iter();
                for job in run {
                    let mine: Vec<Vec<f32>> = vectors.by_ref().take(job.texts.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in run {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
}
