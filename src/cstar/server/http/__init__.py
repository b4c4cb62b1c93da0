"""The HTTP edge below the application: what uvicorn is configured with."""
