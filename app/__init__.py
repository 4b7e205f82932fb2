"""What people touch: the `rag` command line and the Streamlit web chat."""
