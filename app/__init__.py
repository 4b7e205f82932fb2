"""What people touch: the `rag` command line and the Streamlit web chat."""

import llm as _llm  # noqa: F401  - sets how OpenMP threads wait before torch or llama.cpp loads (llm.cpu_threads)
