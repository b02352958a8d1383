"""The HTTP side: the FastAPI app factory and its routers."""
