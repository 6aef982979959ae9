"""Models: the embedded LLaVA-architecture MLLM (built offline), real checkpoints by path, token
sequences for any processor, and how answers and class-token probabilities are read off a model."""
