"""HTTP routers, one per concern: api (models, predict), pages, health."""
