//! Container runtime adapter: Docker Engine API and docker compose.
