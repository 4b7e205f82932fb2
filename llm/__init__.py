"""The Llama 2 chat engine: chat format, engines (llama.cpp, OpenAI-compatible HTTP, transformers), server."""
