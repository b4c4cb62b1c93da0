"""The HTTP edge below the application: what uvicorn is configured with (its protocol with
read timeouts and a connection cap, trusted proxies) and the request body's deadline."""
