//! Sentence embeddings with candle.
