"""Models: the embedded LLaVA-architecture MLLM (built offline) and real checkpoints by path."""
